-- Supply and demand per city and technology: scene opportunities published (demand) against
-- supplier capabilities listed (supply), and the share of opportunities matched with a
-- supplier (reached an on-site pilot or beyond).
with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
),

capabilities as (
    select * from {{ ref('stg_raw__capabilities') }}
),

demand as (
    select
        city_code,
        coalesce(technology_code, 'unknown') as technology_code,
        count(opportunity_entered_on) as opportunities_published,
        sum(case when opportunity_entered_on is not null
            and (validation_entered_on is not null or application_entered_on is not null
                 or scale_up_entered_on is not null)
            then 1 else 0 end) as opportunities_matched
    from projects
    group by city_code, coalesce(technology_code, 'unknown')
),

supply as (
    select
        city_code,
        coalesce(technology_code, 'unknown') as technology_code,
        count(*) as capabilities_published
    from capabilities
    group by city_code, coalesce(technology_code, 'unknown')
),

keys as (
    select city_code, technology_code from demand
    union
    select city_code, technology_code from supply
),

final as (
    select
        keys.city_code,
        keys.technology_code,
        cast(coalesce(demand.opportunities_published, 0) as bigint) as opportunities_published,
        cast(coalesce(supply.capabilities_published, 0) as bigint) as capabilities_published,
        cast(coalesce(demand.opportunities_matched, 0) as bigint) as opportunities_matched,
        cast(demand.opportunities_matched as double precision)
            / nullif(demand.opportunities_published, 0) as share_opportunities_matched,
        cast(supply.capabilities_published as double precision)
            / nullif(demand.opportunities_published, 0) as capabilities_per_opportunity
    from keys
    left join demand
        on keys.city_code = demand.city_code and keys.technology_code = demand.technology_code
    left join supply
        on keys.city_code = supply.city_code and keys.technology_code = supply.technology_code
)

select * from final
