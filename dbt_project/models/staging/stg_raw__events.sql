-- One row per reported lifecycle event, corrections applied: when a city reports the same
-- event (project, stage, event type) again, the latest report wins (reported_at, then the
-- later submission, then the later line). Raw keeps every report.
with

source as (
    select * from {{ source('raw', 'events') }}
),

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
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_key
            order by reported_at desc, loaded_at desc, source_file_sha256 desc, source_line desc
        ) as report_rank
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
        source_file_sha256,
        source_line,
        loaded_at
    from ranked
    where report_rank = 1
)

select * from final
