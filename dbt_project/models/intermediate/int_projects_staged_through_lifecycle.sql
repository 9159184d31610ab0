-- One row per project: the date it entered each stage, where it is now, how it ended, its
-- cooperation amount and the anomalies evaluators should know about. Anomalies are flagged,
-- never dropped.
--
-- Incremental: projects with a new or corrected event since the last run are rebuilt from all
-- of their events; untouched projects keep their row.
{{
    config(
        materialized='incremental',
        unique_key='project_key',
    )
}}

with

all_events as (
    select * from {{ ref('stg_raw__events') }}
),

all_stage_entries as (
    select * from {{ ref('int_project_stages_entered') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

{% if is_incremental() %}
touched as (
    -- read from the relation, not the `all_events` CTE: a CTE read twice is materialised whole
    select distinct project_key
    from {{ ref('stg_raw__events') }}
    where last_load_id > ({{ high_water_mark('last_load_id') }})
),

events as (
    select all_events.*
    from all_events
    inner join touched on all_events.project_key = touched.project_key
),

stage_entries as (
    select all_stage_entries.*
    from all_stage_entries
    inner join touched on all_stage_entries.project_key = touched.project_key
),
{% else %}
events as (
    select * from all_events
),

stage_entries as (
    select * from all_stage_entries
),
{% endif %}

entry_dates as (
    select
        project_key,
        {%- for stage in lifecycle_stage_codes() %}
        max(case when stage_code = '{{ stage }}' then entered_on end) as {{ stage }}_entered_on,
        {%- endfor %}
        max(case when is_current then stage_code end) as current_stage,
        max(stage_order) as max_stage_order,
        count(*) as stages_entered,
        min(entered_on) as first_entered_on
    from stage_entries
    group by project_key
),

latest_entry as (
    -- the stage of the most recent movement; below the furthest stage = moved backwards
    select project_key, stage_order
    from (
        select
            project_key,
            stage_order,
            row_number() over (
                partition by project_key order by entered_on desc, stage_order asc
            ) as movement_rank
        from stage_entries
    ) as ranked
    where movement_rank = 1
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
            partition by project_key order by event_date desc, event_type asc
        ) as termination_rank
    from events
    where event_type in ('fail', 'withdraw')
),

terminations as (
    select project_key, event_type, event_date
    from termination_ranked
    where termination_rank = 1
),

ranked_events as (
    select
        events.*,
        -- the most recent report carries the project's current attributes
        row_number() over (
            partition by events.project_key
            order by events.event_date desc, stages.stage_order desc, events.event_type asc
        ) as recency_rank,
        max(events.last_load_id) over (partition by events.project_key) as project_load_id,
        max(case when events.was_corrected then 1 else 0 end)
            over (partition by events.project_key) as any_corrected
    from events
    inner join stages on events.stage_code = stages.stage_code
),

described as (
    -- domain and technology from the most recent report that names them: a later report
    -- that leaves them blank (a register row without 技术领域) does not erase what a list said
    select
        project_key,
        max(case when domain_rank = 1 then domain_text end) as domain_text,
        max(case when domain_rank = 1 then domain_code end) as domain_code,
        max(case when technology_rank = 1 then technology_text end) as technology_text,
        max(case when technology_rank = 1 then technology_code end) as technology_code
    from (
        select
            events.project_key,
            events.domain_text,
            events.domain_code,
            events.technology_text,
            events.technology_code,
            row_number() over (
                partition by events.project_key
                order by case when events.domain_text is null then 1 else 0 end asc,
                    events.event_date desc, stages.stage_order desc, events.event_type asc
            ) as domain_rank,
            row_number() over (
                partition by events.project_key
                order by case when events.technology_text is null then 1 else 0 end asc,
                    events.event_date desc, stages.stage_order desc, events.event_type asc
            ) as technology_rank
        from events
        inner join stages on events.stage_code = stages.stage_code
    ) as ranked
    group by project_key
),

listing as (
    -- what the city's opportunity list said: the batch it was published in and the planned
    -- investment (a project enters the opportunity stage once: one row at most)
    select
        project_key,
        batch as opportunity_batch,
        planned_investment_yuan,
        planned_investment_is_approximate
    from events
    where stage_code = 'opportunity' and event_type = 'enter'
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
        latest.project_key,
        latest.city_code,
        latest.project_id,
        latest.project_name,
        described.domain_text,
        described.domain_code,
        described.technology_text,
        described.technology_code,
        latest.demand_owner,
        latest.supplier,
        entry_dates.opportunity_entered_on,
        entry_dates.validation_entered_on,
        entry_dates.application_entered_on,
        entry_dates.scale_up_entered_on,
        terminations.event_date as terminated_on,
        coalesce(entry_dates.current_stage, latest.stage_code) as current_stage,
        case terminations.event_type
            when 'fail' then 'terminated_failed'
            when 'withdraw' then 'terminated_withdrawn'
            else 'active'
        end as status,
        amount_ranked.amount_yuan as cooperation_amount_yuan,
        listing.opportunity_batch,
        listing.planned_investment_yuan,
        coalesce(listing.planned_investment_is_approximate, false)
            as planned_investment_is_approximate,
        coalesce(
            entry_dates.opportunity_entered_on, entry_dates.first_entered_on, latest.event_date
        ) as cohort_date,
        coalesce(entry_dates.stages_entered, 0) < coalesce(entry_dates.max_stage_order, 0)
            as has_skipped_stage,
        coalesce(latest_entry.stage_order, 0) < coalesce(entry_dates.max_stage_order, 0)
            as has_moved_backwards,
        regressions.project_key is not null as has_stage_date_regression,
        latest.any_corrected = 1 as has_corrected_report,
        entry_dates.opportunity_entered_on is null as missing_opportunity,
        latest.project_load_id as last_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from ranked_events as latest
    left join entry_dates on latest.project_key = entry_dates.project_key
    left join latest_entry on latest.project_key = latest_entry.project_key
    left join terminations on latest.project_key = terminations.project_key
    left join amount_ranked
        on latest.project_key = amount_ranked.project_key
        and amount_ranked.amount_rank = 1
    left join regressions on latest.project_key = regressions.project_key
    left join listing on latest.project_key = listing.project_key
    left join described on latest.project_key = described.project_key
    where latest.recency_rank = 1
)

select * from final
