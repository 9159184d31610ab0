-- The city wordings of domain and technology no alias maps, per city: they loaded as
-- 'unclassified' (the row is kept), and this is the operator's list of aliases to add
-- (dbt_project/seeds/value_aliases.csv) - shown by `scenetrack status` and the report's
-- data-quality panel. Counted on the staged rows (corrections applied), each technology of a
-- cell that names several on its own; split once per distinct wording.
with

events as (
    select city_code, domain_text, technology_text from {{ ref('stg_raw__events') }}
),

capabilities as (
    select city_code, domain_text, technology_text from {{ ref('stg_raw__capabilities') }}
),

reported as (
    select 'events' as reported_in, city_code, domain_text, technology_text from events
    union all
    select 'capabilities' as reported_in, city_code, domain_text, technology_text from capabilities
),

domain_wordings as (
    select reported_in, city_code, domain_text as value_text, count(*) as row_count
    from reported
    where domain_text is not null
    group by reported_in, city_code, domain_text
),

domains as (
    select
        domain_wordings.reported_in,
        domain_wordings.city_code,
        'domain' as column_name,
        domain_wordings.value_text,
        domain_wordings.row_count
    from domain_wordings
    {{ join_alias('domain', 'domain_wordings.value_text', 'domain_aliases') }}
    where domain_aliases.code is null
),

technology_cells as (
    select reported_in, city_code, technology_text, count(*) as row_count
    from reported
    where technology_text is not null
    group by reported_in, city_code, technology_text
),

positions as (
    {{ technology_positions() }}
),

technology_parts as (
    select
        technology_cells.reported_in,
        technology_cells.city_code,
        technology_cells.row_count,
        {{ technology_part('technology_cells.technology_text', 'positions.part_number') }}
            as value_text
    from technology_cells
    cross join positions
),

technologies as (
    select
        technology_parts.reported_in,
        technology_parts.city_code,
        'technology' as column_name,
        technology_parts.value_text,
        sum(technology_parts.row_count) as row_count
    from technology_parts
    {{ join_alias('technology', 'technology_parts.value_text', 'technology_aliases') }}
    where technology_parts.value_text is not null and technology_aliases.code is null
    group by
        technology_parts.reported_in,
        technology_parts.city_code,
        technology_parts.value_text
),

final as (
    select
        reported_in,
        city_code,
        column_name,
        value_text,
        cast(row_count as bigint) as row_count
    from domains
    union all
    select
        reported_in,
        city_code,
        column_name,
        value_text,
        cast(row_count as bigint) as row_count
    from technologies
)

select * from final
