-- Failures and withdrawals with their reasons (容错: recorded, not erased): one row per
-- terminated project, the reason its city wrote (终止原因) as written, and the reason's group
-- (ref_termination_reasons: the first matching keyword by priority; 'other' when none
-- matches, 'unstated' when the city gave no reason).

with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    where status <> 'active'
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
        ) as reason_group
    from projects
    left join reasons on projects.project_key = reasons.project_key
    left join matched
        on projects.project_key = matched.project_key and matched.rank_in_project = 1
)

select * from final
