"""``audit.gate_results``: its DDL, one row per outcome (shared by the DuckDB and PostgreSQL
stores), storing a run's outcomes and verdict in DuckDB, and the last run for
``scenetrack status``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from scenetrack.faults import checkpoint
from scenetrack.gate.types import ExpectationOutcome, passed

GATE_RESULTS_DDL = """
create schema if not exists audit;
create table if not exists audit.gate_results (
    run_id varchar not null,
    run_at timestamp not null,
    suite varchar not null,
    expectation varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    unexpected_sample varchar,
    notes varchar
);
alter table audit.gate_results add column if not exists cities varchar;
"""


GATE_RESULT_COLUMNS = (
    "run_id, run_at, suite, expectation, column_name, severity, success, observed_value, "
    "unexpected_count, unexpected_sample, notes, cities"
)


def insert_gate_results_sql(placeholder: str) -> str:
    """The INSERT into ``audit.gate_results`` with the driver's placeholder (``?`` or ``%s``)."""
    values = ", ".join([placeholder] * len(GATE_RESULT_COLUMNS.split(",")))
    return f"insert into audit.gate_results ({GATE_RESULT_COLUMNS}) values ({values})"


def gate_result_rows(
    run_id: str, run_at: datetime, outcomes: Sequence[ExpectationOutcome]
) -> list[tuple]:
    """One ``audit.gate_results`` row per outcome, in :data:`GATE_RESULT_COLUMNS` order; shared
    by the DuckDB and PostgreSQL stores."""
    return [
        (
            run_id,
            run_at,
            o.suite,
            o.expectation,
            o.column,
            o.severity,
            o.success,
            o.observed_value,
            o.unexpected_count,
            o.unexpected_sample,
            o.notes,
            None if o.cities is None else json.dumps(list(o.cities)),
        )
        for o in outcomes
    ]


def _store(
    work_db: Path,
    run_id: str,
    run_at: datetime,
    outcomes: Sequence[ExpectationOutcome],
    fingerprint: dict[str, Any],
):
    """Append this run's outcomes to ``audit.gate_results`` and its verdict with the
    fingerprint of what it validated to ``audit.gate_runs`` (see scenetrack.audited), in one
    transaction.

    Rows of an earlier attempt with the same ``run_id`` (an Airflow retry) are replaced, so a
    run is never counted twice.
    """
    from scenetrack import audited

    con = duckdb.connect(str(work_db))
    try:
        con.execute(GATE_RESULTS_DDL)
        con.execute(audited.GATE_RUNS_DDL)
        con.execute("begin transaction")
        con.execute("delete from audit.gate_results where run_id = ?", [run_id])
        con.executemany(insert_gate_results_sql("?"), gate_result_rows(run_id, run_at, outcomes))
        audited.record(con, run_id, run_at, passed(outcomes), fingerprint)
        checkpoint("gate:before_commit")
        con.execute("commit")
    finally:
        con.close()


def last_gate_outcome(work_db: Path) -> dict | None:
    """For ``scenetrack status``: run_id, run_at (ISO, UTC), passed, number of failures/warnings.

    Reads through a read-only connection; returns None if the database or the audit table does
    not exist yet. A DuckDB ``IOException`` (a writer holds the file) is left to the caller.
    """
    if not Path(work_db).exists():
        return None
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'audit' and table_name = 'gate_results'"
        ).fetchone()
        if not exists or not exists[0]:
            return None
        row = con.execute(
            """
            with last_run as (
                select run_id from audit.gate_results
                group by run_id order by max(run_at) desc, run_id desc limit 1
            )
            select
                r.run_id,
                max(r.run_at),
                count(*) filter (where not r.success and r.severity = 'error'),
                count(*) filter (where not r.success and r.severity = 'warn'),
                count(*)
            from audit.gate_results as r
            inner join last_run using (run_id)
            group by r.run_id
            """
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    run_id, run_at, failures, warnings, checked = row
    return {
        "run_id": run_id,
        "run_at": run_at.isoformat(sep=" ") if run_at is not None else None,
        "passed": failures == 0,
        "failures": int(failures),
        "warnings": int(warnings),
        "checks": int(checked),
    }
