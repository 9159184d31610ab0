"""Write-audit-publish on PostgreSQL: schema ``published`` is replaced in one transaction.

dbt builds the audited marts into schema ``marts``; after a passing gate this module, holding
an advisory lock (one publisher at a time, across machines):

1. copies every table of ``marts`` into a fresh schema ``published_next`` (``CREATE TABLE …
   AS TABLE marts.x``), with the table and column comments dbt persisted (``persist_docs``),
   adds ``publish_info`` (version, published_at, gate_run_id) and COMMITs that. Readers are
   unaffected (they read ``published``; ``bi_reader`` has no access to ``published_next``).
   Committing the rows *before* the swap matters: a REPEATABLE READ reader whose snapshot is
   taken while the swap holds its locks resolves the new tables after it, and would see them
   empty if their rows were committed by the swap itself (PostgreSQL DDL is not MVCC-safe).
2. then, in ONE short transaction: takes ACCESS EXCLUSIVE locks on the tables of the live
   ``published`` between readers' statements (:func:`_lock_live`; queries already running
   finish first, new ones wait the few milliseconds the swap takes); drops the previous
   ``published_old``; renames ``published`` → ``published_old`` (revoking BI access) and
   ``published_next`` → ``published``; grants ``bi_reader`` SELECT on it (grants belong to
   the schema object, so they are re-granted every swap); records the version in
   ``audit.publish_log``; COMMIT.

Until that COMMIT every other session sees the old ``published`` in full, after it the new
one in full; a failure in either step (or a gate that never let us get here) leaves the last
good ``published`` untouched (a leftover ``published_next`` is dropped by the next publish).
A deadlock with a long multi-statement reader, or a lock wait past
``SCENETRACK_PG_LOCK_TIMEOUT``, aborts the attempt cleanly and it is retried.
Residual caveat: a REPEATABLE READ transaction whose snapshot predates step 1's COMMIT and
that first touches ``published`` after the swap sees the new tables empty; BI tools read in
autocommit statements, which never do.
The same ``published/publish_log.jsonl`` as on the DuckDB target is appended locally.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import time
from datetime import UTC, datetime

import psycopg
from psycopg import errors, sql

from scenetrack.config import Paths, PgTarget, settings
from scenetrack.faults import checkpoint
from scenetrack.postgres import connect
from scenetrack.postgres.rls import CITY_GROUP, secure_tables
from scenetrack.postgres.roles import bi_role, grant_published
from scenetrack.publish import PublishRecord, _append_log, publish_log

SOURCE, PUBLISHED, OLD, NEXT = "marts", "published", "published_old", "published_next"
PUBLISH_LOCK_KEY = 0x5CE7_0002
NOWAIT_SECONDS = 10.0

PUBLISH_LOG_DDL = """
create schema if not exists audit;
create table if not exists audit.publish_log (
    version integer not null,
    action varchar not null,
    published_at timestamp not null,
    published_by varchar not null,
    gate_run_id varchar,
    tables jsonb not null
);
"""


def _tables(cur: psycopg.Cursor, schema: str) -> list[str]:
    return [
        r[0]
        for r in cur.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'p') order by c.relname",
            [schema],
        )
    ]


def _copy_comments(cur: psycopg.Cursor, table: str) -> None:
    """``COMMENT ON`` the copy of ``marts.<table>`` with the original's table/column comments."""
    rows = cur.execute(
        "select a.attname, col_description(a.attrelid, a.attnum), obj_description(a.attrelid) "
        "from pg_attribute a where a.attrelid = %s::regclass and a.attnum > 0 "
        "and not a.attisdropped order by a.attnum",
        [f"{SOURCE}.{table}"],
    ).fetchall()
    if rows and rows[0][2]:
        cur.execute(
            sql.SQL("comment on table {} is {}").format(
                sql.Identifier(NEXT, table), sql.Literal(rows[0][2])
            )
        )
    for column, text, _ in rows:
        if text:
            cur.execute(
                sql.SQL("comment on column {} is {}").format(
                    sql.Identifier(NEXT, table, column), sql.Literal(text)
                )
            )


def published_counts(target: PgTarget) -> dict[str, int] | None:
    """Rows per table of the last publish (``audit.publish_log``), None before the first."""
    with connect(target, autocommit=True) as con:
        if con.execute("select to_regclass('audit.publish_log')").fetchone()[0] is None:
            return None
        row = con.execute(
            "select tables from audit.publish_log order by published_at desc, version desc limit 1"
        ).fetchone()
    return dict(row[0]) if row else None


def published_gate_run(target: PgTarget) -> str | None:
    """The gate run of the published schema's version (its ``publish_info``), None before the
    first publish."""
    with connect(target, autocommit=True) as con:
        if con.execute("select to_regclass('published.publish_info')").fetchone()[0] is None:
            return None
        row = con.execute("select gate_run_id from published.publish_info").fetchone()
    return row[0] if row else None


def _lock_live(con: psycopg.Connection, cur: psycopg.Cursor, live: list[str]) -> None:
    """ACCESS EXCLUSIVE on every live published table, without ever waiting while holding one.

    First try them all at once with NOWAIT (a savepoint releases any partial set), between
    readers' statements; a reader that had to wait a moment on us is never part of a deadlock
    because we never wait. Only when readers keep the tables busy for longer than
    ``NOWAIT_SECONDS`` do we queue for the locks (new readers then queue behind us, so this
    ends when the statements already running end); a deadlock there retries the publish.
    """
    stmt = sql.SQL("lock table {} in access exclusive mode").format(
        sql.SQL(", ").join(sql.Identifier(PUBLISHED, t) for t in live)
    )
    deadline = time.monotonic() + NOWAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            with con.transaction():
                cur.execute(stmt + sql.SQL(" nowait"))
            return
        except errors.LockNotAvailable:
            time.sleep(0.02)
    cur.execute(stmt)


def live_record_of_gate_run(cur: psycopg.Cursor, gate_run_id: str) -> PublishRecord | None:
    """The record of the live ``published`` version when it came from ``gate_run_id``."""
    if cur.execute("select to_regclass('published.publish_info')").fetchone()[0] is None:
        return None
    row = cur.execute(
        "select l.version, l.action, l.published_at, l.published_by, l.gate_run_id, l.tables "
        "from published.publish_info i join audit.publish_log l using (version) "
        "where i.gate_run_id = %s order by l.published_at desc limit 1",
        [gate_run_id],
    ).fetchone()
    if row is None:
        return None
    version, action, at, by, run_id, tables = row
    return PublishRecord(
        int(version),
        action,
        at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
        by,
        run_id,
        dict(tables),
    )


def _publish_once(target: PgTarget, gate_run_id: str) -> PublishRecord:
    with connect(target, autocommit=True) as con, con.cursor() as cur:
        # One publisher at a time, held across both transactions below.
        cur.execute("select pg_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
        try:
            # a retry of a publish that committed (e.g. its worker died after the swap): no-op
            if (done := live_record_of_gate_run(cur, gate_run_id)) is not None:
                return done
            # 1. the candidate, committed before the swap: readers whose snapshot is taken
            # while the swap runs see its rows (bi_reader cannot read published_next).
            with con.transaction():
                cur.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(settings().pg_lock_timeout)
                    )
                )
                cur.execute(PUBLISH_LOG_DDL)
                version = cur.execute("select coalesce(max(version), 0) + 1 from audit.publish_log")
                version = int(version.fetchone()[0])
                tables = _tables(cur, SOURCE)
                if not tables:
                    raise RuntimeError(f"schema {SOURCE} holds no marts: run dbt build first")

                cur.execute(
                    sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(NEXT))
                )
                cur.execute(sql.SQL("create schema {}").format(sql.Identifier(NEXT)))
                counts: dict[str, int] = {}
                for t in tables:
                    cur.execute(
                        sql.SQL("create table {} as table {}").format(
                            sql.Identifier(NEXT, t), sql.Identifier(SOURCE, t)
                        )
                    )
                    counts[t] = cur.rowcount
                    _copy_comments(cur, t)
                published_at = datetime.now(UTC).replace(tzinfo=None)
                cur.execute(
                    sql.SQL(
                        "create table {} (version integer not null, "
                        "published_at timestamp not null, gate_run_id varchar)"
                    ).format(sql.Identifier(NEXT, "publish_info"))
                )
                cur.execute(
                    sql.SQL("insert into {} values (%s, %s, %s)").format(
                        sql.Identifier(NEXT, "publish_info")
                    ),
                    [version, published_at, gate_run_id],
                )
                cur.execute(
                    sql.SQL("comment on table {} is {}").format(
                        sql.Identifier(NEXT, "publish_info"),
                        sql.Literal("The published version: number, UTC time, quality gate run."),
                    )
                )
                # who sees which rows (bi_reader all, city_<code> its own): scenetrack.postgres.rls
                secure_tables(cur, NEXT, bi_role())

            checkpoint("pg_publish:before_swap")
            # 2.-4. the swap itself: one short transaction
            with con.transaction():
                cur.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(settings().pg_lock_timeout)
                    )
                )
                # 2. lock what readers read now, 3. swap the names, grant
                live = _tables(cur, PUBLISHED)
                if live:
                    _lock_live(con, cur, live)
                cur.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(OLD)))
                has_live = cur.execute(
                    "select 1 from pg_namespace where nspname = %s", [PUBLISHED]
                ).fetchone()
                if has_live:
                    cur.execute(
                        sql.SQL("alter schema {} rename to {}").format(
                            sql.Identifier(PUBLISHED), sql.Identifier(OLD)
                        )
                    )
                    cur.execute(
                        sql.SQL("revoke all on schema {} from public, {}, {}").format(
                            sql.Identifier(OLD),
                            sql.Identifier(bi_role()),
                            sql.Identifier(CITY_GROUP),
                        )
                    )
                cur.execute(
                    sql.SQL("alter schema {} rename to {}").format(
                        sql.Identifier(NEXT), sql.Identifier(PUBLISHED)
                    )
                )
                grant_published(cur, PUBLISHED)
                grant_published(cur, PUBLISHED, CITY_GROUP)

                # 4. the record, in the same transaction
                by = getpass.getuser()
                cur.execute(
                    "insert into audit.publish_log values (%s, 'publish', %s, %s, %s, %s)",
                    [version, published_at, by, gate_run_id, json.dumps(counts)],
                )
            checkpoint("pg_publish:after_swap")
        finally:
            with contextlib.suppress(psycopg.Error):
                cur.execute("select pg_advisory_unlock(%s)", [PUBLISH_LOCK_KEY])
    return PublishRecord(
        version,
        "publish",
        published_at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
        by,
        gate_run_id,
        counts,
    )


def publish(p: Paths, target: PgTarget, gate_run_id: str, attempts: int = 5) -> PublishRecord:
    """Swap the audited ``marts`` in as the next ``published`` version (see module doc)."""
    for attempt in range(1, attempts + 1):
        try:
            rec = _publish_once(target, gate_run_id)
            break
        except (errors.DeadlockDetected, errors.LockNotAvailable):
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)
    log = publish_log(p)
    if not log or (log[-1].version, log[-1].gate_run_id) != (rec.version, rec.gate_run_id):
        _append_log(p, rec)  # not again for a retry that found its publish done
    return rec
