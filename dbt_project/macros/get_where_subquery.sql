{#- dbt's documented hook for a data test's `where` config, extended with one placeholder.

    A test configured with `where: "dbt_run_seq > __last_passing_build__"` checks only the
    rows written by dbt runs numbered after the last build in which every test passed ("new
    rows"; runs are numbered by record_dbt_run), when the pipeline names that build's
    invocation id in env var SCENETRACK_LAST_PASSING_BUILD (scenetrack.transform.dbt_build
    does). A `unique` test names its key instead: `where: "k in (select k from __model__ where
    dbt_run_seq > __last_passing_build__)"` reads every row, old or new, of the keys that have
    a new row. Without the env var (a plain `dbt build` or `dbt test`, Cosmos, CI), or with an
    id audit.dbt_runs does not know, the test reads the whole model, as dbt's own macro
    would.

    Why this is sound:
      * not_null and accepted_values are about one row: they can only start failing on a row
        some run wrote, and every run stamps the rows it writes with its start (dbt_updated_at);
      * a duplicate key has at least one new row (then its key is read with all its rows) or
        only old rows;
      * old rows, numbered up to the last passing build, existed during that build and passed
        its tests or an earlier one's (the first build has no record and reads everything);
        rows are never changed without being rewritten (and renumbered); writers take the
        home's lock in turn, so a later run gets a higher number;
      * a build that fails leaves the record where it was, so its rows stay in scope until a
        build passes: a failure cannot be forgotten by the next, narrower run.
      * a relationships test is scoped on its child side: an old child row found its parent
        when it was checked, and no incremental run removes a parent row (the parents are
        seeds, dimensions rebuilt from seeds, and fct_project_lifecycle, which deletes a key
        only to insert it again); what can remove one - a changed seed or model, or a changed
        set of held submissions - makes the pipeline's build a full refresh
        (scenetrack.pipeline.build), whose tests read every row. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__last_passing_build__' in where -%}
        {#- read when the test runs, not when it is parsed: a value that changes every build
            would otherwise make dbt re-parse the project each time -#}
        {%- set build = env_var('SCENETRACK_LAST_PASSING_BUILD', '') if execute else '' -%}
        {%- if not modules.re.fullmatch('[0-9a-fA-F-]{36}', build) -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- set last_passing = "coalesce((select run_seq from audit.dbt_runs "
            ~ "where invocation_id = '" ~ build ~ "'), 0)" -%}
        {%- set where = where
            | replace('__last_passing_build__', last_passing)
            | replace('__model__', relation | string) -%}
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
