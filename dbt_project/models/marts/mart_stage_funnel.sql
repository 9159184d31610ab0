-- The funnel opportunity → validation → application → scale_up: projects reaching each stage
-- and the conversion from the previous stage and from opportunity, nationally and by domain,
-- technology, city, region and opportunity cohort (quarter published). Stages and their order
-- come from the lifecycle_stages seed. Projects that failed or were withdrawn at a stage are
-- counted at that stage (容错) and never against a stage they did not enter.
--
-- Read from fct_project_lifecycle alone (one row per project, a date per stage entered) in
-- one GROUPING SETS pass, so the cost follows the number of projects, not of stage entries.
{% set stage_codes = lifecycle_stage_codes() %}

with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
),

cities as (
    select * from {{ ref('dim_city') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

staged_projects as (
    -- projects that entered at least one stage, with every attribute the funnel breaks down
    -- by (the inner join on cities drops nothing: fct_project_lifecycle's relationships test
    -- guarantees every city_code is in dim_city)
    select
        coalesce(projects.domain_code, 'unknown') as domain_code,
        coalesce(projects.technology_code, 'unknown') as technology_code,
        projects.city_code,
        cities.region,
        {{ period_start('quarter', 'projects.cohort_date') }} as cohort_quarter_start,
        projects.current_stage,
        projects.status,
        {%- for s in stage_codes %}
        projects.{{ s }}_entered_on{{ "," if not loop.last }}
        {%- endfor %}
    from projects
    inner join cities on projects.city_code = cities.city_code
    where coalesce(
        {%- for s in stage_codes %}
        projects.{{ s }}_entered_on{{ "," if not loop.last }}
        {%- endfor %}
    ) is not null
),

rolled_up as (
    -- per breakdown value: projects that entered each stage, and those that failed or were
    -- withdrawn there (it was the furthest stage they entered)
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
        {%- for s in stage_codes %}
        count({{ s }}_entered_on) as reached_{{ s }},
        sum(case when status = 'terminated_failed' and current_stage = '{{ s }}'
            and {{ s }}_entered_on is not null then 1 else 0 end) as failed_{{ s }},
        sum(case when status = 'terminated_withdrawn' and current_stage = '{{ s }}'
            and {{ s }}_entered_on is not null then 1 else 0 end) as withdrawn_{{ s }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from staged_projects
    group by grouping sets (
        (),
        (domain_code),
        (technology_code),
        (city_code),
        (region),
        (cohort_quarter_start)
    )
),

filled as (
    -- one row per breakdown value and stage of the seed; a stage nobody reached shows 0
    select
        rolled_up.breakdown,
        case rolled_up.breakdown
            when 'national' then 'all'
            when 'domain' then rolled_up.domain_code
            when 'technology' then rolled_up.technology_code
            when 'city' then rolled_up.city_code
            when 'region' then rolled_up.region
            else {{ period_label('quarter', 'rolled_up.cohort_quarter_start') }}
        end as breakdown_value,
        stages.stage_code,
        stages.stage_order,
        {%- for measure in ['reached', 'failed', 'withdrawn'] %}
        coalesce(case stages.stage_code
            {%- for s in stage_codes %}
            when '{{ s }}' then rolled_up.{{ measure }}_{{ s }}
            {%- endfor %}
        end, 0) as projects_{{ measure }}{{ '_here' if measure != 'reached' }}
        {{- "," if not loop.last }}
        {%- endfor %}
    from rolled_up
    cross join stages
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
