-- City scorecard for the tracking-and-evaluation work (跟踪评估): per city, for all time and
-- per cohort year (the year a project's opportunity was published), how many projects reached
-- each stage, the conversion between stages, the cooperation amount and the median days per
-- step. Failures and withdrawals are counted apart (容错) and only lower the conversion of the
-- stage they reached, never of one they never entered.
with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
),

capabilities as (
    select * from {{ ref('stg_raw__capabilities') }}
),

cities as (
    select * from {{ ref('dim_city') }}
),

project_periods as (
    select projects.*, 'all' as period_type, 'all' as period_label from projects
    union all
    select projects.*, 'year' as period_type, cast(cohort_year as varchar) as period_label
    from projects
),

project_figures as (
    select
        city_code,
        period_type,
        period_label,
        count(opportunity_entered_on) as opportunities_published,
        count(validation_entered_on) as projects_reached_validation,
        count(application_entered_on) as projects_reached_application,
        count(scale_up_entered_on) as projects_reached_scale_up,
        sum(case when status = 'terminated_failed' then 1 else 0 end) as projects_failed,
        sum(case when status = 'terminated_withdrawn' then 1 else 0 end) as projects_withdrawn,
        sum(case when opportunity_entered_on is not null and validation_entered_on is not null
            then 1 else 0 end) as opportunity_to_validation,
        sum(case when validation_entered_on is not null and application_entered_on is not null
            then 1 else 0 end) as validation_to_application,
        sum(case when application_entered_on is not null and scale_up_entered_on is not null
            then 1 else 0 end) as application_to_scale_up,
        coalesce(sum(cooperation_amount_yuan), 0) as cooperation_amount_yuan,
        percentile_cont(0.5) within group (order by days_opportunity_to_validation)
            as median_days_opportunity_to_validation,
        percentile_cont(0.5) within group (order by days_validation_to_application)
            as median_days_validation_to_application,
        percentile_cont(0.5) within group (order by days_application_to_scale_up)
            as median_days_application_to_scale_up
    from project_periods
    group by city_code, period_type, period_label
),

capability_periods as (
    select city_code, 'all' as period_type, 'all' as period_label from capabilities
    union all
    select
        city_code,
        'year' as period_type,
        cast(extract(year from published_on) as varchar) as period_label
    from capabilities
),

capability_figures as (
    select city_code, period_type, period_label, count(*) as capabilities_published
    from capability_periods
    group by city_code, period_type, period_label
),

periods as (
    select city_code, period_type, period_label from project_figures
    union
    select city_code, period_type, period_label from capability_figures
),

final as (
    select
        periods.city_code,
        cities.name_zh as city_name_zh,
        cities.name_en as city_name_en,
        cities.region,
        periods.period_type,
        periods.period_label,
        cast(coalesce(p.opportunities_published, 0) as bigint) as opportunities_published,
        cast(coalesce(c.capabilities_published, 0) as bigint) as capabilities_published,
        cast(coalesce(p.projects_reached_validation, 0) as bigint) as projects_reached_validation,
        cast(coalesce(p.projects_reached_application, 0) as bigint) as projects_reached_application,
        cast(coalesce(p.projects_reached_scale_up, 0) as bigint) as projects_reached_scale_up,
        cast(coalesce(p.projects_failed, 0) as bigint) as projects_failed,
        cast(coalesce(p.projects_withdrawn, 0) as bigint) as projects_withdrawn,
        cast(p.opportunity_to_validation as double)
            / nullif(p.opportunities_published, 0) as conversion_opportunity_to_validation,
        cast(p.validation_to_application as double)
            / nullif(p.projects_reached_validation, 0) as conversion_validation_to_application,
        cast(p.application_to_scale_up as double)
            / nullif(p.projects_reached_application, 0) as conversion_application_to_scale_up,
        cast(coalesce(p.cooperation_amount_yuan, 0) as decimal(20, 2)) as cooperation_amount_yuan,
        cast(round(coalesce(p.cooperation_amount_yuan, 0) / 100000000.0, 4) as decimal(20, 4))
            as cooperation_amount_yi,
        p.median_days_opportunity_to_validation,
        p.median_days_validation_to_application,
        p.median_days_application_to_scale_up
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
