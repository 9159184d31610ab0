-- One row per project per stage entered (the grain dbt_hubspot uses for deal stages):
-- when it entered, when it left (the next stage entered, or the project ended), and whether
-- it is the stage the project is in now.
with

events as (
    select * from {{ ref('stg_raw__events') }}
),

stages as (
    select * from {{ ref('lifecycle_stages') }}
),

entries as (
    select
        events.project_key,
        events.stage_code,
        stages.stage_order,
        events.event_date as entered_on
    from events
    inner join stages on events.stage_code = stages.stage_code
    where events.event_type = 'enter'
),

terminations as (
    select
        project_key,
        max(event_date) as terminated_on
    from events
    where event_type in ('fail', 'withdraw')
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
        sequenced.recency_rank = 1 as is_current
    from sequenced
    left join terminations on sequenced.project_key = terminations.project_key
)

select * from final
