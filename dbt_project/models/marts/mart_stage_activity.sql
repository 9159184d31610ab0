-- The activity view: how many projects ENTERED each stage in each month, quarter and year
-- (and how many failed or were withdrawn there), per city, domain and technology. It answers
-- "how many projects reached application in 2025 / this quarter", which the scorecard's
-- cohort view (a project counts in the period its opportunity was published) cannot: a 2025
-- application of a 2024 opportunity counts in 2025 here and in 2024 there. Counts are
-- additive over cities, domains and technologies, so any slice (a region, a domain) is the
-- sum of its rows.
--
-- Read from fct_project_lifecycle alone (a date per stage entered, the termination date), one
-- row per project and stage entered plus one per termination, grouped in one GROUPING SETS
-- pass. The opportunity-list batch is a key ('none' for projects no numbered list published),
-- and the planned investment a list stated counts on the row of the first stage (publication).
--
-- Incremental (delete+insert on city_code): every row is one city's, so a run recomputes the
-- cities with a project fct_project_lifecycle rewrote since this mart was last built, from all
-- of those cities' projects, and leaves the other cities' rows as they are. A changed seed
-- makes the pipeline's next build a full refresh (scenetrack.pipeline.dbt_project_fingerprint).
{{
    config(
        materialized='incremental',
        unique_key='city_code',
    )
}}
{% set stage_codes = lifecycle_stage_codes() %}

with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    {%- if is_incremental() %}
    where city_code in ({{ cities_to_recompute() }})
    {%- endif %}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

happenings as (
    -- one row per project and stage entered ...
    {%- for s in stage_codes %}
    select
        city_code,
        coalesce(domain_code, 'unknown') as domain_code,
        coalesce(technology_code, 'unknown') as technology_code,
        '{{ s }}' as stage_code,
        {{ s }}_entered_on as happened_on,
        coalesce(opportunity_batch, 'none') as batch_code,
        1 as entered,
        0 as failed,
        0 as withdrawn,
        cooperation_amount_yuan,
        {% if loop.first -%}
            planned_investment_yuan
        {%- else -%}
            null as planned_investment_yuan
        {%- endif %}
    from projects
    where {{ s }}_entered_on is not null
    union all
    {%- endfor %}
    -- ... and one per termination, at the stage the project ended in
    select
        city_code,
        coalesce(domain_code, 'unknown') as domain_code,
        coalesce(technology_code, 'unknown') as technology_code,
        current_stage as stage_code,
        terminated_on as happened_on,
        coalesce(opportunity_batch, 'none') as batch_code,
        0 as entered,
        case when status = 'terminated_failed' then 1 else 0 end as failed,
        case when status = 'terminated_withdrawn' then 1 else 0 end as withdrawn,
        null as cooperation_amount_yuan,
        null as planned_investment_yuan
    from projects
    where terminated_on is not null and status <> 'active' and current_stage is not null
),

dated as (
    select happenings.*, {{ period_starts('happened_on') }}
    from happenings
),

rolled_up as (
    select
        city_code,
        domain_code,
        technology_code,
        stage_code,
        batch_code,
        {{ period_of_group() }},
        sum(entered) as projects_entered,
        sum(failed) as projects_failed,
        sum(withdrawn) as projects_withdrawn,
        sum(case when entered = 1 then cooperation_amount_yuan end) as cooperation_amount_yuan,
        sum(planned_investment_yuan) as planned_investment_yuan
    from dated
    group by grouping sets (
        (city_code, domain_code, technology_code, stage_code, batch_code, year_start),
        (city_code, domain_code, technology_code, stage_code, batch_code, quarter_start),
        (city_code, domain_code, technology_code, stage_code, batch_code, month_start)
    )
),

final as (
    select
        cast(rolled_up.period_type as varchar) as period_type,
        cast({{ period_label_of('rolled_up.period_type', 'rolled_up.period_start') }} as varchar)
            as period_label,
        rolled_up.period_start,
        rolled_up.city_code,
        cast(rolled_up.domain_code as varchar) as domain_code,
        cast(rolled_up.technology_code as varchar) as technology_code,
        cast(rolled_up.stage_code as varchar) as stage_code,
        stages.stage_order,
        cast(rolled_up.batch_code as varchar) as batch_code,
        cast(rolled_up.projects_entered as bigint) as projects_entered,
        cast(rolled_up.projects_failed as bigint) as projects_failed,
        cast(rolled_up.projects_withdrawn as bigint) as projects_withdrawn,
        cast(coalesce(rolled_up.cooperation_amount_yuan, 0) as decimal(20, 2))
            as cooperation_amount_yuan,
        cast(coalesce(rolled_up.planned_investment_yuan, 0) as decimal(20, 2))
            as planned_investment_yuan,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from rolled_up
    inner join stages on rolled_up.stage_code = stages.stage_code
)

select * from final
