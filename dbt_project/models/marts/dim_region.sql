-- Label table for BI tools: the regions of dim_city.region (National Bureau of Statistics
-- split), zh and en.
select
    cast(region_code as varchar) as region_code,
    cast(name_zh as varchar) as name_zh,
    cast(name_en as varchar) as name_en
from {{ ref('ref_regions') }}
