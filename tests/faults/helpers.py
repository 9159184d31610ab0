"""Shared tools of the fault suite: run a real step in a child process and kill it there;
compare warehouses table by table; check the ledger's accounting."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb

from scenetrack.config import PROJECT_DIR, Paths
from scenetrack.faults import FAULT_ENV

KILLED = -signal.SIGKILL

# Columns that differ between two correct loads of the same files (when, and where the
# archive is), never what was loaded.
VOLATILE = {"loaded_at", "quarantined_at", "first_seen_at", "last_seen_at", "archived_path"}
VOLATILE |= {"times_seen"}  # a file seen again after a crash is counted as seen again


def child_env(fault: str | None = None, **extra: str) -> dict[str, str]:
    """The test's environment for a child step, with ``SCENETRACK_FAULT`` set (or cleared)."""
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    env["PYTHONPATH"] = str(PROJECT_DIR)
    if fault:
        env[FAULT_ENV] = fault
    env.update(extra)
    return env


def run_step(code: str, home: Paths, fault: str | None = None, timeout: float = 600) -> int:
    """Run ``code`` (with ``home`` bound to the warehouse's Paths) in a child Python process;
    return its exit status (``KILLED`` when the fault hook killed it)."""
    prelude = (
        "from pathlib import Path\n"
        "from scenetrack.config import Paths\n"
        "from scenetrack import pipeline\n"
        f"home = Paths(Path({str(home.home)!r}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", prelude + code],
        env=child_env(fault),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode not in (0, KILLED):
        raise AssertionError(f"child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.returncode


def tables_of(con: duckdb.DuckDBPyConnection, db: str, schemas: tuple[str, ...]) -> list[str]:
    rows = con.execute(
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where database_name = ? and list_contains(?, schema_name) order by 1",
        [db, list(schemas)],
    ).fetchall()
    return [r[0] for r in rows]


def differences(
    a: Path,
    b: Path,
    schemas: tuple[str, ...] = ("main",),
    ignore_tables: tuple[str, ...] = ("main.publish_info",),
    ignore_columns: set[str] | frozenset[str] = frozenset(),
) -> list[str]:
    """Every way two DuckDB files differ in the given schemas: missing tables, and rows in
    one but not the other (``EXCEPT ALL`` both ways, duplicates counted). Empty: equal."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        ta = [t for t in tables_of(con, "a", schemas) if t not in ignore_tables]
        tb = [t for t in tables_of(con, "b", schemas) if t not in ignore_tables]
        out = [f"table {t} only in one file" for t in sorted(set(ta) ^ set(tb))]
        for t in sorted(set(ta) & set(tb)):
            schema, name = t.split(".")
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from duckdb_columns() where database_name = 'a' "
                    "and schema_name = ? and table_name = ? order by column_index",
                    [schema, name],
                ).fetchall()
                if r[0] not in ignore_columns
            ]
            sel = ", ".join(f'"{c}"' for c in cols)
            for x, y in (("a", "b"), ("b", "a")):
                n = con.execute(
                    f"select count(*) from (select {sel} from {x}.{t} "
                    f"except all select {sel} from {y}.{t})"
                ).fetchone()[0]
                if n:
                    out.append(f"{t}: {n} rows in {x} not in {y}")
    finally:
        con.close()
    return out


def published_version(p: Paths) -> int:
    """The published file's own version; it must open read-only and be internally consistent."""
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        version = con.execute("select version from publish_info").fetchone()[0]
        mart, fact = con.execute(
            "select (select sum(cooperation_amount_yuan) from mart_city_scorecard "
            "where period_type = 'all'), "
            "(select coalesce(sum(cooperation_amount_yuan), 0) from fct_project_lifecycle)"
        ).fetchone()
        assert mart == fact, f"v{version}: scorecard {mart} != lifecycle {fact}"
    finally:
        con.close()
    return version


def ledger_accounting(p: Paths) -> dict[str, tuple]:
    """Per ledger row: (status, rows_read, loaded, quarantined, raw rows, quarantined lines).

    Asserts that no raw or quarantine row belongs to a file missing from the ledger and that
    every loaded file's rows are all there: a file is in whole or not at all.
    """
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        rows = con.execute(
            """
            with r as (
                select source_file_sha256 as sha, count(*) as n from raw.events group by 1
                union all
                select source_file_sha256, count(*) from raw.capabilities group by 1
            ),
            q as (
                -- a row is listed once per failing column and reason: count rows (lines)
                select source_file_sha256 as sha, count(distinct source_line) as n
                from raw.quarantine group by 1
            )
            select l.file_sha256, l.status, l.rows_read, l.rows_loaded, l.rows_quarantined,
                   coalesce((select sum(n) from r where r.sha = l.file_sha256), 0),
                   coalesce((select sum(n) from q where q.sha = l.file_sha256), 0)
            from raw.file_ledger l
            """
        ).fetchall()
        orphans = con.execute(
            """
            select count(*) from (
                select source_file_sha256 from raw.events
                union all select source_file_sha256 from raw.capabilities
                union all select source_file_sha256 from raw.quarantine)
            where source_file_sha256 not in (select file_sha256 from raw.file_ledger)
            """
        ).fetchone()[0]
    finally:
        con.close()
    assert orphans == 0, f"{orphans} raw/quarantine rows of files missing from the ledger"
    out = {r[0]: r[1:] for r in rows}
    for sha, (status, read, loaded, quarantined, raw, quar) in out.items():
        if status == "loaded":
            assert read == loaded + quarantined, (sha, read, loaded, quarantined)
            assert quar == quarantined, (sha, quar, quarantined)
        else:
            assert raw == 0 and quar == 0, (sha, status, raw, quar)
    return out


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str) -> Iterator[bool]:
    """Mount a size-limited tmpfs at ``where`` when this machine allows it (root, no
    sandbox veto); yields whether it is mounted. Unmounted on exit."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
        ).returncode
        == 0
        if hasattr(os, "geteuid") and os.geteuid() == 0
        else False
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


def gated(p: Paths, run_id: str) -> None:
    """Record gate run ``run_id`` as passed over the work database's marts as they are now,
    as a passing gate does: publish accepts it (scenetrack.audited) until the marts change."""
    from datetime import UTC, datetime

    from scenetrack import audited

    con = duckdb.connect(str(p.work_db))
    try:
        con.execute(audited.GATE_RUNS_DDL)
        fp = audited.fingerprint(con)
        audited.record(con, run_id, datetime.now(UTC).replace(tzinfo=None), True, fp)
    finally:
        con.close()


def make_marts(p: Paths, projects: int, padding_rows: int = 0) -> None:
    """Marts whose scorecard reconciles with the lifecycle fact (what readers check)."""
    p.work_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(p.work_db))
    try:
        con.execute("create schema if not exists marts")
        con.execute(
            "create or replace table marts.fct_project_lifecycle as "
            "select 'P' || i as project_id, '3201' || (i % 3) as city_code, "
            "cast(i * 1000 as decimal(18, 2)) as cooperation_amount_yuan "
            f"from range({projects}) t(i)"
        )
        con.execute(
            "create or replace table marts.mart_city_scorecard as "
            "select city_code, 'all' as period_type, "
            "sum(cooperation_amount_yuan) as cooperation_amount_yuan "
            "from marts.fct_project_lifecycle group by city_code"
        )
        con.execute("comment on column marts.fct_project_lifecycle.project_id is 'the project'")
        con.execute(
            "create or replace table marts.mart_padding as "
            "select i, md5(i::varchar) || md5((i + 1)::varchar) as noise "
            f"from range({padding_rows}) t(i)"
        )
    finally:
        con.close()


def parquet_not_live(p: Paths) -> list[str]:
    """The marts whose Parquet copy is missing or holds other rows than the live file's (a
    copy of an unchanged mart may come from an earlier version: its rows are what counts)."""
    folder = p.published_dir / "parquet"
    con = duckdb.connect()
    try:
        con.execute(f"attach '{p.published_db}' as live (read_only)")
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'live' "
                "and table_name <> 'publish_info' order by 1"
            ).fetchall()
        ]
        wrong = sorted({f.stem for f in folder.glob("*.parquet")} - set(tables))
        for t in tables:
            copy = folder / f"{t}.parquet"
            if not copy.exists():
                wrong.append(t)
                continue
            both_ways = (
                f"select count(*) from (select * from live.main.{t} except all "
                f"select * from read_parquet('{copy}')) union all "
                f"select count(*) from (select * from read_parquet('{copy}') except all "
                f"select * from live.main.{t})"
            )
            if any(n for (n,) in con.execute(both_ways).fetchall()):
                wrong.append(t)
    finally:
        con.close()
    return wrong
