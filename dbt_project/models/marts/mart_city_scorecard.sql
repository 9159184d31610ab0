-- City scorecard for the tracking-and-evaluation work (跟踪评估): per city and period (all
-- time, year, quarter, month), for the projects whose opportunity was published in the period
-- (their cohort): how many reached each stage, the conversion between stages, the cooperation
-- amount, median and p90 days per step, and how many are stalled. Capabilities count in the
-- period they were published. Failures and withdrawals are counted apart (容错) and only weigh
-- on the conversion of a stage the project reached, never of one it never entered.
--
-- Incremental (delete+insert on city_code): every row is one city's, so a run recomputes the
-- cities with a project rewritten or a capability loaded since this mart was last built
-- (cities_to_recompute), from all of those cities' projects and capabilities — exact medians
-- and p90 included — and leaves the other cities' rows as they are. A changed seed or model
-- makes the pipeline's next build a full refresh (scenetrack.pipeline.dbt_project_fingerprint).
{{
    config(
        materialized='incremental',
        unique_key='city_code',
    )
}}
with

{% if is_incremental() -%}
recomputed as (
    {{ cities_to_recompute(capabilities=true) }}
),

{% endif -%}
projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    {%- if is_incremental() %}
    where city_code in (select recomputed.city_code from recomputed)
    {%- endif %}
),

capabilities as (
    select * from {{ ref('stg_raw__capabilities') }}
    {%- if is_incremental() %}
    where city_code in (select recomputed.city_code from recomputed)
    {%- endif %}
),

cities as (
    select * from {{ ref('dim_city') }}
),

project_periods as (
    select projects.*, {{ period_starts('cohort_date') }}
    from projects
),

project_rollup as (
    select
        city_code,
        {{ period_of_group() }},
        count(opportunity_entered_on) as opportunities_published,
        count(validation_entered_on) as projects_reached_validation,
        count(application_entered_on) as projects_reached_application,
        count(scale_up_entered_on) as projects_reached_scale_up,
        sum(case when status = 'terminated_failed' then 1 else 0 end) as projects_failed,
        sum(case when status = 'terminated_withdrawn' then 1 else 0 end) as projects_withdrawn,
        sum(case when is_stalled then 1 else 0 end) as projects_stalled,
        sum(case when opportunity_entered_on is not null and validation_entered_on is not null
            then 1 else 0 end) as opportunity_to_validation,
        sum(case when validation_entered_on is not null and application_entered_on is not null
            then 1 else 0 end) as validation_to_application,
        sum(case when application_entered_on is not null and scale_up_entered_on is not null
            then 1 else 0 end) as application_to_scale_up,
        sum(cooperation_amount_yuan) as cooperation_amount_yuan,
        {{ percentile('days_opportunity_to_validation', 0.5, [0.5, 0.9]) }}
            as median_days_opportunity_to_validation,
        {{ percentile('days_validation_to_application', 0.5, [0.5, 0.9]) }}
            as median_days_validation_to_application,
        {{ percentile('days_application_to_scale_up', 0.5, [0.5, 0.9]) }}
            as median_days_application_to_scale_up,
        {{ percentile('days_opportunity_to_validation', 0.9, [0.5, 0.9]) }}
            as p90_days_opportunity_to_validation,
        {{ percentile('days_validation_to_application', 0.9, [0.5, 0.9]) }}
            as p90_days_validation_to_application,
        {{ percentile('days_application_to_scale_up', 0.9, [0.5, 0.9]) }}
            as p90_days_application_to_scale_up
    from project_periods
    group by {{ period_grouping_sets('city_code') }}
),

project_figures as (
    select
        project_rollup.*,
        {{ period_label_of('period_type', 'period_start') }} as period_label
    from project_rollup
),

capability_periods as (
    select city_code, {{ period_starts('published_on') }}
    from capabilities
),

capability_rollup as (
    select
        city_code,
        {{ period_of_group() }},
        count(*) as capabilities_published
    from capability_periods
    group by {{ period_grouping_sets('city_code') }}
),

capability_figures as (
    select
        capability_rollup.*,
        {{ period_label_of('period_type', 'period_start') }} as period_label
    from capability_rollup
),

periods as (
    select city_code, period_type, period_label, period_start from project_figures
    union
    select city_code, period_type, period_label, period_start from capability_figures
),

final as (
    select
        periods.city_code,
        cities.name_zh as city_name_zh,
        cities.name_en as city_name_en,
        cities.region,
        cast(periods.period_type as varchar) as period_type,
        cast(periods.period_label as varchar) as period_label,
        periods.period_start,
        cast(coalesce(p.opportunities_published, 0) as bigint) as opportunities_published,
        cast(coalesce(c.capabilities_published, 0) as bigint) as capabilities_published,
        cast(coalesce(p.projects_reached_validation, 0) as bigint) as projects_reached_validation,
        cast(coalesce(p.projects_reached_application, 0) as bigint) as projects_reached_application,
        cast(coalesce(p.projects_reached_scale_up, 0) as bigint) as projects_reached_scale_up,
        cast(coalesce(p.projects_failed, 0) as bigint) as projects_failed,
        cast(coalesce(p.projects_withdrawn, 0) as bigint) as projects_withdrawn,
        cast(coalesce(p.projects_stalled, 0) as bigint) as projects_stalled,
        cast(p.opportunity_to_validation as double precision)
            / nullif(p.opportunities_published, 0) as conversion_opportunity_to_validation,
        cast(p.validation_to_application as double precision)
            / nullif(p.projects_reached_validation, 0) as conversion_validation_to_application,
        cast(p.application_to_scale_up as double precision)
            / nullif(p.projects_reached_application, 0) as conversion_application_to_scale_up,
        cast(coalesce(p.cooperation_amount_yuan, 0) as decimal(20, 2)) as cooperation_amount_yuan,
        cast(round(coalesce(p.cooperation_amount_yuan, 0) / 100000000.0, 4) as decimal(20, 4))
            as cooperation_amount_yi,
        cast(p.median_days_opportunity_to_validation as double precision)
            as median_days_opportunity_to_validation,
        cast(p.median_days_validation_to_application as double precision)
            as median_days_validation_to_application,
        cast(p.median_days_application_to_scale_up as double precision)
            as median_days_application_to_scale_up,
        cast(p.p90_days_opportunity_to_validation as double precision)
            as p90_days_opportunity_to_validation,
        cast(p.p90_days_validation_to_application as double precision)
            as p90_days_validation_to_application,
        cast(p.p90_days_application_to_scale_up as double precision)
            as p90_days_application_to_scale_up,
        {{ capabilities_load_id() }} as capabilities_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from periods
    inner join cities on periods.city_code = cities.city_code
    left join project_figures as p
        on periods.city_code = p.city_code
        and periods.period_type = p.period_type
        and periods.period_label = p.period_label
    left join capability_figures as c
        on periods.city_code = c.city_code
        and periods.period_type = c.period_type
        and periods.period_label = c.period_label
)

select * from final
