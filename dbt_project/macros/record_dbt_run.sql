{#- on-run-start: number every dbt invocation that can write models (build, run) in
    audit.dbt_runs, one above the last. Taken by the one writer of the warehouse (DuckDB
    allows one; the pipeline holds the home's writer lock), so the numbers follow the order
    the runs happened in, whatever the clock says. The table is created by any invocation, so
    `dbt test` and the unit tests can compile models that read it. -#}
{% macro record_dbt_run() -%}
    {%- set statements = [
        "create schema if not exists audit",
        "create table if not exists audit.dbt_runs (run_seq bigint not null primary key, "
        ~ "invocation_id varchar not null unique, command varchar not null, "
        ~ "started_at timestamp not null)",
    ] -%}
    {%- if flags.WHICH in ('build', 'run') -%}
        {%- do statements.append(
            "insert into audit.dbt_runs (run_seq, invocation_id, command, started_at) "
            ~ "select coalesce(max(run_seq), 0) + 1, '" ~ invocation_id ~ "', '"
            ~ flags.WHICH ~ "', " ~ this_run_timestamp() ~ " from audit.dbt_runs"
        ) -%}
    {%- endif -%}
    {{ return(statements | join(";\n")) }}
{%- endmacro %}
