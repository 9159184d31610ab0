{#- Descriptive vocabulary: domain and technology arrive as the city wrote them (raw
    domain_raw/technology_raw) and get their codes here, from the value_aliases seed. A wording
    no alias knows is code 'unclassified' with its text kept, never a lost row. Several
    technologies in one cell (物联网+AI, 人工智能、机器人, AI/大数据) are split on the separators of
    var technology_separators; the first named is the primary one. Intake counts the same
    unmapped wordings for its receipts (ingestion.reference.unmapped_values_sql). Portable
    between DuckDB and PostgreSQL (regexp_replace with 'g', split_part, trim). -#}

{#- The comparable form of a wording: lower-case, without spaces (as intake compares). -#}
{% macro alias_key(expr) -%}
    lower(replace(trim({{ expr }}), ' ', ''))
{%- endmacro %}

{#- The code of a wording no alias maps. -#}
{% macro unclassified() -%}
    'unclassified'
{%- endmacro %}

{#- A cell's technologies separated by '|': every run of separators (and the blanks around it)
    is one '|', none at either end. -#}
{% macro technology_list(expr) -%}
    {%- set seps = var('technology_separators') | join('') -%}
    trim(both '|' from regexp_replace({{ expr }}, '[[:space:]]*[{{ seps }}][[:space:]{{ seps }}]*', '|', 'g'))
{%- endmacro %}

{#- The n-th technology a cell names (1: the primary one), NULL past the last. `n` may be a
    column (bridge_project_technologies), which dbt's split_part macro refuses on PostgreSQL
    (it compares the number with 0 at compile time), so the function both engines share is
    called directly: split_part(text, '|', n) is '' past the last part in DuckDB and
    PostgreSQL alike. -#}
{% macro technology_part(expr, n) -%}
    nullif(trim(split_part({{ technology_list(expr) }}, '|', {{ n }})), '')
{%- endmacro %}

{#- `left join` the aliases of one kind (domain, technology) on a wording, as `alias`. -#}
{% macro join_alias(kind, expr, alias) -%}
    left join (
        select {{ alias_key('alias') }} as alias_key, min(code) as code
        from {{ ref('value_aliases') }}
        where kind = '{{ kind }}'
        group by {{ alias_key('alias') }}
    ) as {{ alias }}
        on {{ alias }}.alias_key = {{ alias_key(expr) }}
{%- endmacro %}

{#- The code of a wording joined by join_alias: NULL when nothing was written. -#}
{% macro code_of(alias, expr) -%}
    case when {{ expr }} is not null then coalesce({{ alias }}.code, {{ unclassified() }}) end
{%- endmacro %}

{#- 1 .. var max_technologies_per_cell, as a relation (part_number). -#}
{% macro technology_positions() -%}
    {%- for i in range(1, var('max_technologies_per_cell') + 1) %}
    select {{ i }} as part_number{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{%- endmacro %}
