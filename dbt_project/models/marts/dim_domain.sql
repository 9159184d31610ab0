with

source as (
    select * from {{ ref('ref_domains') }}
),

final as (
    select
        domain_code,
        name_zh,
        name_en
    from source
)

select * from final
