{#- dbt_utils.unique_combination_of_columns, written here because `dbt deps` cannot reach
    the package hub from this platform's machines. -#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
with grouped as (
    select {{ combination_of_columns | join(', ') }}, count(*) as n
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
)
select * from grouped where n > 1
{% endtest %}
