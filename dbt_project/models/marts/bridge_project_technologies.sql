-- One row per technology a project names: a city writes 物联网+AI or 人工智能、机器人 in one cell,
-- and the project carries each (the first named is its primary technology, the fact's
-- technology_code). Split once per distinct wording, then joined to the projects, so the cost
-- follows the wordings, not the projects (macros/descriptive_codes.sql has the rule).
with

projects as (
    select project_key, city_code, technology_text
    from {{ ref('fct_project_lifecycle') }}
    where technology_text is not null
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
        coded.technology_text,
        cast(coded.technology_code as varchar) as technology_code,
        coded.part_number = 1 as is_primary
    from projects
    inner join coded on projects.technology_text = coded.cell_text
)

select * from final
