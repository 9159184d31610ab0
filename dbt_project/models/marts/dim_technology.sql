with

source as (
    select * from {{ ref('ref_technologies') }}
),

final as (
    select
        technology_code,
        name_zh,
        name_en
    from source
)

select * from final
