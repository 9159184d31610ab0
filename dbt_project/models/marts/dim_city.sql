with

source as (
    select * from {{ ref('ref_cities') }}
),

final as (
    select
        city_code,
        name_zh,
        name_en,
        province_zh,
        province_en,
        region
    from source
)

select * from final
