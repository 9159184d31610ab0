{#- The newest load already processed by this incremental model: rows loaded after it are
    new. `before` (a timestamp expression) leaves out the rows stamped at or after it, e.g. the
    ones the current run just wrote. Portable between DuckDB and PostgreSQL. -#}
{% macro high_water_mark(column, before=none) -%}
    select coalesce(max({{ column }}), cast('1900-01-01 00:00:00' as timestamp)) from {{ this }}
    {%- if before is not none %} where {{ column }} < {{ before }}{% endif %}
{%- endmacro %}

{#- When this dbt invocation started, as a timestamp: the same value in every model of a run,
    so downstream incremental models can pick up exactly the rows a run rewrote. -#}
{% macro this_run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}
