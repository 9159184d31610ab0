-- Failures and withdrawals with their reasons (容错: recorded, not erased): one row per
-- terminated project, the reason its city wrote (终止原因) as written, and the reason's group
-- (ref_termination_reasons: the first matching keyword by priority; 'other' when none
-- matches, 'unstated' when the city gave no reason).
--
-- Incremental (delete+insert on project_key): a run rewrites the rows of the terminated
-- projects fct_project_lifecycle rewrote since this mart was last built, and the post-hook
-- removes those reported active again. A changed ref_termination_reasons makes the pipeline's
-- next build a full refresh (scenetrack.pipeline.dbt_project_fingerprint).
{{
    config(
        materialized='incremental',
        unique_key='project_key',
        post_hook="{{ remove_rewritten_projects(\"status = 'active'\") }}",
    )
}}

with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    where status <> 'active'
    {%- if is_incremental() %}
        and dbt_run_seq > ({{ high_water_mark('dbt_run_seq') }})
    {%- endif %}
),

reasons as (
    -- the project's latest termination event (the one that set its status and date)
    select project_key, end_reason
    from (
        select
            project_key,
            end_reason,
            row_number() over (
                partition by project_key order by event_date desc, stage_code desc, event_type asc
            ) as recency
        from {{ ref('int_termination_reasons') }}
        {%- if is_incremental() %}
        where project_key in (select projects.project_key from projects)
        {%- endif %}
    ) as ranked
    where recency = 1
),

keywords as (
    select * from {{ ref('ref_termination_reasons') }}
),

matched as (
    select
        reasons.project_key,
        keywords.group_code,
        row_number() over (
            partition by reasons.project_key order by keywords.priority, keywords.keyword
        ) as rank_in_project
    from reasons
    inner join keywords on position(keywords.keyword in reasons.end_reason) > 0
),

final as (
    select
        projects.project_key,
        projects.city_code,
        projects.domain_code,
        projects.technology_code,
        projects.supplier,
        cast(projects.current_stage as varchar) as stage_code,
        cast(projects.status as varchar) as status,
        projects.terminated_on,
        cast(reasons.end_reason as varchar) as reason_text,
        cast(
            case
                when matched.group_code is not null then matched.group_code
                when nullif(trim(reasons.end_reason), '') is not null then 'other'
                else 'unstated'
            end as varchar
        ) as reason_group,
        {{ this_run_timestamp() }} as dbt_updated_at,
        {{ this_run_seq() }} as dbt_run_seq
    from projects
    left join reasons on projects.project_key = reasons.project_key
    left join matched
        on projects.project_key = matched.project_key and matched.rank_in_project = 1
)

select * from final
