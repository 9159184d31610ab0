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

entries as (
    -- one row per project per stage entered, with every attribute the funnel breaks down by
    -- (the inner join on cities drops nothing: fct_project_lifecycle's relationships test
    -- guarantees every city_code is in dim_city)
    select
        stage_entries.stage_code,
        coalesce(projects.domain_code, 'unknown') as domain_code,
        coalesce(projects.technology_code, 'unknown') as technology_code,
        projects.city_code,
        cities.region,
        {{ period_start('quarter', 'projects.cohort_date') }} as cohort_quarter_start,
        case when projects.status = 'terminated_failed' and stage_entries.is_current
            then 1 else 0 end as failed_here,
        case when projects.status = 'terminated_withdrawn' and stage_entries.is_current
            then 1 else 0 end as withdrawn_here
    from stage_entries
    inner join projects on stage_entries.project_key = projects.project_key
    inner join cities on projects.city_code = cities.city_code
),

rolled_up as (
    -- every breakdown in one pass over the entries (GROUPING SETS), not one pass each
    select
        case
            when grouping(domain_code) = 0 then 'domain'
            when grouping(technology_code) = 0 then 'technology'
            when grouping(city_code) = 0 then 'city'
            when grouping(region) = 0 then 'region'
            when grouping(cohort_quarter_start) = 0 then 'cohort_quarter'
            else 'national'
        end as breakdown,
        domain_code,
        technology_code,
        city_code,
        region,
        cohort_quarter_start,
        stage_code,
        count(*) as projects_reached,
        sum(failed_here) as projects_failed_here,
        sum(withdrawn_here) as projects_withdrawn_here
    from entries
    group by grouping sets (
        (stage_code),
        (domain_code, stage_code),
        (technology_code, stage_code),
        (city_code, stage_code),
        (region, stage_code),
        (cohort_quarter_start, stage_code)
    )
),

reached as (
    select
        breakdown,
        case breakdown
            when 'national' then 'all'
            when 'domain' then domain_code
            when 'technology' then technology_code
            when 'city' then city_code
            when 'region' then region
            else {{ period_label('quarter', 'cohort_quarter_start') }}
        end as breakdown_value,
        stage_code,
        projects_reached,
        projects_failed_here,
        projects_withdrawn_here
    from rolled_up
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
