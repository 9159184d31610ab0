{#- Post-hook of mart_stalled_projects: remove the projects that are no longer stalled.

    A project only stops being stalled when fct_project_lifecycle rewrites its row (a new
    report, a new reference date and a changed threshold all rewrite it), so only the rows
    fct_project_lifecycle rewrote after the previous run that wrote this mart are looked at,
    not the whole fact. That run's number is bounded from below by the highest number in this
    mart below the current run's (the current run's rows carry its own); a lower bound only
    looks at more rows, and an empty mart looks at every row. -#}
{% macro remove_projects_no_longer_stalled() -%}
    delete from {{ this }}
    where project_key in (
        select project_key
        from {{ ref('fct_project_lifecycle') }}
        where not is_stalled
            and dbt_run_seq > (
                {{ high_water_mark('dbt_run_seq', before=this_run_seq()) }}
            )
    )
{%- endmacro %}
