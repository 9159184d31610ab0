"""Rollback and status on the PostgreSQL target.

PostgreSQL keeps one previous version: the publish renames the live ``published`` to
``published_old`` (:mod:`.publish`). A rollback swaps the two back in one short transaction,
the same way the publish swaps: under the publishers' advisory lock, ACCESS EXCLUSIVE locks on
the live tables taken between readers' statements, three renames, ``bi_reader`` and the
cities' group re-granted on the new live schema and revoked from the other, the row-level
security policies travelling with the tables, and the record in ``audit.publish_log`` — all
committed together, so a reader sees the old version in full or the restored one in full. A
second rollback swaps them again (the version rolled back from is the one kept).
"""

from __future__ import annotations

import contextlib
import getpass
import json
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from scenetrack.config import Paths, PgTarget, settings
from scenetrack.postgres import connect
from scenetrack.postgres.publish import (
    OLD,
    PUBLISH_LOCK_KEY,
    PUBLISH_LOG_DDL,
    PUBLISHED,
    _lock_live,
    _tables,
)
from scenetrack.postgres.rls import CITY_GROUP
from scenetrack.postgres.roles import bi_role, grant_published
from scenetrack.publish import PublishRecord, _append_log

SWAP = "published_swap"


def _version_of(cur: psycopg.Cursor, schema: str) -> tuple[int, str | None] | None:
    if cur.execute("select to_regclass(%s)", [f"{schema}.publish_info"]).fetchone()[0] is None:
        return None
    row = cur.execute(
        sql.SQL("select version, gate_run_id from {}").format(
            sql.Identifier(schema, "publish_info")
        )
    ).fetchone()
    return (int(row[0]), row[1]) if row else None


def rollback(p: Paths, target: PgTarget, version: int | None = None) -> PublishRecord:
    """Swap ``published_old`` back in as ``published`` (see module doc).

    ``version``: must be the kept previous version when given (PostgreSQL keeps one).
    """
    with connect(target, autocommit=True) as con, con.cursor() as cur:
        cur.execute("select pg_advisory_lock(%s)", [PUBLISH_LOCK_KEY])
        try:
            with con.transaction():
                cur.execute(
                    sql.SQL("set local lock_timeout = {}").format(
                        sql.Literal(settings().pg_lock_timeout)
                    )
                )
                cur.execute(PUBLISH_LOG_DDL)
                current, kept = _version_of(cur, PUBLISHED), _version_of(cur, OLD)
                if current is None:
                    raise RuntimeError("nothing has been published yet")
                if kept is None:
                    raise RuntimeError(
                        f"no previous version is kept (PostgreSQL keeps one; v{current[0]} is "
                        "the only published version)"
                    )
                if version is not None and version != kept[0]:
                    raise RuntimeError(
                        f"version {version} is not kept; PostgreSQL keeps the previous "
                        f"version only: v{kept[0]} (live: v{current[0]})"
                    )
                live = _tables(cur, PUBLISHED)
                if live:
                    _lock_live(con, cur, live)
                for a, b in ((PUBLISHED, SWAP), (OLD, PUBLISHED), (SWAP, OLD)):
                    cur.execute(
                        sql.SQL("alter schema {} rename to {}").format(
                            sql.Identifier(a), sql.Identifier(b)
                        )
                    )
                cur.execute(
                    sql.SQL("revoke all on schema {} from public, {}, {}").format(
                        sql.Identifier(OLD), sql.Identifier(bi_role()), sql.Identifier(CITY_GROUP)
                    )
                )
                grant_published(cur, PUBLISHED)
                grant_published(cur, PUBLISHED, CITY_GROUP)
                counts = {
                    t: cur.execute(
                        sql.SQL("select count(*) from {}").format(sql.Identifier(PUBLISHED, t))
                    ).fetchone()[0]
                    for t in _tables(cur, PUBLISHED)
                    if t != "publish_info"
                }
                at = datetime.now(UTC).replace(tzinfo=None)
                by = getpass.getuser()
                cur.execute(
                    "insert into audit.publish_log values (%s, 'rollback', %s, %s, %s, %s)",
                    [kept[0], at, by, kept[1], json.dumps(counts)],
                )
        finally:
            with contextlib.suppress(psycopg.Error):
                cur.execute("select pg_advisory_unlock(%s)", [PUBLISH_LOCK_KEY])
    rec = PublishRecord(
        kept[0],
        "rollback",
        at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
        by,
        kept[1],
        counts,
    )
    _append_log(p, rec)
    return rec


def status(target: PgTarget) -> dict:
    """Ledger totals, the last gate run and the live version, read from PostgreSQL (the
    same shape as :func:`scenetrack.status.status` gives for DuckDB)."""
    from scenetrack.postgres.gate import last_gate_run

    out: dict = {"warehouse": f"postgresql://{target.host}:{target.port}/{target.dbname}"}
    with connect(target, autocommit=True) as con:
        if con.execute("select to_regclass('raw.file_ledger')").fetchone()[0] is None:
            out["ledger"] = None
        else:
            out["ledger"] = {
                s: {"files": f, "rows_read": r, "rows_loaded": lo, "rows_quarantined": q}
                for s, f, r, lo, q in con.execute(
                    "select status, count(*), coalesce(sum(rows_read), 0), "
                    "coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
                    "from raw.file_ledger group by status order by 1"
                ).fetchall()
            }
        row = None
        if con.execute("select to_regclass('audit.publish_log')").fetchone()[0] is not None:
            row = con.execute(
                "select version, action, published_at, published_by, tables "
                "from audit.publish_log order by published_at desc limit 1"
            ).fetchone()
    out["last_gate"] = last_gate_run(target)
    out["published"] = (
        {
            "version": row[0],
            "action": row[1],
            "at": row[2].replace(tzinfo=UTC).isoformat(timespec="seconds"),
            "by": row[3],
            "path": f"schema {PUBLISHED} of {out['warehouse']}",
            "tables": dict(row[4]),
        }
        if row
        else None
    )
    return out
