-- Label table for BI tools: the lifecycle stages in order, in Chinese and English.
select
    cast(stage_code as varchar) as stage_code,
    cast(stage_order as integer) as stage_order,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en
from {{ ref('lifecycle_stages') }}
