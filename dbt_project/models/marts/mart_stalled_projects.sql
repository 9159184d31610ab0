-- The watchlist: active projects that have stayed in their current stage longer than that
-- stage's threshold (dbt var stalled_after_days) as of the reference date.
--
-- Incremental: follows the rows fct_project_lifecycle rewrote since this mart was built
-- (dbt_updated_at above the high-water mark) and replaces those projects' rows
-- (delete+insert on project_key), and the rows whose stage threshold changed; the post-hook
-- removes projects that are no longer stalled.
-- A changed dim_city (the ref_cities seed) needs --full-refresh.
{{
    config(
        materialized='incremental',
        unique_key='project_key',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook="delete from {{ this }} where project_key in (
            select project_key from {{ ref('fct_project_lifecycle') }} where not is_stalled)",
    )
}}

with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    {% if is_incremental() %}
    where dbt_updated_at > ({{ high_water_mark('dbt_updated_at') }})
        -- still stalled, but var stalled_after_days gave its stage another threshold
        or project_key in (
            select project_key from {{ this }}
            where stalled_after_days <> {{ stalled_after_days('current_stage') }}
        )
    {% endif %}
),

cities as (
    select * from {{ ref('dim_city') }}
),

final as (
    select
        projects.project_key,
        projects.city_code,
        cities.name_zh as city_name_zh,
        cities.name_en as city_name_en,
        projects.project_name,
        projects.domain_code,
        projects.technology_code,
        projects.demand_owner,
        projects.supplier,
        projects.current_stage,
        projects.current_stage_entered_on,
        projects.days_in_current_stage,
        {{ stalled_after_days('projects.current_stage') }} as stalled_after_days,
        cast('{{ var("reference_date") }}' as date) as reference_date,
        projects.dbt_updated_at
    from projects
    inner join cities on projects.city_code = cities.city_code
    where projects.is_stalled
)

select * from final
