-- One row per technology a project names: a city writes 物联网+AI or 人工智能、机器人 in one cell,
-- and the project carries each (the first named is its primary technology, the fact's
-- technology_code). Split once per distinct wording, then joined to the projects, so the cost
-- follows the wordings, not the projects (macros/descriptive_codes.sql has the rule).
--
-- Incremental (delete+insert on project_key), so a run's cost follows what changed, not the
-- length of history: a run rewrites the rows of the projects fct_project_lifecycle rewrote
-- since this mart was last built, and the post-hook removes those that no longer name a
-- technology. A changed vocabulary (aliases, technologies, separators) makes the pipeline's
-- next build a full refresh (scenetrack.pipeline.dbt_project_fingerprint).
{{
    config(
        materialized='incremental',
        unique_key='project_key',
        post_hook="{{ remove_rewritten_projects('technology_text is null') }}",
    )
}}

with

projects as (
    select project_key, city_code, technology_text
    from {{ ref('fct_project_lifecycle') }}
    where technology_text is not null
    {%- if is_incremental() %}
        and dbt_run_seq > ({{ high_water_mark('dbt_run_seq') }})
    {%- endif %}
),

wordings as (
    select distinct technology_text from projects
),

positions as (
    {{ technology_positions() }}
),

parts as (
    select
        wordings.technology_text as cell_text,
        positions.part_number,
        {{ technology_part('wordings.technology_text', 'positions.part_number') }}
            as technology_text
    from wordings
    cross join positions
),

coded as (
    select
        parts.cell_text,
        parts.part_number,
        parts.technology_text,
        {{ code_of('technologies', 'parts.technology_text') }} as technology_code
    from parts
    {{ join_alias('technology', 'parts.technology_text', 'technologies') }}
    where parts.technology_text is not null
),

final as (
    select
        cast(projects.project_key || ':' || cast(coded.part_number as varchar) as varchar)
            as project_technology_key,
        projects.project_key,
        projects.city_code,
        cast(coded.part_number as integer) as technology_position,
        cast(coded.technology_text as varchar) as technology_text,
        cast(coded.technology_code as varchar) as technology_code,
        coded.part_number = 1 as is_primary,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from projects
    inner join coded on projects.technology_text = coded.cell_text
)

select * from final
