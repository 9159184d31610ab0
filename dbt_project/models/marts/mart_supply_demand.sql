-- Supply and demand per city and technology: scene opportunities published (demand) against
-- supplier capabilities listed (supply), and the share of opportunities matched with a
-- supplier (reached an on-site pilot or beyond).
--
-- Incremental (delete+insert on city_code): every row is one city's, so a run recomputes the
-- cities with a project rewritten or a capability loaded since this mart was last built
-- (cities_to_recompute), from all of those cities' projects and capabilities, and leaves the
-- other cities' rows as they are. A changed seed or model makes the pipeline's next build a
-- full refresh (scenetrack.pipeline.dbt_project_fingerprint).
{{
    config(
        materialized='incremental',
        unique_key='city_code',
    )
}}
with

{% if is_incremental() -%}
recomputed as (
    {{ cities_to_recompute(capabilities=true) }}
),

{% endif -%}
projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    {%- if is_incremental() %}
    where city_code in (select recomputed.city_code from recomputed)
    {%- endif %}
),

capabilities as (
    select * from {{ ref('stg_raw__capabilities') }}
    {%- if is_incremental() %}
    where city_code in (select recomputed.city_code from recomputed)
    {%- endif %}
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
        cast(keys.technology_code as varchar) as technology_code,
        cast(coalesce(demand.opportunities_published, 0) as bigint) as opportunities_published,
        cast(coalesce(supply.capabilities_published, 0) as bigint) as capabilities_published,
        cast(coalesce(demand.opportunities_matched, 0) as bigint) as opportunities_matched,
        cast(demand.opportunities_matched as double precision)
            / nullif(demand.opportunities_published, 0) as share_opportunities_matched,
        cast(supply.capabilities_published as double precision)
            / nullif(demand.opportunities_published, 0) as capabilities_per_opportunity,
        {{ capabilities_load_id() }} as capabilities_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from keys
    left join demand
        on keys.city_code = demand.city_code and keys.technology_code = demand.technology_code
    left join supply
        on keys.city_code = supply.city_code and keys.technology_code = supply.technology_code
)

select * from final
