{#- The `fraction` percentile (continuous) of `column`, as an aggregate. `fractions` lists every
    percentile the model takes of the same column: DuckDB computes them in one sort
    (quantile_cont over a list, one aggregate the optimizer shares between the columns that
    index it), where percentile_cont ... within group sorts once per percentile. Other
    adapters (PostgreSQL) use the standard percentile_cont. -#}
{% macro percentile(column, fraction, fractions) -%}
    {{ return(adapter.dispatch('percentile')(column, fraction, fractions)) }}
{%- endmacro %}

{% macro default__percentile(column, fraction, fractions) -%}
    percentile_cont({{ fraction }}) within group (order by {{ column }})
{%- endmacro %}

{% macro duckdb__percentile(column, fraction, fractions) -%}
    quantile_cont({{ column }}, [{{ fractions | join(', ') }}])[{{ fractions.index(fraction) + 1 }}]
{%- endmacro %}
