-- One row per project per stage entered (the grain dbt_hubspot uses for deal stages):
-- when it entered, when it left (the next stage entered, or the project ended), and whether
-- it is the stage the project is in now.
--
-- Incremental: only projects with a new or corrected event since the last run are rebuilt,
-- from all of their events, and replace their previous rows (delete+insert on project_key).
{{
    config(
        materialized='incremental',
        unique_key='project_key',
    )
}}

with

events as (
    select * from {{ ref('stg_raw__events') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

{% if is_incremental() %}
touched as (
    -- read from the relation, not the `events` CTE: a CTE read twice is materialised whole
    select distinct project_key
    from {{ ref('stg_raw__events') }}
    where last_load_id > ({{ high_water_mark('last_load_id') }})
),

project_events as (
    select events.*
    from events
    inner join touched on events.project_key = touched.project_key
),
{% else %}
project_events as (
    select * from events
),
{% endif %}

entries as (
    select
        project_events.project_key,
        project_events.stage_code,
        stages.stage_order,
        project_events.event_date as entered_on
    from project_events
    inner join stages on project_events.stage_code = stages.stage_code
    where project_events.event_type = 'enter'
),

terminations as (
    select
        project_key,
        max(event_date) as terminated_on
    from project_events
    where event_type in ('fail', 'withdraw')
    group by project_key
),

loads as (
    select project_key, max(last_load_id) as last_load_id
    from project_events
    group by project_key
),

sequenced as (
    select
        entries.*,
        lead(entries.entered_on) over (
            partition by entries.project_key order by entries.stage_order
        ) as next_stage_entered_on,
        row_number() over (
            partition by entries.project_key order by entries.stage_order desc
        ) as recency_rank
    from entries
),

final as (
    select
        sequenced.project_key || ':' || sequenced.stage_code as project_stage_key,
        sequenced.project_key,
        sequenced.stage_code,
        sequenced.stage_order,
        sequenced.entered_on,
        coalesce(
            sequenced.next_stage_entered_on,
            case when sequenced.recency_rank = 1 then terminations.terminated_on end
        ) as exited_on,
        sequenced.recency_rank = 1 as is_current,
        loads.last_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from sequenced
    inner join loads on sequenced.project_key = loads.project_key
    left join terminations on sequenced.project_key = terminations.project_key
)

select * from final
