-- One row per reported lifecycle event, corrections applied: when a city reports the same
-- event (project, stage, event type) again, the latest report wins (reported_at, then the
-- later submission, then the later line). Raw keeps every report.
--
-- Incremental: a run re-ranks only the events that received a new report since the last run
-- (all reports of those events, so the winner is the same as in a full refresh).
{{
    config(
        materialized='incremental',
        unique_key='event_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

source as (
    select * from {{ source('raw', 'events') }}
),

{% if is_incremental() %}
-- the events that received a report since the last run, found on raw's own columns so the
-- rest of the history is neither keyed nor copied (read from the relation, not from the
-- `source` CTE: a CTE read twice is materialised whole by DuckDB)
touched as (
    select distinct city_code, project_id, stage_code, event_type
    from {{ source('raw', 'events') }}
    where loaded_at > ({{ high_water_mark('last_loaded_at') }})
),

in_scope as (
    select source.*
    from source
    inner join touched
        on source.city_code = touched.city_code
        and source.project_id = touched.project_id
        and source.stage_code = touched.stage_code
        and source.event_type = touched.event_type
),
{% else %}
in_scope as (
    select * from source
),
{% endif %}

renamed as (
    select
        city_code || ':' || project_id as project_key,
        city_code || ':' || project_id || ':' || stage_code || ':' || event_type as event_key,
        city_code,
        project_id,
        project_name,
        domain_code,
        technology_code,
        demand_owner,
        supplier,
        stage_code,
        event_type,
        event_date,
        event_date_precision,
        amount_yuan,
        coalesce(reported_at, cast(loaded_at as date)) as reported_at,
        source_file_sha256,
        source_line,
        loaded_at
    from in_scope
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_key
            order by reported_at desc, loaded_at desc, source_file_sha256 desc, source_line desc
        ) as report_rank,
        count(*) over (partition by event_key) as report_count,
        min(event_date) over (partition by event_key) as earliest_date_reported,
        max(event_date) over (partition by event_key) as latest_date_reported,
        max(loaded_at) over (partition by event_key) as last_loaded_at
    from renamed
),

final as (
    select
        event_key,
        project_key,
        city_code,
        project_id,
        project_name,
        domain_code,
        technology_code,
        demand_owner,
        supplier,
        stage_code,
        event_type,
        event_date,
        event_date_precision,
        amount_yuan,
        reported_at,
        cast(report_count as integer) as report_count,
        earliest_date_reported <> latest_date_reported as was_corrected,
        source_file_sha256,
        source_line,
        loaded_at,
        last_loaded_at,
        {{ this_run_timestamp() }} as dbt_updated_at
    from ranked
    where report_rank = 1
)

select * from final
