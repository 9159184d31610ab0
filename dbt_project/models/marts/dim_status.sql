-- Label table for BI tools: project statuses (fct_project_lifecycle.status), zh and en.
select
    cast(status_code as varchar) as status_code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en
from {{ ref('ref_statuses') }}
