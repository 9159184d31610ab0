-- One row per project: the date it entered each stage, where it is now, how it ended, its
-- cooperation amount and the anomalies evaluators should know about. Anomalies are flagged,
-- never dropped.
with

events as (
    select * from {{ ref('stg_raw__events') }}
),

stage_entries as (
    select * from {{ ref('int_project_stages_entered') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

entry_dates as (
    select
        project_key,
        max(case when stage_code = 'opportunity' then entered_on end) as opportunity_entered_on,
        max(case when stage_code = 'validation' then entered_on end) as validation_entered_on,
        max(case when stage_code = 'application' then entered_on end) as application_entered_on,
        max(case when stage_code = 'scale_up' then entered_on end) as scale_up_entered_on,
        max(case when is_current then stage_code end) as current_stage,
        max(stage_order) as max_stage_order,
        count(*) as stages_entered,
        min(entered_on) as first_entered_on
    from stage_entries
    group by project_key
),

regressions as (
    -- a later stage dated before an earlier one
    select distinct later.project_key
    from stage_entries as later
    inner join stage_entries as earlier
        on later.project_key = earlier.project_key
        and later.stage_order > earlier.stage_order
        and later.entered_on < earlier.entered_on
),

termination_ranked as (
    select
        project_key,
        event_type,
        event_date,
        row_number() over (
            partition by project_key order by event_date desc, event_type
        ) as termination_rank
    from events
    where event_type in ('fail', 'withdraw')
),

terminations as (
    select project_key, event_type, event_date
    from termination_ranked
    where termination_rank = 1
),

latest_event as (
    -- the most recent report carries the project's current attributes
    select
        events.*,
        row_number() over (
            partition by events.project_key
            order by events.event_date desc, stages.stage_order desc, events.event_type
        ) as recency_rank
    from events
    inner join stages on events.stage_code = stages.stage_code
),

amount_ranked as (
    -- the latest event that reports an amount states the project's cooperation amount
    select
        events.project_key,
        events.amount_yuan,
        row_number() over (
            partition by events.project_key
            order by events.event_date desc, stages.stage_order desc
        ) as amount_rank
    from events
    inner join stages on events.stage_code = stages.stage_code
    where events.amount_yuan is not null
),

final as (
    select
        latest_event.project_key,
        latest_event.city_code,
        latest_event.project_id,
        latest_event.project_name,
        latest_event.domain_code,
        latest_event.technology_code,
        latest_event.demand_owner,
        latest_event.supplier,
        entry_dates.opportunity_entered_on,
        entry_dates.validation_entered_on,
        entry_dates.application_entered_on,
        entry_dates.scale_up_entered_on,
        terminations.event_date as terminated_on,
        coalesce(entry_dates.current_stage, latest_event.stage_code) as current_stage,
        case terminations.event_type
            when 'fail' then 'terminated_failed'
            when 'withdraw' then 'terminated_withdrawn'
            else 'active'
        end as status,
        amount_ranked.amount_yuan as cooperation_amount_yuan,
        coalesce(entry_dates.opportunity_entered_on, entry_dates.first_entered_on, latest_event.event_date)
            as cohort_date,
        coalesce(entry_dates.stages_entered, 0) < coalesce(entry_dates.max_stage_order, 0)
            as has_skipped_stage,
        regressions.project_key is not null as has_stage_date_regression,
        entry_dates.opportunity_entered_on is null as missing_opportunity
    from latest_event
    left join entry_dates on latest_event.project_key = entry_dates.project_key
    left join terminations on latest_event.project_key = terminations.project_key
    left join amount_ranked
        on latest_event.project_key = amount_ranked.project_key
        and amount_ranked.amount_rank = 1
    left join regressions on latest_event.project_key = regressions.project_key
    where latest_event.recency_rank = 1
)

select * from final
