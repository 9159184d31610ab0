-- The funnel opportunity → validation → application → scale_up: projects reaching each stage
-- and the conversion from the previous stage and from opportunity, nationally and by domain,
-- technology, city, region and opportunity cohort (quarter published). Stages and their order
-- come from the lifecycle_stages seed. Projects that failed or were withdrawn at a stage are
-- counted at that stage (容错) and never against a stage they did not enter.
with

stage_entries as (
    select * from {{ ref('int_project_stages_entered') }}
),

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
),

cities as (
    select * from {{ ref('dim_city') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

project_breakdowns as (
    select project_key, 'national' as breakdown, 'all' as breakdown_value from projects
    union all
    select project_key, 'domain', coalesce(domain_code, 'unknown') from projects
    union all
    select project_key, 'technology', coalesce(technology_code, 'unknown') from projects
    union all
    select project_key, 'city', city_code from projects
    union all
    select projects.project_key, 'region', cities.region
    from projects inner join cities on projects.city_code = cities.city_code
    union all
    select project_key, 'cohort_quarter', {{ period_label('quarter', 'cohort_date') }}
    from projects
),

reached as (
    select
        project_breakdowns.breakdown,
        project_breakdowns.breakdown_value,
        stage_entries.stage_code,
        count(*) as projects_reached,
        sum(case when projects.status = 'terminated_failed' and stage_entries.is_current
            then 1 else 0 end) as projects_failed_here,
        sum(case when projects.status = 'terminated_withdrawn' and stage_entries.is_current
            then 1 else 0 end) as projects_withdrawn_here
    from stage_entries
    inner join project_breakdowns on stage_entries.project_key = project_breakdowns.project_key
    inner join projects on stage_entries.project_key = projects.project_key
    group by project_breakdowns.breakdown, project_breakdowns.breakdown_value,
        stage_entries.stage_code
),

grid as (
    -- every stage for every breakdown value, so a stage nobody reached shows 0
    select distinct reached.breakdown, reached.breakdown_value, stages.stage_code,
        stages.stage_order
    from reached
    cross join stages
),

filled as (
    select
        grid.breakdown,
        grid.breakdown_value,
        grid.stage_code,
        grid.stage_order,
        coalesce(reached.projects_reached, 0) as projects_reached,
        coalesce(reached.projects_failed_here, 0) as projects_failed_here,
        coalesce(reached.projects_withdrawn_here, 0) as projects_withdrawn_here
    from grid
    left join reached
        on grid.breakdown = reached.breakdown
        and grid.breakdown_value = reached.breakdown_value
        and grid.stage_code = reached.stage_code
),

final as (
    select
        breakdown,
        breakdown_value,
        stage_code,
        stage_order,
        cast(projects_reached as bigint) as projects_reached,
        cast(projects_failed_here as bigint) as projects_failed_here,
        cast(projects_withdrawn_here as bigint) as projects_withdrawn_here,
        cast(projects_reached as double precision) / nullif(lag(projects_reached) over (
            partition by breakdown, breakdown_value order by stage_order), 0)
            as conversion_from_previous_stage,
        cast(projects_reached as double precision) / nullif(first_value(projects_reached) over (
            partition by breakdown, breakdown_value order by stage_order), 0)
            as conversion_from_opportunity
    from filled
)

select * from final
