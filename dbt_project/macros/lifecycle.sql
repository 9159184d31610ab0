{#- The lifecycle rules, each stated once: the models, the post-hook and the unit tests call
    these macros instead of repeating a stage list or a threshold. Portable between DuckDB and
    PostgreSQL. -#}

{#- The lifecycle stage codes in their order (stage_order), read from the lifecycle_stages
    seed: the models that need a column or a branch per stage (a date per stage entered, the
    funnel's per-stage counts) loop over this list, so a stage added to the seed reaches them
    all and none repeats the list. The query runs when a model is compiled for execution; the
    seed is a parent of every model that calls this (a `ref` or a `-- depends_on:` comment),
    or an ancestor's), so it is built first. The relation is found through the graph rather
    than `ref`: in a dbt unit test `ref` names the test's fixture, which is no table to query,
    and the stage list is part of the model's shape, not of a test's rows. A unit test compiles
    without the graph: then the seed's table is looked up in the schema dbt_project.yml gives
    seeds (main). At parse time (nothing executes) the list is empty. -#}
{% macro lifecycle_stage_codes() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set seed = graph.get('nodes', {}).get('seed.' ~ project_name ~ '.lifecycle_stages') -%}
    {%- if seed -%}
        {%- set relation = api.Relation.create(
            database=seed.database, schema=seed.schema, identifier=seed.alias) -%}
    {%- else -%}
        {%- set relation = adapter.get_relation(
            database=target.database, schema='main', identifier='lifecycle_stages') -%}
    {%- endif -%}
    {%- set stages = run_query(
        'select stage_code from ' ~ relation ~ ' order by stage_order') -%}
    {{ return(stages.columns[0].values() | list) }}
{%- endmacro %}

{#- The stalled rule: an active project is stalled when it has stayed in its current stage
    longer than that stage's threshold (stalled_after_days below); a stage without one never
    stalls, and NULL days (no stage entered) are not stalled. fct_project_lifecycle states it
    (is_stalled) and finds its rows measured by another rule; mart_stalled_projects and its
    post-hook read that column, never the rule. -#}
{% macro is_stalled(status_expr, days_expr, stage_expr) -%}
    coalesce(
        {{ status_expr }} = 'active' and {{ days_expr }} > {{ stalled_after_days(stage_expr) }},
        false
    )
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
