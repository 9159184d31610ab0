{#- dbt's documented hook for a data test's `where` config, extended with one placeholder.

    A test configured with `where: "dbt_updated_at >= __since_last_passing_build__"` checks
    only the rows written since the last dbt build in which every test passed, when the
    pipeline passes that build's start in env var SCENETRACK_LAST_PASSING_BUILD
    (scenetrack.transform.dbt_build does). Without it (a plain `dbt build` or `dbt test`,
    Cosmos, CI) the placeholder's test reads the whole model, as dbt's own macro would.

    Why this is sound for the tests it is used on (row-local tests: not_null, accepted_values;
    and unique on a key of a delete+insert model whose unique_key contains that key, so all rows
    of a key are written together):
      * such a test can only start failing on a row that some run wrote, and every run stamps
        the rows it writes with its start (dbt_updated_at);
      * the rows written up to the last passing build passed that build's tests or an earlier
        one's, and rows are never changed without being rewritten (and restamped);
      * a build that fails leaves the recorded build where it was, so its rows stay in scope
        until a build passes: a failure cannot be forgotten by the next, narrower run.
    Tests that read another relation (relationships) are never scoped. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__since_last_passing_build__' in where -%}
        {#- read when the test runs, not when it is parsed: a value that changes every build
            would otherwise make dbt re-parse the project each time -#}
        {%- set since = env_var('SCENETRACK_LAST_PASSING_BUILD', '') if execute else '' -%}
        {%- if not since -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- set where = where | replace(
            '__since_last_passing_build__', "cast('" ~ since ~ "' as timestamp)") -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
