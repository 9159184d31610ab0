{#- Period helpers for city x period marts, portable between DuckDB and PostgreSQL. -#}

{% macro period_start(grain, date_expr) -%}
    cast(date_trunc('{{ grain }}', {{ date_expr }}) as date)
{%- endmacro %}

{% macro period_label(grain, date_expr) -%}
    {%- if grain == 'year' -%}
        cast(cast(extract(year from {{ date_expr }}) as integer) as varchar)
    {%- elif grain == 'quarter' -%}
        cast(cast(extract(year from {{ date_expr }}) as integer) as varchar)
        || '-Q' || cast(cast(extract(quarter from {{ date_expr }}) as integer) as varchar)
    {%- elif grain == 'month' -%}
        cast(cast(extract(year from {{ date_expr }}) as integer) as varchar)
        || '-' || lpad(cast(cast(extract(month from {{ date_expr }}) as integer) as varchar), 2, '0')
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown period grain " ~ grain) }}
    {%- endif -%}
{%- endmacro %}

{#- One copy of every row per period grain (all, year, quarter, month), keyed by the date
    column the period follows. -#}
{% macro explode_periods(relation, date_column, columns) -%}
    select {{ columns }}, 'all' as period_type, 'all' as period_label,
        cast(null as date) as period_start
    from {{ relation }}
    {% for grain in ['year', 'quarter', 'month'] %}
    union all
    select {{ columns }}, '{{ grain }}' as period_type,
        {{ period_label(grain, date_column) }} as period_label,
        {{ period_start(grain, date_column) }} as period_start
    from {{ relation }}
    {% endfor %}
{%- endmacro %}

{#- Days an active project may stay in a stage before it counts as stalled (dbt var
    stalled_after_days); NULL for stages that never stall. -#}
{% macro stalled_after_days(stage_expr) -%}
    case {{ stage_expr }}
    {%- for stage, days in var('stalled_after_days').items() %}
        when '{{ stage }}' then {{ days }}
    {%- endfor %}
    end
{%- endmacro %}
