-- One row per scene project: where it is, how long each step took, how it ended, and whether
-- it is stalled as of the reference date.
--
-- Incremental (delete+insert on project_key), so the cost of a run follows what arrived, not
-- the size of the history. A project's row is rebuilt when
--   * a report about it was loaded since the last run (last_load_id above the high-water
--     mark), or
--   * its row was measured against another reference date (days_in_current_stage moves with
--     the date: the first run on a new day rebuilds every row), or
--   * its is_stalled no longer agrees with var stalled_after_days (the thresholds changed).
-- Anything else that changes every row (the model's SQL, a seed) needs --full-refresh, as
-- for any incremental model. dbt_run_seq says which rows a run rewrote, so the marts built
-- from this one (mart_stalled_projects) can follow it incrementally.
{{
    config(
        materialized='incremental',
        unique_key='project_key',
    )
}}

-- The stage codes (lifecycle_stage_codes) come from the lifecycle_stages seed, an ancestor
-- through int_projects_staged_through_lifecycle, so it is built before this model compiles.

with

all_lifecycles as (
    select * from {{ ref('int_projects_staged_through_lifecycle') }}
),

{% if is_incremental() %}
touched as (
    -- read from the relation, not the `all_lifecycles` CTE: a CTE read twice is materialised
    -- whole
    select project_key
    from {{ ref('int_projects_staged_through_lifecycle') }}
    where last_load_id > ({{ high_water_mark('last_load_id') }})
    union
    select project_key
    from {{ this }}
    where reference_date <> cast('{{ var("reference_date") }}' as date)
        or is_stalled <> {{ is_stalled('status', 'days_in_current_stage', 'current_stage') }}
),

lifecycle as (
    select all_lifecycles.*
    from all_lifecycles
    inner join touched on all_lifecycles.project_key = touched.project_key
),
{% else %}
lifecycle as (
    select * from all_lifecycles
),
{% endif %}

entered as (
    -- the date the project entered its current stage: a project enters each stage once
    -- (one enter event per stage after corrections), so it is that stage's entry date
    -- (empty for a project that entered no stage); read from the project's own row rather
    -- than by joining every stage entry of the history
    select
        lifecycle.*,
        case lifecycle.current_stage
            {%- for stage in lifecycle_stage_codes() %}
            when '{{ stage }}' then lifecycle.{{ stage }}_entered_on
            {%- endfor %}
        end as current_stage_entered_on
    from lifecycle
),

measured as (
    select
        entered.*,
        cast({{ dbt.datediff('entered.current_stage_entered_on',
                              "cast('" ~ var('reference_date') ~ "' as date)", 'day') }}
            as integer) as days_in_current_stage
    from entered
),

final as (
    -- casts to the contract's types where PostgreSQL infers text: an incremental run compares
    -- the new rows' types with the table's (on_schema_change='fail')
    select
        cast(project_key as varchar) as project_key,
        city_code,
        project_id,
        project_name,
        cast(domain_text as varchar) as domain_text,
        cast(domain_code as varchar) as domain_code,
        cast(technology_text as varchar) as technology_text,
        cast(technology_code as varchar) as technology_code,
        demand_owner,
        supplier,
        opportunity_entered_on,
        validation_entered_on,
        application_entered_on,
        scale_up_entered_on,
        terminated_on,
        cast(current_stage as varchar) as current_stage,
        current_stage_entered_on,
        cast(status as varchar) as status,
        cooperation_amount_yuan,
        opportunity_batch,
        planned_investment_yuan,
        planned_investment_is_approximate,
        cast(extract(year from cohort_date) as integer) as cohort_year,
        cohort_date,
        -- dbt.datediff renders longer than the line that calls it (LT05 measures the render)
        -- noqa: disable=LT05
        cast({{ dbt.datediff('opportunity_entered_on', 'validation_entered_on', 'day') }} as integer)
            as days_opportunity_to_validation,
        cast({{ dbt.datediff('validation_entered_on', 'application_entered_on', 'day') }} as integer)
            as days_validation_to_application,
        cast({{ dbt.datediff('application_entered_on', 'scale_up_entered_on', 'day') }} as integer)
            as days_application_to_scale_up,
        -- noqa: enable=LT05
        case when status = 'active' then days_in_current_stage end as days_in_current_stage,
        {{ is_stalled('status', 'days_in_current_stage', 'current_stage') }} as is_stalled,
        has_skipped_stage,
        has_moved_backwards,
        has_stage_date_regression,
        has_corrected_report,
        missing_opportunity,
        cast('{{ var("reference_date") }}' as date) as reference_date,
        last_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from measured
)

select * from final
