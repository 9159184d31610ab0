{#- The highest load or run number an incremental model has already processed: rows with a
    higher number are new. Numbers come from sequences (the intake's load_id, a dbt run's
    run_seq: see record_dbt_run), never from a clock, so a process in another time zone or a
    clock set back cannot hide rows. `before` (a number expression) leaves out the rows
    numbered at or above it, e.g. the ones the current run just wrote. Portable between DuckDB
    and PostgreSQL. -#}
{% macro high_water_mark(column, before=none) -%}
    select coalesce(max({{ column }}), 0) from {{ this }}
    {%- if before is not none %} where {{ column }} < {{ before }}{% endif %}
{%- endmacro %}

{#- When this dbt invocation started (UTC, from dbt's run_started_at): for people reading a
    row; ordering uses this_run_seq(). -#}
{% macro this_run_timestamp() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}

{#- The number of this dbt invocation in audit.dbt_runs (see record_dbt_run): the same value in
    every model of a run, higher than every earlier run's, so downstream incremental models
    pick up exactly the rows a run rewrote and pipeline builds test exactly the rows written
    since the last passing build. NULL in an invocation that writes no model (dbt test). -#}
{% macro this_run_seq() -%}
    (select run_seq from audit.dbt_runs where invocation_id = '{{ invocation_id }}')
{%- endmacro %}
