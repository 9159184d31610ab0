-- One row per reported lifecycle event, corrections applied: when a city reports the same
-- event (project, stage, event type) again, the latest report wins (reported_at, then the
-- later submission in the load sequence, then the later line). Raw keeps every report; the
-- rows of held submissions (raw.file_holds, per city and file) stay out until released.
--
-- Incremental: a run re-ranks only the events that received a new report since the last run
-- (a load_id above the highest this model processed; all reports of those events, so the
-- winner is the same as in a full refresh).
{{
    config(
        materialized='incremental',
        unique_key='event_key',
    )
}}

with

source as (
    select events.*
    from {{ source('raw', 'events') }} as events
    where not exists (
        select 1
        from {{ source('raw', 'file_holds') }} as holds
        where holds.released_at is null
            and holds.source_file_sha256 = events.source_file_sha256
            and holds.city_code = events.city_code
    )
),

{% if is_incremental() %}
-- the events that received a report since the last run, found on raw's own columns so the
-- rest of the history is neither keyed nor copied (read from the relation, not from the
-- `source` CTE: a CTE read twice is materialised whole by DuckDB)
touched as (
    select distinct city_code, project_id, stage_code, event_type
    from {{ source('raw', 'events') }}
    where load_id > ({{ high_water_mark('last_load_id') }})
),

in_scope as (
    select source.*
    from source
    inner join touched
        on source.city_code = touched.city_code
        and source.project_id = touched.project_id
        and source.stage_code = touched.stage_code
        and source.event_type = touched.event_type
),
{% else %}
in_scope as (
    select * from source
),
{% endif %}

coded as (
    select
        in_scope.*,
        {{ technology_part('in_scope.technology_raw', 1) }} as primary_technology_text,
        {{ code_of('domains', 'in_scope.domain_raw') }} as domain_code
    from in_scope
    {{ join_alias('domain', 'in_scope.domain_raw', 'domains') }}
),

renamed as (
    select
        coded.city_code || ':' || coded.project_id as project_key,
        coded.city_code || ':' || coded.project_id || ':' || coded.stage_code || ':'
        || coded.event_type as event_key,
        coded.city_code,
        coded.project_id,
        coded.project_name,
        coded.domain_raw as domain_text,
        coded.domain_code,
        coded.technology_raw as technology_text,
        {{ code_of('technologies', 'coded.primary_technology_text') }} as technology_code,
        coded.demand_owner,
        coded.supplier,
        coded.stage_code,
        coded.event_type,
        coded.event_date,
        coded.event_date_precision,
        coded.amount_yuan,
        coded.batch,
        coded.planned_investment_yuan,
        coalesce(coded.planned_investment_approximate, false) as planned_investment_is_approximate,
        coalesce(coded.reported_at, cast(coded.loaded_at as date)) as reported_at,
        coded.source_file_sha256,
        coded.source_line,
        coded.loaded_at,
        coded.load_id,
        coalesce(coded.file_load_id, coded.load_id) as file_load_id
    from coded
    {{ join_alias('technology', 'coded.primary_technology_text', 'technologies') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by event_key
            order by reported_at desc, file_load_id desc, source_file_sha256 desc, source_line desc
        ) as report_rank,
        count(*) over (partition by event_key) as report_count,
        min(event_date) over (partition by event_key) as earliest_date_reported,
        max(event_date) over (partition by event_key) as latest_date_reported,
        min(amount_yuan) over (partition by event_key) as lowest_amount_reported,
        max(amount_yuan) over (partition by event_key) as highest_amount_reported,
        count(amount_yuan) over (partition by event_key) as reports_with_amount,
        max(load_id) over (partition by event_key) as last_load_id
    from renamed
),

final as (
    select
        event_key,
        project_key,
        city_code,
        project_id,
        project_name,
        domain_text,
        domain_code,
        technology_text,
        technology_code,
        demand_owner,
        supplier,
        stage_code,
        event_type,
        event_date,
        event_date_precision,
        amount_yuan,
        batch,
        planned_investment_yuan,
        planned_investment_is_approximate,
        reported_at,
        cast(report_count as integer) as report_count,
        -- reports that disagree on the date or the amount (one with an amount, one without
        -- counts as disagreeing too)
        earliest_date_reported <> latest_date_reported
        or coalesce(lowest_amount_reported <> highest_amount_reported, false)
        or reports_with_amount not in (0, report_count) as was_corrected,
        source_file_sha256,
        source_line,
        loaded_at,
        load_id,
        last_load_id,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from ranked
    where report_rank = 1
)

select * from final
