{#- Period helpers for city x period marts, portable between DuckDB and PostgreSQL. -#}

{% macro period_start(grain, date_expr) -%}
    cast(date_trunc('{{ grain }}', {{ date_expr }}) as date)
{%- endmacro %}

{% macro period_label(grain, date_expr) -%}
    {%- if grain == 'year' -%}
        cast(cast(extract(year from {{ date_expr }}) as integer) as varchar)
    {%- elif grain == 'quarter' -%}
        cast(cast(extract(year from {{ date_expr }}) as integer) as varchar)
        || '-Q' || cast(cast(extract(quarter from {{ date_expr }}) as integer) as varchar)
    {%- elif grain == 'month' -%}
        cast(cast(extract(year from {{ date_expr }}) as integer) as varchar)
        || '-' || lpad(cast(cast(extract(month from {{ date_expr }}) as integer) as varchar), 2, '0')
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown period grain " ~ grain) }}
    {%- endif -%}
{%- endmacro %}

{#- Period grouping for city x period marts, in one pass (GROUPING SETS) rather than one
    copy of every row per grain: `period_starts` adds the start of the row's year, quarter and
    month; group by `period_grouping_sets(key)`; `period_of_group()` then names the period
    of each group (period_type 'all' | 'year' | 'quarter' | 'month', period_start) and
    `period_label_of(type, start)` labels it ('all', '2025', '2025-Q2', '2025-05'). -#}
{% macro period_starts(date_expr) -%}
    {{ period_start('year', date_expr) }} as year_start,
    {{ period_start('quarter', date_expr) }} as quarter_start,
    {{ period_start('month', date_expr) }} as month_start
{%- endmacro %}

{% macro period_grouping_sets(key) -%}
    grouping sets (
        ({{ key }}),
        ({{ key }}, year_start),
        ({{ key }}, quarter_start),
        ({{ key }}, month_start)
    )
{%- endmacro %}

{% macro period_of_group() -%}
    case
        when grouping(month_start) = 0 then 'month'
        when grouping(quarter_start) = 0 then 'quarter'
        when grouping(year_start) = 0 then 'year'
        else 'all'
    end as period_type,
    case
        when grouping(month_start) = 0 then month_start
        when grouping(quarter_start) = 0 then quarter_start
        when grouping(year_start) = 0 then year_start
    end as period_start
{%- endmacro %}

{% macro period_label_of(type_expr, start_expr) -%}
    case {{ type_expr }}
        when 'all' then 'all'
        when 'year' then {{ period_label('year', start_expr) }}
        when 'quarter' then {{ period_label('quarter', start_expr) }}
        when 'month' then {{ period_label('month', start_expr) }}
    end
{%- endmacro %}
