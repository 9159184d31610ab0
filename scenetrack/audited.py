"""Publish exactly what the gate validated (write-audit-publish across separate steps).

Build, gate and publish take the writer lock one after the other (and are separate Airflow
tasks), so something can run between the gate and the publish: another build that brings in a
file the gate never saw. The gate therefore records a *fingerprint* of what it validated, taken
under the lock before it reads anything: the number of the last dbt run that wrote models
(``audit.dbt_runs``, numbered by the dbt project's ``on-run-start`` hook) and every mart's row
count. Only dbt writes the marts, and every dbt run that can write them takes a new number, so
an unchanged fingerprint means unchanged marts; the row counts also catch a mart edited by
hand. Publish refuses, before it builds anything, a gate run that is unknown, did not pass, or
whose fingerprint is no longer the work database's.

The same SQL serves the DuckDB work database and the PostgreSQL warehouse (both connections
have ``execute(...).fetchall()``); ``?``/``%s`` placeholders are the driver's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

GATE_RUNS_DDL = """
create schema if not exists audit;
create table if not exists audit.gate_runs (
    run_id varchar primary key,
    run_at timestamp not null,
    passed boolean not null,
    fingerprint varchar not null
)"""

MARTS_SCHEMA = "marts"


class PublishRefusedError(RuntimeError):
    """Publish was asked for something the gate did not validate: nothing was published."""


def _exists(con: Any, schema: str, table: str, placeholder: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            f"where table_schema = {placeholder} and table_name = {placeholder}",
            [schema, table],
        ).fetchone()[0]
    )


def fingerprint(con: Any, placeholder: str = "?") -> dict[str, Any]:
    """The last model-writing dbt run's number and each mart's row count, right now; and,
    for the record only (per-city holdback asks which files came after a published version),
    the highest load number in the ledger."""
    run = loaded = None
    if _exists(con, "audit", "dbt_runs", placeholder):
        run = con.execute("select max(run_seq) from audit.dbt_runs").fetchone()[0]
    if _exists(con, "raw", "file_ledger", placeholder):
        loaded = con.execute("select max(load_id) from raw.file_ledger").fetchone()[0]
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables "
            f"where table_schema = {placeholder} and table_type = 'BASE TABLE' "
            "order by table_name",
            [MARTS_SCHEMA],
        ).fetchall()
    ]
    counts = {
        t: int(con.execute(f'select count(*) from {MARTS_SCHEMA}."{t}"').fetchone()[0])
        for t in tables
    }
    return {
        "dbt_run_seq": None if run is None else int(run),
        "marts": counts,
        "loaded_through": None if loaded is None else int(loaded),
    }


def record(
    con: Any,
    run_id: str,
    run_at: datetime,
    passed: bool,
    fp: dict[str, Any],
    placeholder: str = "?",
) -> None:
    """Store one gate run's verdict and fingerprint in ``audit.gate_runs`` (an Airflow retry
    of the gate replaces its earlier row); ``con`` is a DuckDB connection or a psycopg cursor,
    in the caller's transaction."""
    con.execute(f"delete from audit.gate_runs where run_id = {placeholder}", [run_id])
    con.execute(
        "insert into audit.gate_runs (run_id, run_at, passed, fingerprint) "
        f"values ({placeholder}, {placeholder}, {placeholder}, {placeholder})",
        [run_id, run_at, passed, json.dumps(fp, sort_keys=True)],
    )


def passing_runs(con: Any, placeholder: str = "?") -> list[tuple[Any, dict[str, Any]]]:
    """Every passing gate run's time and fingerprint, newest first (none before the table)."""
    if not _exists(con, "audit", "gate_runs", placeholder):
        return []
    rows = con.execute(
        "select run_at, fingerprint from audit.gate_runs where passed "
        "order by run_at desc, run_id desc"
    ).fetchall()
    return [(run_at, json.loads(fp)) for run_at, fp in rows]


def loaded_through(
    connection: Callable[[], AbstractContextManager[Any]],
    gate_run_id: str | None,
    placeholder: str = "?",
) -> int:
    """The highest load number gate run ``gate_run_id`` had in its ledger (0: unknown, or no
    run): every file with a higher number came after what that run validated."""
    if gate_run_id is None:
        return 0
    with connection() as con:
        if not _exists(con, "audit", "gate_runs", placeholder):
            return 0
        row = con.execute(
            f"select fingerprint from audit.gate_runs where run_id = {placeholder}",
            [gate_run_id],
        ).fetchone()
    return int(json.loads(row[0]).get("loaded_through") or 0) if row else 0


def _differences(validated: dict[str, Any], now: dict[str, Any]) -> list[str]:
    diffs = []
    if validated.get("dbt_run_seq") != now.get("dbt_run_seq"):
        diffs.append(
            f"dbt run {validated.get('dbt_run_seq')} was validated, the marts are now from "
            f"dbt run {now.get('dbt_run_seq')}"
        )
    before, after = validated.get("marts", {}), now.get("marts", {})
    for t in sorted(set(before) | set(after)):
        if before.get(t) != after.get(t):
            diffs.append(f"{t}: {before.get(t)} rows validated, {after.get(t)} now")
    return diffs


def verify(
    connection: Callable[[], AbstractContextManager[Any]], gate_run_id: str, placeholder: str = "?"
) -> None:
    """Raise :class:`PublishRefusedError` unless gate run ``gate_run_id`` passed and validated
    what the warehouse holds now. ``connection()`` opens a (read-only) connection."""
    with connection() as con:
        row = None
        if _exists(con, "audit", "gate_runs", placeholder):
            row = con.execute(
                f"select passed, fingerprint from audit.gate_runs where run_id = {placeholder}",
                [gate_run_id],
            ).fetchone()
        now = fingerprint(con, placeholder) if row is not None else None
    if row is None:
        raise PublishRefusedError(
            f"refusing to publish: gate run {gate_run_id!r} is not recorded in audit.gate_runs "
            "(was the gate run on this warehouse?). Run `scenetrack run`: build, gate, publish."
        )
    passed, validated = row[0], json.loads(row[1])
    if not passed:
        raise PublishRefusedError(
            f"refusing to publish: gate run {gate_run_id} did not pass. Fix the data (see "
            "`scenetrack status` and expectations/README.md), then `scenetrack run`."
        )
    diffs = _differences(validated, now)
    if diffs:
        raise PublishRefusedError(
            f"refusing to publish: the marts changed after gate run {gate_run_id} validated "
            f"them ({'; '.join(diffs)}); nothing was published. Run the gate on what is there "
            "now: `scenetrack run` (or let the next scenetrack_transform run do it)."
        )
