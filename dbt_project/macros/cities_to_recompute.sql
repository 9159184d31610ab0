{#- The cities an incremental mart kept per city recomputes: those with a project
    fct_project_lifecycle rewrote since the mart was last built and, for a mart that counts
    capabilities too, those with a capability loaded since (by the load number the mart keeps
    in capabilities_load_id: see capabilities_load_id()). Every row of such a mart is one
    city's, so recomputing these cities from all of their projects gives the rows a full
    rebuild gives. -#}
{% macro cities_to_recompute(capabilities=false) -%}
    select city_code
    from {{ ref('fct_project_lifecycle') }}
    where dbt_run_seq > ({{ high_water_mark('dbt_run_seq') }})
    {%- if capabilities %}
    union
    select city_code
    from {{ ref('stg_raw__capabilities') }}
    where load_id > ({{ high_water_mark('capabilities_load_id') }})
    {%- endif %}
{%- endmacro %}

{#- The highest load number among the capabilities staged now, kept on every row a run writes
    (capabilities_load_id) so that the next run finds the capabilities loaded after it. -#}
{% macro capabilities_load_id() -%}
    cast((select coalesce(max(load_id), 0) from {{ ref('stg_raw__capabilities') }}) as bigint)
{%- endmacro %}
