-- One row per supplier capability; a re-listed capability keeps its latest report.
with

source as (
    select * from {{ source('raw', 'capabilities') }}
),

renamed as (
    select
        city_code || ':' || capability_id as capability_key,
        city_code,
        capability_id,
        supplier,
        technology_code,
        domain_code,
        title,
        published_on,
        coalesce(reported_at, cast(loaded_at as date)) as reported_at,
        loaded_at,
        source_file_sha256,
        source_line
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by capability_key
            order by reported_at desc, loaded_at desc, source_file_sha256 desc, source_line desc
        ) as report_rank
    from renamed
),

final as (
    select
        capability_key,
        city_code,
        capability_id,
        supplier,
        technology_code,
        domain_code,
        title,
        published_on,
        reported_at
    from ranked
    where report_rank = 1
)

select * from final
