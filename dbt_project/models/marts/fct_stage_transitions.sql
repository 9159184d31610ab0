-- One row per move a project made from one entered stage to the next, with the days it took.
with

stage_entries as (
    select * from {{ ref('int_project_stages_entered') }}
),

projects as (
    select project_key, city_code, domain_code, technology_code
    from {{ ref('int_projects_staged_through_lifecycle') }}
),

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
    select
        paired.project_key || ':' || paired.from_stage || '>' || paired.to_stage as transition_key,
        paired.project_key,
        projects.city_code,
        projects.domain_code,
        projects.technology_code,
        paired.from_stage,
        paired.to_stage,
        paired.from_entered_on,
        paired.to_entered_on,
        cast({{ dbt.datediff('paired.from_entered_on', 'paired.to_entered_on', 'day') }} as integer)
            as days_taken,
        paired.to_stage_order - paired.from_stage_order > 1 as skipped_stages
    from paired
    inner join projects on paired.project_key = projects.project_key
    where paired.to_stage is not null
)

select * from final
