"""Copy the local raw layer into PostgreSQL: new rows only, with COPY, in one transaction.

Intake runs where the files land: ``ingestion/`` reads and normalises every submission into
the local DuckDB work database (``raw.events``, ``raw.capabilities``, ``raw.quarantine``,
``raw.file_ledger``), exactly as on the embedded target. This step then ships what PostgreSQL
does not have yet:

- rows of ``raw.events``, ``raw.capabilities`` and ``raw.quarantine`` whose source file
  (``source_file_sha256``) is not yet in PostgreSQL's ``raw.file_ledger``, streamed out of
  DuckDB as Arrow record batches, written as CSV into ``COPY … FROM STDIN`` (no row INSERTs);
- the rows of files a replay loaded rows of since the last sync (``last_replayed_load_id``
  differs), deleted and copied again (``scenetrack replay``: the rows move from quarantine to
  the raw tables in one transaction, and so they do here);
- every ledger row, upserted (``times_seen``/``last_seen_at`` change when a file is resent);
- the held submissions (``raw.file_holds``), replaced whole.

The ledger is the high-water mark: a file's rows and its ledger row travel in the same
PostgreSQL transaction, so a rerun copies nothing, and a failed sync leaves PostgreSQL as it
was. The transaction takes an advisory lock, so two machines syncing at once queue up.
The raw DDL is the one DuckDB uses (``scenetrack.warehouse.RAW_DDL``, portable SQL).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import duckdb
import pyarrow.csv as pacsv
from psycopg import sql

from scenetrack.config import Paths, PgTarget
from scenetrack.postgres import connect
from scenetrack.warehouse import RAW_DDL, connect_work

FILE_TABLES = ("events", "capabilities", "quarantine")
"""Raw tables whose rows belong to one source file (``source_file_sha256``)."""

BATCH_ROWS = 100_000
SYNC_LOCK_KEY = 0x5CE7_0001
"""``pg_advisory_xact_lock`` key: one raw sync at a time per warehouse."""


@dataclass(frozen=True)
class SyncResult:
    """What one sync copied: rows per raw table, and the files that were new."""

    new_files: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # rows copied per file table
    ledger_rows_changed: int = 0  # ledger rows inserted or updated (of all compared)

    @property
    def copied_anything(self) -> bool:
        return bool(self.new_files) or any(self.rows.values()) or self.ledger_rows_changed > 0


def _columns(duck: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [
        r[0]
        for r in duck.execute(
            "select column_name from information_schema.columns "
            "where table_schema = 'raw' and table_name = ? order by ordinal_position",
            [table],
        ).fetchall()
    ]


def _copy(cur, duck_rel: duckdb.DuckDBPyRelation, target: sql.Composable, cols: list[str]) -> int:
    """Stream a DuckDB relation into ``COPY target (cols) FROM STDIN`` as CSV; return rows.

    pyarrow's CSV writer quotes every string and leaves NULL unquoted and empty, which is
    exactly PostgreSQL's CSV convention (``""`` is an empty string, nothing is NULL).
    """
    stmt = sql.SQL("copy {} ({}) from stdin (format csv)").format(
        target, sql.SQL(", ").join(map(sql.Identifier, cols))
    )
    rows = 0
    options = pacsv.WriteOptions(include_header=False)
    reader = duck_rel.fetch_arrow_reader(BATCH_ROWS)
    with cur.copy(stmt) as copy:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)
            copy.write(buf.getvalue())
            rows += batch.num_rows
    return rows


def sync_raw_to_postgres(p: Paths, target: PgTarget) -> SyncResult:
    """Copy the raw rows PostgreSQL does not have yet (caller holds the home's writer lock)."""
    duck = connect_work(p)
    try:
        with connect(target) as pg, pg.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(%s)", [SYNC_LOCK_KEY])
            cur.execute(RAW_DDL)
            have = dict(
                cur.execute("select file_sha256, last_replayed_load_id from raw.file_ledger")
            )
            local_ledger = duck.execute(
                "select file_sha256, last_replayed_load_id from raw.file_ledger"
            ).fetchall()
            new = [s for s, _ in local_ledger if s not in have]
            # files a replay loaded rows of since the last sync: their rows are copied again
            replayed = [s for s, r in local_ledger if s in have and have[s] != r]
            for table in FILE_TABLES:
                if replayed:
                    cur.execute(
                        sql.SQL("delete from {} where source_file_sha256 = any(%s)").format(
                            sql.Identifier("raw", table)
                        ),
                        [replayed],
                    )
            copied = new + replayed
            rows: dict[str, int] = {}
            for table in FILE_TABLES:
                cols = _columns(duck, table)
                rel = duck.sql(
                    f"select {', '.join(cols)} from raw.{table} "
                    "where source_file_sha256 in (select unnest($new::varchar[]))",
                    params={"new": copied},
                )
                rows[table] = _copy(cur, rel, sql.Identifier("raw", table), cols) if copied else 0
            cols = _columns(duck, "file_ledger")
            cur.execute(
                "create temporary table incoming_ledger "
                "(like raw.file_ledger including defaults) on commit drop"
            )
            _copy(
                cur,
                duck.sql(f"select {', '.join(cols)} from raw.file_ledger"),
                sql.Identifier("incoming_ledger"),
                cols,
            )
            updates = [c for c in cols if c != "file_sha256"]
            cur.execute(
                sql.SQL(
                    "insert into raw.file_ledger ({cols}) select {cols} from incoming_ledger "
                    "on conflict (file_sha256) do update set {sets} "
                    "where ({old}) is distinct from ({new})"
                ).format(
                    cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                    sets=sql.SQL(", ").join(
                        sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c)) for c in updates
                    ),
                    old=sql.SQL(", ").join(sql.Identifier("file_ledger", c) for c in updates),
                    new=sql.SQL(", ").join(sql.Identifier("excluded", c) for c in updates),
                )
            )
            changed = cur.rowcount
            # held submissions (scenetrack.holdback): a small table, replaced whole, so that
            # staging in PostgreSQL leaves out exactly what it leaves out in DuckDB
            cur.execute("delete from raw.file_holds")
            cols = _columns(duck, "file_holds")
            _copy(
                cur,
                duck.sql(f"select {', '.join(cols)} from raw.file_holds"),
                sql.Identifier("raw", "file_holds"),
                cols,
            )
    finally:
        duck.close()
    return SyncResult(new_files=new, rows=rows, ledger_rows_changed=max(changed, 0))
