-- One row per scene project: where it is, how long each step took, how it ended, and whether
-- it is stalled as of the reference date.
with

lifecycle as (
    select * from {{ ref('int_projects_staged_through_lifecycle') }}
),

current_entry as (
    select project_key, entered_on
    from {{ ref('int_project_stages_entered') }}
    where is_current
),

measured as (
    select
        lifecycle.*,
        current_entry.entered_on as current_stage_entered_on,
        cast({{ dbt.datediff('current_entry.entered_on',
                              "cast('" ~ var('reference_date') ~ "' as date)", 'day') }}
            as integer) as days_in_current_stage,
        {{ stalled_after_days('lifecycle.current_stage') }} as stalled_after_days
    from lifecycle
    left join current_entry on lifecycle.project_key = current_entry.project_key
),

final as (
    select
        project_key,
        city_code,
        project_id,
        project_name,
        domain_code,
        technology_code,
        demand_owner,
        supplier,
        opportunity_entered_on,
        validation_entered_on,
        application_entered_on,
        scale_up_entered_on,
        terminated_on,
        current_stage,
        current_stage_entered_on,
        status,
        cooperation_amount_yuan,
        cast(extract(year from cohort_date) as integer) as cohort_year,
        cohort_date,
        cast({{ dbt.datediff('opportunity_entered_on', 'validation_entered_on', 'day') }} as integer)
            as days_opportunity_to_validation,
        cast({{ dbt.datediff('validation_entered_on', 'application_entered_on', 'day') }} as integer)
            as days_validation_to_application,
        cast({{ dbt.datediff('application_entered_on', 'scale_up_entered_on', 'day') }} as integer)
            as days_application_to_scale_up,
        case when status = 'active' then days_in_current_stage end as days_in_current_stage,
        coalesce(
            status = 'active' and days_in_current_stage > stalled_after_days, false
        ) as is_stalled,
        has_skipped_stage,
        has_moved_backwards,
        has_stage_date_regression,
        has_corrected_report,
        missing_opportunity
    from measured
)

select * from final
