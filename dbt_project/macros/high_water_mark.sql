{#- The newest load already processed by this incremental model: rows loaded after it are
    new. Portable between DuckDB and PostgreSQL. -#}
{% macro high_water_mark(column) -%}
    select coalesce(max({{ column }}), cast('1900-01-01 00:00:00' as timestamp)) from {{ this }}
{%- endmacro %}
