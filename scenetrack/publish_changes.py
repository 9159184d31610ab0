"""Bring a copy of the live published file to the work database's state, writing only what
changed.

A publish used to copy every mart into a new file, so its cost grew with the years of
history rather than with the submission that triggered it. The candidate now starts as a
byte copy of the live file (``scenetrack.publish``) and this module changes each mart in it
the cheapest way it can prove equal to the work database's mart:

* an **incremental** mart (dbt's manifest says ``materialized: incremental`` with a
  ``unique_key``, and each row carries the number of the dbt run that wrote it,
  ``dbt_run_seq``): every key the work mart rewrote after the copy's highest run number is
  deleted and its rows inserted; keys the work mart dropped (the watchlist's post-hook
  removes projects) are removed when the row counts say some are left over. The mart is then
  checked against the work mart (its :func:`fingerprint`); any difference and it is copied
  whole;
* **any other** mart is kept when its fingerprint equals the one the live file recorded, and
  copied whole when not; a mart whose columns changed is copied whole, a mart the work
  database no longer has is dropped.

A mart unchanged keeps its bytes, so the Parquet copy of it need not be written again either
(``scenetrack.publish._export_parquet`` compares the fingerprints).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from scenetrack import progress
from scenetrack.faults import checkpoint

RUN_SEQ_COLUMN = "dbt_run_seq"
"""The column every incremental model fills with its dbt run's number (the macro
``this_run_seq``): rows numbered above a copy's highest are the rows it lacks."""


@dataclass(frozen=True)
class MartChange:
    """What a publish did to one mart of the candidate, and the mart it left."""

    table: str
    how: str  # kept | rows | copied | dropped
    rows: int
    fingerprint: str


def incremental_keys(manifest: Path, schema: str) -> dict[str, str]:
    """The marts of ``schema`` dbt builds incrementally, each with its unique key, read from
    dbt's ``manifest.json`` (empty when there is none: every mart is then compared whole)."""
    if not manifest.exists():
        return {}
    keys: dict[str, str] = {}
    for node in json.loads(manifest.read_bytes())["nodes"].values():
        config = node["config"]
        key = config.get("unique_key")
        if (
            node.get("resource_type") == "model"
            and node.get("schema") == schema
            and config.get("materialized") == "incremental"
            and isinstance(key, str)
        ):
            keys[node.get("alias") or node["name"]] = key
    return keys


def fingerprint(con: duckdb.DuckDBPyConnection, relation: str, key: str | None) -> str:
    """The row count and a sum of row hashes of ``relation``: equal fingerprints, equal marts.

    With ``key`` (an incremental mart) only the key and the run number are hashed: a row is
    never changed without being written again by a newer run, so the pair names the row's
    content; reading two columns instead of all of them keeps the check cheap.
    """
    hashed = f'hash("{key}", {RUN_SEQ_COLUMN})' if key else "hash(r)"
    prefix = "k" if key else "r"
    n, total = con.execute(
        f"select count(*), coalesce(sum({hashed}), 0) from {relation} r"
    ).fetchone()
    return f"{prefix}:{n}:{total}"


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str) -> dict[str, list]:
    rows = con.execute(
        "select table_name, column_name, data_type from duckdb_columns() "
        "where database_name = ? and schema_name = ? order by table_name, column_index",
        [database, schema],
    ).fetchall()
    tables: dict[str, list] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def _count(con: duckdb.DuckDBPyConnection, relation: str) -> int:
    return con.execute(f"select count(*) from {relation}").fetchone()[0]


def _copy_whole(con: duckdb.DuckDBPyConnection, table: str, source: str) -> None:
    con.execute(f'drop table if exists main."{table}"')
    con.execute(f'create table main."{table}" as select * from {source}')


def _apply_rows(con: duckdb.DuckDBPyConnection, table: str, source: str, key: str) -> bool:
    """Write into ``main.<table>`` the rows ``source`` numbered above the copy's highest run,
    replacing every row of their keys, and drop the keys ``source`` no longer has. Returns
    whether anything changed."""
    target = f'main."{table}"'
    (high,) = con.execute(f"select coalesce(max({RUN_SEQ_COLUMN}), 0) from {target}").fetchone()
    newer = f"(select * from {source} where {RUN_SEQ_COLUMN} > {int(high)})"
    (deleted,) = con.execute(
        f'delete from {target} where "{key}" in (select "{key}" from {newer})'
    ).fetchone()
    (inserted,) = con.execute(f"insert into {target} select * from {newer}").fetchone()
    changed = bool(deleted or inserted)
    if _count(con, target) != _count(con, source):
        (dropped,) = con.execute(
            f'delete from {target} where "{key}" not in (select "{key}" from {source})'
        ).fetchone()
        changed = changed or bool(dropped)
    return changed


def bring_up_to_date(
    con: duckdb.DuckDBPyConnection,
    source_schema: str,
    keys: dict[str, str],
    recorded: dict[str, str],
) -> list[MartChange]:
    """Make every table of ``main`` equal the mart of the same name in ``source_schema``
    (``database.schema`` of the attached work database).

    ``keys``: the incremental marts and their unique keys (:func:`incremental_keys`);
    ``recorded``: the fingerprints the live file recorded when it was published (saves reading
    an unchanged mart twice). Returns one change per mart, in name order, and those dropped.
    """
    database, schema = source_schema.split(".")
    wanted = _columns(con, database, schema)
    if not wanted:
        raise RuntimeError("the work database holds no marts: run dbt build first")
    present = _columns(con, con.execute("select current_database()").fetchone()[0], "main")
    changes: list[MartChange] = []
    for table in progress.track(sorted(wanted), "publish: copy marts", "marts", note=str):
        source = f'{source_schema}."{table}"'
        target = f'main."{table}"'
        columns = [name for name, _ in wanted[table]]
        key = keys.get(table) if RUN_SEQ_COLUMN in columns and keys.get(table) in columns else None
        want = fingerprint(con, source, key)
        if present.get(table) != wanted[table]:
            how = "copied"
        elif key is not None:
            how = "rows" if _apply_rows(con, table, source, key) else "kept"
            if fingerprint(con, target, key) != want:
                how = "copied"
        else:
            live = recorded.get(table) or fingerprint(con, target, None)
            how = "kept" if live == want else "copied"
        if how == "copied":
            _copy_whole(con, table, source)
        changes.append(MartChange(table, how, _count(con, target), want))
        checkpoint("publish:in_candidate")
    for table in sorted(set(present) - set(wanted) - {"publish_info"}):
        con.execute(f'drop table main."{table}"')
        changes.append(MartChange(table, "dropped", 0, ""))
    return changes
