{#- The lifecycle rules, each stated once: the models, the post-hook and the unit tests call
    these macros instead of repeating a stage list or a threshold. Portable between DuckDB and
    PostgreSQL. -#}

{#- Days an active project may stay in a stage before it counts as stalled (dbt var
    stalled_after_days); NULL for stages that never stall. -#}
{% macro stalled_after_days(stage_expr) -%}
    case {{ stage_expr }}
    {%- for stage, days in var('stalled_after_days').items() %}
        when '{{ stage }}' then {{ days }}
    {%- endfor %}
    end
{%- endmacro %}
