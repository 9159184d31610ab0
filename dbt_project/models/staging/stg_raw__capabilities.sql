-- One row per supplier capability; a re-listed capability keeps its latest report. The rows
-- of held submissions (raw.file_holds) stay out until released. Domain and technology get
-- their codes from the value_aliases seed, as for events (macros/descriptive_codes.sql).
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

coded as (
    select
        source.*,
        {{ technology_part('source.technology_raw', 1) }} as primary_technology_text,
        {{ code_of('domains', 'source.domain_raw') }} as domain_code
    from source
    {{ join_alias('domain', 'source.domain_raw', 'domains') }}
),

renamed as (
    select
        coded.city_code || ':' || coded.capability_id as capability_key,
        coded.city_code,
        coded.capability_id,
        coded.supplier,
        coded.technology_raw as technology_text,
        {{ code_of('technologies', 'coded.primary_technology_text') }} as technology_code,
        coded.domain_raw as domain_text,
        coded.domain_code,
        coded.title,
        coded.batch,
        coded.published_on,
        coalesce(coded.reported_at, cast(coded.loaded_at as date)) as reported_at,
        coalesce(coded.file_load_id, coded.load_id) as file_load_id,
        coded.load_id,
        coded.source_file_sha256,
        coded.source_line
    from coded
    {{ join_alias('technology', 'coded.primary_technology_text', 'technologies') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by capability_key
            order by reported_at desc, file_load_id desc, source_file_sha256 desc, source_line desc
        ) as report_rank
    from renamed
),

final as (
    select
        capability_key,
        city_code,
        capability_id,
        supplier,
        technology_text,
        technology_code,
        domain_text,
        domain_code,
        title,
        batch,
        published_on,
        reported_at,
        load_id
    from ranked
    where report_rank = 1
)

select * from final
