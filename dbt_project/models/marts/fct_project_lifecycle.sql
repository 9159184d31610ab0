-- One row per scene project: where it is, how long each step took, how it ended.
with

lifecycle as (
    select * from {{ ref('int_projects_staged_through_lifecycle') }}
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
        status,
        cooperation_amount_yuan,
        cast(extract(year from cohort_date) as integer) as cohort_year,
        cast({{ dbt.datediff('opportunity_entered_on', 'validation_entered_on', 'day') }} as integer)
            as days_opportunity_to_validation,
        cast({{ dbt.datediff('validation_entered_on', 'application_entered_on', 'day') }} as integer)
            as days_validation_to_application,
        cast({{ dbt.datediff('application_entered_on', 'scale_up_entered_on', 'day') }} as integer)
            as days_application_to_scale_up,
        has_skipped_stage,
        has_stage_date_regression,
        missing_opportunity
    from lifecycle
)

select * from final
