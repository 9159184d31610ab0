-- The watchlist: active projects that have stayed in their current stage longer than that
-- stage's threshold (dbt var stalled_after_days) as of the reference date.
--
-- Incremental (delete+insert on project_key), so a run's cost follows what changed, not the
-- length of the watchlist. A run rewrites the rows of
--   * the projects fct_project_lifecycle rewrote since this mart was last built (their
--     dbt_run_seq is above this mart's high-water mark: the number of the run that last
--     wrote it), and
--   * the projects still on the list whose stage was given another threshold (stage by
--     stage: the stored thresholds of a stage change together);
-- the post-hook (remove_rewritten_projects) then removes, among the projects
-- fct_project_lifecycle rewrote since then, those that are no longer stalled: a project only
-- leaves the list when its row there is rewritten. Every row carries the start of the run
-- that wrote it (dbt_run_seq), so pipeline builds test only the rows written since the last
-- passing build.
-- A changed dim_city (the ref_cities seed) needs --full-refresh.
{{
    config(
        materialized='incremental',
        unique_key='project_key',
        post_hook="{{ remove_rewritten_projects('not is_stalled') }}",
    )
}}

with

{% if is_incremental() %}
-- each branch reads the relation, not a shared CTE: a CTE read twice is materialised whole
rewritten as (
    -- rows fct_project_lifecycle rewrote since this mart was last built
    select *
    from {{ ref('fct_project_lifecycle') }}
    where dbt_run_seq > ({{ high_water_mark('dbt_run_seq') }})
),

rethresholded_stages as (
    -- the stages var stalled_after_days gave another threshold since their rows were written
    -- (none, as a rule: then the join below reads nothing)
    select distinct current_stage
    from {{ this }}
    where stalled_after_days <> {{ stalled_after_days('current_stage') }}
),

rethresholded as (
    -- still stalled and not rewritten, in such a stage: every such project is on the list
    -- (the list holds every stalled project) with its stage's old threshold
    select lifecycle.*
    from rethresholded_stages
    inner join {{ ref('fct_project_lifecycle') }} as lifecycle
        on rethresholded_stages.current_stage = lifecycle.current_stage
    where lifecycle.is_stalled
        and lifecycle.dbt_run_seq <= ({{ high_water_mark('dbt_run_seq') }})
),

projects as (
    select * from rewritten
    union all
    select * from rethresholded
),
{% else %}
projects as (
    select * from {{ ref('fct_project_lifecycle') }}
),
{% endif %}

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
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from projects
    inner join cities on projects.city_code = cities.city_code
    where projects.is_stalled
)

select * from final
