-- One row per move a project made from one entered stage to the next, with the days it took.
--
-- Incremental: the moves of projects with a report loaded since the last run are rebuilt from
-- all of their stage entries and replace that project's previous moves (delete+insert on
-- project_key); nothing here depends on the reference date.
{{
    config(
        materialized='incremental',
        unique_key='project_key',
    )
}}

with

all_projects as (
    select project_key, city_code, domain_code, technology_code, last_load_id
    from {{ ref('int_projects_staged_through_lifecycle') }}
),

{% if is_incremental() %}
projects as (
    select *
    from all_projects
    where last_load_id > ({{ high_water_mark('last_load_id') }})
),

stage_entries as (
    select entries.*
    from {{ ref('int_project_stages_entered') }} as entries
    inner join projects on entries.project_key = projects.project_key
),
{% else %}
projects as (
    select * from all_projects
),

stage_entries as (
    select * from {{ ref('int_project_stages_entered') }}
),
{% endif %}

paired as (
    select
        project_key,
        stage_code as from_stage,
        stage_order as from_stage_order,
        entered_on as from_entered_on,
        lead(stage_code) over (partition by project_key order by stage_order) as to_stage,
        lead(stage_order) over (partition by project_key order by stage_order) as to_stage_order,
        lead(entered_on) over (partition by project_key order by stage_order) as to_entered_on
    from stage_entries
),

final as (
    -- casts to the contract's types where PostgreSQL infers text: an incremental run compares
    -- the new rows' types with the table's (on_schema_change='fail')
    select
        cast(paired.project_key || ':' || paired.from_stage || '>' || paired.to_stage as varchar)
            as transition_key,
        cast(paired.project_key as varchar) as project_key,
        projects.city_code,
        cast(projects.domain_code as varchar) as domain_code,
        cast(projects.technology_code as varchar) as technology_code,
        paired.from_stage,
        paired.to_stage,
        paired.from_entered_on,
        paired.to_entered_on,
        -- dbt.datediff renders longer than the line that calls it (LT05 measures the render)
        cast({{ dbt.datediff('paired.from_entered_on', 'paired.to_entered_on', 'day') }} as integer)  -- noqa: LT05
            as days_taken,
        paired.to_stage_order - paired.from_stage_order > 1 as skipped_stages,
        projects.last_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from paired
    inner join projects on paired.project_key = projects.project_key
    where paired.to_stage is not null
)

select * from final
