{#- Post-hook of an incremental mart keyed by project_key and fed from fct_project_lifecycle:
    remove the projects that no longer belong in it (`condition`, over the fact's columns: a
    stalled project that moved on, a project whose city no longer names a technology, a
    terminated project reported active again).

    A delete+insert run only replaces the projects it writes rows for, so one that leaves the
    mart would keep its old rows. A project only changes when fct_project_lifecycle rewrites
    its row (a new report, a new reference date and a changed threshold all rewrite it), so
    only the rows fct_project_lifecycle rewrote after the previous run that wrote this mart are
    looked at, not the whole fact. That run's number is bounded from below by the highest
    number in this mart below the current run's (the current run's rows carry its own); a
    lower bound only looks at more rows, and an empty mart looks at every row. -#}
{% macro remove_rewritten_projects(condition) -%}
    delete from {{ this }}
    where project_key in (
        select project_key
        from {{ ref('fct_project_lifecycle') }}
        where ({{ condition }})
            and dbt_run_seq > (
                {{ high_water_mark('dbt_run_seq', before=this_run_seq()) }}
            )
    )
{%- endmacro %}
