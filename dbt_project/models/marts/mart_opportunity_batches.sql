-- How each batch of a city's opportunity list did (an evaluator asks it of every 第N批): the
-- opportunities the batch published, how far they got, the planned investment the list
-- stated (kept apart from the cooperation amount) and the cooperation signed. Projects that
-- came from no list with a batch are not here (fct_project_lifecycle has them all).
with

projects as (
    select * from {{ ref('fct_project_lifecycle') }}
    where opportunity_batch is not null
),

cities as (
    select * from {{ ref('dim_city') }}
),

rolled_up as (
    select
        city_code,
        opportunity_batch,
        min(opportunity_entered_on) as first_published_on,
        count(opportunity_entered_on) as opportunities_published,
        count(validation_entered_on) as projects_reached_validation,
        count(application_entered_on) as projects_reached_application,
        count(scale_up_entered_on) as projects_reached_scale_up,
        sum(case when status = 'terminated_failed' then 1 else 0 end) as projects_failed,
        sum(case when status = 'terminated_withdrawn' then 1 else 0 end) as projects_withdrawn,
        sum(case when opportunity_entered_on is not null and validation_entered_on is not null
            then 1 else 0 end) as opportunity_to_validation,
        sum(planned_investment_yuan) as planned_investment_yuan,
        count(planned_investment_yuan) as opportunities_with_planned_investment,
        sum(case when planned_investment_is_approximate then 1 else 0 end)
            as opportunities_with_approximate_investment,
        sum(cooperation_amount_yuan) as cooperation_amount_yuan
    from projects
    group by city_code, opportunity_batch
),

final as (
    select
        rolled_up.city_code,
        cities.name_zh as city_name_zh,
        cities.name_en as city_name_en,
        rolled_up.opportunity_batch,
        rolled_up.first_published_on,
        cast(rolled_up.opportunities_published as bigint) as opportunities_published,
        cast(rolled_up.projects_reached_validation as bigint) as projects_reached_validation,
        cast(rolled_up.projects_reached_application as bigint) as projects_reached_application,
        cast(rolled_up.projects_reached_scale_up as bigint) as projects_reached_scale_up,
        cast(rolled_up.projects_failed as bigint) as projects_failed,
        cast(rolled_up.projects_withdrawn as bigint) as projects_withdrawn,
        cast(rolled_up.opportunity_to_validation as double precision)
            / nullif(rolled_up.opportunities_published, 0) as conversion_opportunity_to_validation,
        cast(rolled_up.planned_investment_yuan as decimal(20, 2)) as planned_investment_yuan,
        cast(rolled_up.opportunities_with_planned_investment as bigint)
            as opportunities_with_planned_investment,
        cast(rolled_up.opportunities_with_approximate_investment as bigint)
            as opportunities_with_approximate_investment,
        cast(coalesce(rolled_up.cooperation_amount_yuan, 0) as decimal(20, 2))
            as cooperation_amount_yuan
    from rolled_up
    inner join cities on rolled_up.city_code = cities.city_code
)

select * from final
