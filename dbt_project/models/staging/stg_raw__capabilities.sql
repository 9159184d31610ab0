-- One row per supplier capability; a re-listed capability keeps its latest report. The rows
-- of held submissions (raw.file_holds) stay out until released.
with

source as (
    select capabilities.*
    from {{ source('raw', 'capabilities') }} as capabilities
    where not exists (
        select 1
        from {{ source('raw', 'file_holds') }} as holds
        where holds.released_at is null
            and holds.source_file_sha256 = capabilities.source_file_sha256
            and holds.city_code = capabilities.city_code
    )
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
        load_id,
        source_file_sha256,
        source_line
    from source
),

ranked as (
    select
        *,
        row_number() over (
            partition by capability_key
            order by reported_at desc, load_id desc, source_file_sha256 desc, source_line desc
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
