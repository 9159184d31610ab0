"""Reference look-ups for normalisation, read from the dbt seeds (one source of truth).

The same CSVs that ``dbt seed`` loads as ``dim_city`` and ``value_aliases`` resolve city
names and code synonyms at intake, so a city known to the marts is known to ingestion.
"""

from __future__ import annotations

import duckdb

from scenetrack.config import SEEDS_DIR


def register_reference(con: duckdb.DuckDBPyConnection) -> None:
    """Temp tables ``ref_city(alias_key, city_code)`` and ``ref_alias(kind, alias_key, code)``.

    Built once per connection: a batch of files reuses them.
    """
    exists = con.execute(
        "select count(*) from duckdb_tables() where temporary and table_name = 'ref_alias'"
    ).fetchone()[0]
    if exists:
        return
    city = (SEEDS_DIR / "ref_cities.csv").as_posix()
    aliases = (SEEDS_DIR / "value_aliases.csv").as_posix()
    con.execute(
        f"""
        create or replace temp table ref_city as
        with c as (select * from read_csv('{city}', all_varchar = true, header = true))
        select distinct alias_key, city_code from (
            select lower(name_zh) as alias_key, city_code from c
            union all select lower(name_zh) || '市', city_code from c
            union all select lower(replace(name_en, ' ', '')), city_code from c
            union all select city_code, city_code from c
        )
        """
    )
    con.execute(
        f"""
        create or replace temp table ref_alias as
        select distinct kind, lower(replace(trim(alias), ' ', '')) as alias_key, code
        from read_csv('{aliases}', all_varchar = true, header = true)
        """
    )
