-- One row per termination event that won in staging (the latest report of a project's fail or
-- withdraw at a stage), with the reason the clerk wrote (终止原因, kept in raw.events.end_reason
-- by intake; staging does not carry it). Joined back to raw on the winning report's
-- file, line, stage and event type, which identify it.
--
-- A view: its only reader, mart_terminations, is incremental and asks for the projects it
-- rewrites, which the view answers from their termination events; a table would be rebuilt
-- from every termination event of the history on every run.
{{ config(materialized='view') }}

with

ends as (
    select
        project_key,
        city_code,
        stage_code,
        event_type,
        event_date,
        source_file_sha256,
        source_line
    from {{ ref('stg_raw__events') }}
    where event_type in ('fail', 'withdraw')
),

reasons as (
    select source_file_sha256, source_line, city_code, stage_code, event_type, end_reason
    from {{ source('raw', 'events') }}
    where end_reason is not null and event_type in ('fail', 'withdraw')
),

final as (
    select
        ends.project_key,
        ends.stage_code,
        ends.event_type,
        ends.event_date,
        reasons.end_reason
    from ends
    left join reasons
        on ends.source_file_sha256 = reasons.source_file_sha256
        and ends.source_line = reasons.source_line
        and ends.city_code = reasons.city_code
        and ends.stage_code = reasons.stage_code
        and ends.event_type = reasons.event_type
)

select * from final
