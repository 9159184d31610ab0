-- The watchlist: active projects that have stayed in their current stage longer than that
-- stage's threshold (dbt var stalled_after_days) as of the reference date.
with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
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
        cast('{{ var("reference_date") }}' as date) as reference_date
    from projects
    inner join cities on projects.city_code = cities.city_code
    where projects.is_stalled
)

select * from final
