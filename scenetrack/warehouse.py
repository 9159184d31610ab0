"""Connections to the work database and the single-writer lock.

DuckDB allows one writing process per file. Every writer (CLI or Airflow task) takes an
exclusive ``flock`` on ``work/writer.lock`` first, so a second writer waits (or fails after a
timeout with a message naming the holder) instead of hitting DuckDB's lock error mid-run.
The wait is ``SCENETRACK_LOCK_TIMEOUT`` seconds (default 600). A writer that dies (even by
SIGKILL) releases the lock with its last file descriptor: the kernel drops ``flock`` locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from scenetrack.config import Paths, settings

RAW_DDL = """
create schema if not exists raw;
create schema if not exists audit;
create table if not exists raw.file_ledger (
    file_sha256 varchar primary key,
    file_name varchar not null,
    file_size bigint not null,
    layout varchar,
    encoding varchar,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    status varchar not null,
    reason varchar,
    archived_path varchar,
    first_seen_at timestamp not null,
    last_seen_at timestamp not null,
    times_seen integer not null
);
create table if not exists raw.events (
    source_file_sha256 varchar not null,
    source_file_name varchar not null,
    source_line bigint not null,
    city_code varchar not null,
    city_raw varchar,
    project_id varchar not null,
    project_name varchar,
    domain_raw varchar,
    technology_raw varchar,
    demand_owner varchar,
    supplier varchar,
    stage_code varchar not null,
    event_type varchar not null,
    event_date date not null,
    event_date_precision varchar not null,
    amount_yuan decimal(18, 2),
    amount_raw varchar,
    reported_at date,
    loaded_at timestamp not null
);
create table if not exists raw.capabilities (
    source_file_sha256 varchar not null,
    source_file_name varchar not null,
    source_line bigint not null,
    city_code varchar not null,
    city_raw varchar,
    capability_id varchar not null,
    supplier varchar,
    technology_raw varchar,
    domain_raw varchar,
    title varchar,
    published_on date not null,
    published_on_precision varchar not null,
    reported_at date,
    loaded_at timestamp not null
);
create table if not exists raw.quarantine (
    source_file_sha256 varchar not null,
    source_file_name varchar not null,
    layout varchar not null,
    source_line bigint not null,
    column_name varchar,
    raw_value varchar,
    reason varchar not null,
    quarantined_at timestamp not null
);
-- Added by the real-world intake (issue 3); ALTER keeps warehouses created before it working.
alter table raw.file_ledger add column if not exists file_format varchar;
alter table raw.file_ledger add column if not exists sheet_name varchar;
alter table raw.quarantine add column if not exists source_column varchar;
-- The load sequence (issue 17): every loaded file gets the next number, under the writer lock;
-- incremental models take rows above the highest number they processed, never by clock time.
alter table raw.file_ledger add column if not exists load_id bigint;
alter table raw.events add column if not exists load_id bigint;
alter table raw.capabilities add column if not exists load_id bigint;
-- The clerk's 终止原因 as written (a 台账 ledger's termination reason), on the termination
-- event it produced: evaluators read it (mart_terminations); empty for other events.
alter table raw.events add column if not exists end_reason varchar;
-- Held submissions (per-city holdback): a city's rows of a file, kept out of staging until
-- released. Rows are only added, and released_at is set once, so the number of changes
-- (rows + releases) says whether the holds changed since a build.
create table if not exists raw.file_holds (
    source_file_sha256 varchar not null,
    city_code varchar not null,
    held_at timestamp not null,
    held_by varchar not null,
    reason varchar not null,
    released_at timestamp,
    released_by varchar
);
-- Published lists and forgiving vocabulary (issue 18). Domain and technology are kept as
-- written (*_raw) and mapped to codes in dbt staging; a list's description, batch, planned
-- investment and derived ids; file_load_id is the load number of the file a row came from
-- (a replayed row gets a new load_id, so staging sees it, and keeps its file's place here).
alter table raw.events add column if not exists domain_raw varchar;
alter table raw.events add column if not exists technology_raw varchar;
alter table raw.events add column if not exists description varchar;
alter table raw.events add column if not exists batch varchar;
alter table raw.events add column if not exists batch_raw varchar;
alter table raw.events add column if not exists planned_investment_yuan decimal(18, 2);
alter table raw.events add column if not exists planned_investment_raw varchar;
alter table raw.events add column if not exists planned_investment_approximate boolean;
alter table raw.events add column if not exists project_id_derived boolean;
alter table raw.events add column if not exists file_load_id bigint;
alter table raw.capabilities add column if not exists domain_raw varchar;
alter table raw.capabilities add column if not exists technology_raw varchar;
alter table raw.capabilities add column if not exists description varchar;
alter table raw.capabilities add column if not exists batch varchar;
alter table raw.capabilities add column if not exists batch_raw varchar;
alter table raw.capabilities add column if not exists capability_id_derived boolean;
alter table raw.capabilities add column if not exists file_load_id bigint;
alter table raw.quarantine add column if not exists city_code varchar;
-- what the channel and the operator said about a file (a replay reads it the same way)
alter table raw.file_ledger add column if not exists channel varchar;
alter table raw.file_ledger add column if not exists city_option varchar;
alter table raw.file_ledger add column if not exists published_on_option varchar;
alter table raw.file_ledger add column if not exists times_replayed integer;
alter table raw.file_ledger add column if not exists last_replayed_load_id bigint;
-- Replays (scenetrack replay): each re-reading of an archived file's quarantined rows takes a
-- number of the load sequence of its own; the rows it loads carry it as their load_id.
create table if not exists raw.replays (
    replay_id varchar not null,
    file_sha256 varchar not null,
    load_id bigint not null,
    replayed_at timestamp not null,
    replayed_by varchar not null,
    reason_filter varchar,
    rows_considered bigint not null,
    rows_loaded bigint not null,
    rows_still_quarantined bigint not null,
    events_loaded bigint not null
);
"""

# Warehouses loaded before issue 18 resolved domain and technology to codes at intake: the code
# is kept as the written value (every code is an alias of itself), then the columns dropped.
DESCRIPTIVE_BACKFILL = """
update raw.events set domain_raw = domain_code, technology_raw = technology_code;
alter table raw.events drop column domain_code;
alter table raw.events drop column technology_code;
update raw.capabilities set domain_raw = domain_code, technology_raw = technology_code;
alter table raw.capabilities drop column domain_code;
alter table raw.capabilities drop column technology_code;
"""
FILE_LOAD_ID_BACKFILL = """
update raw.events set file_load_id = load_id where file_load_id is null;
update raw.capabilities set file_load_id = load_id where file_load_id is null;
"""

# Warehouses loaded before the load sequence existed: number their files in the order they
# were loaded (then by hash), once, when the column is first added.
LOAD_ID_BACKFILL = """
update raw.file_ledger as l set load_id = o.load_id
from (
    select file_sha256, row_number() over (order by first_seen_at, file_sha256) as load_id
    from raw.file_ledger where status <> 'rejected'
) as o
where l.file_sha256 = o.file_sha256 and l.load_id is null;
update raw.events as e set load_id = l.load_id
from raw.file_ledger as l
where e.source_file_sha256 = l.file_sha256 and e.load_id is null;
update raw.capabilities as c set load_id = l.load_id
from raw.file_ledger as l
where c.source_file_sha256 = l.file_sha256 and c.load_id is null;
"""


class WriterBusyError(RuntimeError):
    """Another process holds the writer lock for this warehouse home."""


def lock_timeout_s() -> float:
    """How long a writer waits for the lock: ``SCENETRACK_LOCK_TIMEOUT`` seconds, else 600."""
    return settings().lock_timeout


@contextlib.contextmanager
def writer_lock(p: Paths, timeout_s: float | None = None) -> Iterator[None]:
    """Hold the exclusive writer lock of this home for the duration of the block.

    Waits up to ``timeout_s`` seconds (default :func:`lock_timeout_s`); then raises
    :class:`WriterBusyError` naming the holder (host and pid written into the lock file by
    whoever holds it).
    """
    timeout_s = lock_timeout_s() if timeout_s is None else timeout_s
    p.lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = Path(p.lock_file).read_text(errors="replace").strip() or "unknown"
                    raise WriterBusyError(
                        f"warehouse {p.home} is being written by {holder}; "
                        f"waited {timeout_s:g} s. Retry when that run ends."
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def connect_work(p: Paths, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the work database; read-write connections make sure the raw layer exists."""
    if read_only:
        return duckdb.connect(str(p.work_db), read_only=True)
    con = duckdb.connect(str(p.work_db))
    had_load_ids = _has_column(con, "file_ledger", "load_id")
    had_file_load_ids = _has_column(con, "events", "file_load_id")
    con.execute(RAW_DDL)
    if not had_load_ids:
        con.execute(LOAD_ID_BACKFILL)
    if _has_column(con, "events", "domain_code"):
        con.execute(DESCRIPTIVE_BACKFILL)
    if not had_file_load_ids:
        con.execute(FILE_LOAD_ID_BACKFILL)
    return con


def _has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """Whether ``raw.<table>`` has ``column`` (False when the table does not exist yet)."""
    return bool(
        con.execute(
            "select count(*) from duckdb_columns() where database_name = current_database() "
            "and schema_name = 'raw' and table_name = ? and column_name = ?",
            [table, column],
        ).fetchone()[0]
    )
