"""The evaluator report on the PostgreSQL target: the same pages, read from ``published``.

The report's readers (:mod:`scenetrack.report.data`) query a DuckDB file. On PostgreSQL,
:func:`snapshot_published` copies every table of ``published`` into
``<home>/published/postgres_snapshot.duckdb`` from one ``REPEATABLE READ, READ ONLY``
transaction (one version, never a mix; columns typed as the gate reads them,
:func:`scenetrack.postgres.gate.read_frame`), swapped in with ``os.replace``; the report then
renders from that file exactly as on DuckDB. The quality panel takes the last gate run and its
failed checks from PostgreSQL's ``audit.gate_results`` (the gate stores them there) and the
quarantine from the local intake database, where it is written first.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
from psycopg import sql

from scenetrack.config import Paths, PgTarget
from scenetrack.postgres import connect
from scenetrack.postgres.gate import read_frame

SNAPSHOT_NAME = "postgres_snapshot.duckdb"


def snapshot_path(p: Paths) -> Path:
    return p.published_dir / SNAPSHOT_NAME


def snapshot_published(p: Paths, target: PgTarget) -> Path:
    """Copy the live ``published`` schema into a local DuckDB file (see module doc)."""
    dest = snapshot_path(p)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}")
    duck = duckdb.connect(str(tmp))
    try:
        with connect(target) as con:
            con.execute("set transaction isolation level repeatable read, read only")
            with con.cursor() as cur:
                tables = [
                    r[0]
                    for r in cur.execute(
                        "select tablename from pg_tables where schemaname = 'published' order by 1"
                    ).fetchall()
                ]
                if "publish_info" not in tables:
                    raise RuntimeError("nothing is published yet (PostgreSQL schema published)")
                for t in tables:
                    q = sql.SQL("select * from {}").format(sql.Identifier("published", t))
                    frame = read_frame(cur, q.as_string(con))  # noqa: F841 - read by DuckDB
                    duck.execute(f'create table main."{t}" as select * from frame')
            con.rollback()
        duck.execute("checkpoint")
    except BaseException:
        duck.close()
        tmp.unlink(missing_ok=True)
        raise
    duck.close()
    os.replace(tmp, dest)
    return dest


def read_quality_pg(target: PgTarget, q):
    """The quality panel ``q`` as read from the local work DB (quarantine, holds), completed
    with the gate outcome and failed checks from PostgreSQL (the caller reads the local part,
    so this module does not import the report's readers back)."""
    from scenetrack.postgres.gate import last_gate_run

    gate = last_gate_run(target)
    if gate is None:
        return q
    with connect(target, autocommit=True) as con:
        cur = con.execute(
            "select severity, suite, expectation, column_name, observed_value, "
            "unexpected_count, notes from audit.gate_results where run_id = %s and not success "
            "order by severity = 'warn', suite, expectation, column_name",
            [gate["run_id"]],
        )
        names = [d.name for d in cur.description]
        q.problems = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        run_at, checks = con.execute(
            "select max(run_at), count(*) from audit.gate_results where run_id = %s",
            [gate["run_id"]],
        ).fetchone()
    q.available = True
    q.reason = None
    q.gate = {
        **gate,
        "run_at": run_at.isoformat(sep=" ") if run_at else None,
        "checks": int(checks),
    }
    return q
