"""Reference look-ups for normalisation, read from the dbt seeds (one source of truth).

The same CSVs that ``dbt seed`` loads as ``dim_city`` and ``value_aliases`` resolve city
names and code synonyms at intake, so a city known to the marts is known to ingestion.

City names a clerk may write, for every row of ``ref_cities.csv``: the Chinese name (with or
without 市), the English name, the 6-digit code, the province and the city together
(江苏苏州, 江苏省苏州市, "Suzhou, Jiangsu", "Jiangsu Suzhou", Suzhou-Anhui), plus the extra
names of ``ingestion/city_aliases.csv`` (former names, 雄安新区). All are compared through
:func:`ingestion.normalise.city_key`. A name that would fit two cities (plain "Suzhou" is
苏州 and 宿州; "Fuzhou" is 福州 and 抚州) resolves to none: the row is quarantined as
``unknown_city`` rather than silently given to one of them.
"""

from __future__ import annotations

import re
import weakref
from functools import cache
from pathlib import Path

import duckdb
import yaml

from ingestion.locations import dbt_project_dir, seeds_dir
from ingestion.normalise import city_key, lookup_key_of

CITY_ALIASES_FILE = Path(__file__).with_name("city_aliases.csv")


def city_name_candidates_sql() -> str:
    """SELECT of (name, city_code) pairs: every way a city may be written, before keying.

    The two files it reads are the named parameters ``$cities`` and ``$city_aliases``
    (:func:`reference_files`), never pasted into the SQL.
    """
    return """
        with c as (
            select *, regexp_replace(name_en, '-.*$', '') as base_en
            from read_csv($cities, all_varchar = true, header = true)
        )
        select name_zh as name, city_code from c
        union all select name_en, city_code from c
        union all select base_en, city_code from c
        union all select city_code, city_code from c
        union all select province_zh || name_zh, city_code from c
        union all select province_zh || '省' || name_zh, city_code from c
        union all select base_en || province_en, city_code from c
        union all select province_en || base_en, city_code from c
        union all select alias, city_code
            from read_csv($city_aliases, all_varchar = true, header = true)
    """


def reference_files() -> dict[str, str]:
    """The named parameters of the reference SQL: the seed files it reads."""
    return {
        "cities": (seeds_dir() / "ref_cities.csv").as_posix(),
        "city_aliases": CITY_ALIASES_FILE.as_posix(),
        "value_aliases": (seeds_dir() / "value_aliases.csv").as_posix(),
    }


# Connections that already hold the reference tables (weakly: a closed, dropped connection
# leaves the set by itself), so a file does not pay a catalog query to find them there.
_REGISTERED: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


def register_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables ``ref_city(alias_key, city_code)`` and ``ref_alias(kind, alias_key, code)``.

    Built once per connection: every later file (and call) on it reuses them.
    """
    if con in _REGISTERED:
        return
    exists = con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = 'ref_alias'"
    ).fetchone()[0]
    if exists:
        _REGISTERED.add(con)
        return
    files = reference_files()
    con.execute(
        f"""
        create or replace temp table ref_city as
        select alias_key, min(city_code) as city_code
        from (
            select {city_key("name")} as alias_key, city_code
            from ({city_name_candidates_sql()})
        )
        where alias_key is not null
        group by alias_key
        having count(distinct city_code) = 1
        """,
        {k: files[k] for k in ("cities", "city_aliases")},
    )
    con.execute(
        """
        create or replace temp table ref_alias as
        select distinct kind, lower(replace(trim(alias), ' ', '')) as alias_key, code
        from read_csv($value_aliases, all_varchar = true, header = true)
        """,
        {"value_aliases": files["value_aliases"]},
    )
    _REGISTERED.add(con)


def resolve_city(con: duckdb.DuckDBPyConnection, text: str) -> str | None:
    """The code of a city as an operator or a folder names it (合肥, Hefei, 340100), or None."""
    register_reference(con)
    row = con.execute(
        "select city_code from ref_city, (select ?::varchar as v) "
        f"where alias_key = {city_key('v')}",
        [text],
    ).fetchall()
    return row[0][0] if row else None


@cache
def technology_separators() -> tuple[str, ...]:
    """What separates several technologies named in one cell (物联网+AI, 人工智能、机器人):
    the dbt var ``technology_separators`` (dbt_project.yml), one list for staging and intake."""
    project = yaml.safe_load((dbt_project_dir() / "dbt_project.yml").read_text(encoding="utf-8"))
    return tuple(project["vars"]["technology_separators"])


def technology_split_pattern() -> str:
    """A regular expression matching any of :func:`technology_separators`."""
    return "[" + "".join(re.escape(s) for s in technology_separators()) + "]"


def unmapped_values_sql(table: str, where: str, lines_repeat: bool = False) -> str:
    """SELECT (column_name, value, rows) of the domain and technology wordings of ``table``'s
    rows matching ``where`` that no alias of the ``value_aliases`` seed maps (they load as
    ``unclassified``): each technology of a cell that names several counts on its own. The
    same rule as dbt staging (macros/descriptive_codes.sql). Counted per distinct wording
    first, so a million rows cost one aggregation and the split runs on a few hundred cells;
    ``lines_repeat``: a line may give several rows (a register row's events), so rows are
    distinct lines."""
    pattern = technology_split_pattern().replace("'", "''")
    count = "count(distinct source_line)" if lines_repeat else "count(*)"
    return f"""
        with rows as (
            select source_line, domain_raw, technology_raw from {table} where {where}
        ),
        domains as (
            select domain_raw as cell, {count} as n from rows
            where domain_raw is not null group by domain_raw
        ),
        cells as (
            select technology_raw as cell, {count} as n from rows
            where technology_raw is not null group by technology_raw
        ),
        parts as (
            select 'domain' as column_name, trim(cell) as value, n from domains
            union all
            select 'technology', trim(part), n
            from (select unnest(string_split_regex(cell, '{pattern}')) as part, n from cells)
        )
        select p.column_name, p.value, sum(p.n) as rows
        from parts as p
        left join ref_alias as a
            on a.kind = p.column_name and a.alias_key = {lookup_key_of("p.value")}
        where p.value <> '' and a.code is null
        group by all
        order by rows desc, p.column_name, p.value
    """
