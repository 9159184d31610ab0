"""Rows reach the marts whatever the clocks say (issue 17, finding 1).

Incremental models used to take the raw rows loaded after the newest ``loaded_at`` they had
seen, a local wall-clock time: a second file ingested from a process in another time zone, or
after the clock was set back, was in the ledger as loaded and absent from every mart. They now
take rows by the load sequence (``load_id``) and follow each other by the dbt run number
(``dbt_run_seq``); timestamps are stored in UTC.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from scenetrack.config import Paths
from scenetrack.pipeline import build, ingest_paths
from tests.conftest import event, write_csv

CLI = [sys.executable, "-m", "scenetrack.cli"]


def _cli(args: list[str], home: Path, tz: str) -> None:
    env = {**os.environ, "TZ": tz, "SCENETRACK_REFERENCE_DATE": "2025-12-31"}
    proc = subprocess.run(
        [*CLI, *args, "--home", str(home)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_file_ingested_in_another_time_zone_reaches_the_published_marts(tmp_path) -> None:
    home = tmp_path / "home"
    first = write_csv(
        tmp_path / "hefei.csv",
        [event("合肥", "P1", "opportunity", "enter", "2025-03-01", reported="2025-03-02")],
    )
    second = write_csv(
        tmp_path / "wuxi.csv",
        [event("无锡", "W1", "opportunity", "enter", "2025-04-01", reported="2025-04-02")],
    )
    # Shanghai is 8 hours ahead of UTC: under local wall-clock stamps the second load looked
    # 8 hours older than the first
    _cli(["ingest", str(first)], home, "Asia/Shanghai")
    _cli(["run"], home, "Asia/Shanghai")
    _cli(["ingest", str(second)], home, "UTC")
    _cli(["run"], home, "UTC")

    con = duckdb.connect(str(home / "published" / "scenetrack.duckdb"), read_only=True)
    try:
        projects = {
            r[0] for r in con.execute("select project_key from fct_project_lifecycle").fetchall()
        }
    finally:
        con.close()
    assert projects == {"340100:P1", "320200:W1"}
    work = duckdb.connect(str(home / "work" / "work.duckdb"), read_only=True)
    try:
        loads = work.execute(
            "select file_name, load_id, loaded_at from raw.file_ledger l "
            "join (select source_file_sha256, max(loaded_at) as loaded_at from raw.events "
            "group by all) e on e.source_file_sha256 = l.file_sha256 order by load_id"
        ).fetchall()
    finally:
        work.close()
    assert [(name, load_id) for name, load_id, _ in loads] == [("hefei.csv", 1), ("wuxi.csv", 2)]
    # both stamped in UTC: the later load has the later time although its process said UTC+0
    assert loads[0][2] < loads[1][2]


def _shift_every_stamp_forward(p: Paths, days: int) -> None:
    """Make every time stamp written so far (every TIMESTAMP column of the work database)
    ``days`` later than the clock says now: what a clock set back by that much looks like to
    the next run."""
    con = duckdb.connect(str(p.work_db))
    try:
        stamped = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where database_name = current_database() and data_type = 'TIMESTAMP' "
            "and schema_name in ('raw', 'staging', 'intermediate', 'marts', 'audit')"
        ).fetchall()
        shifted = {f"{t}.{c}" for _, t, c in stamped}
        assert {"events.loaded_at", "fct_project_lifecycle.dbt_updated_at"} <= shifted
        for schema, table, column in stamped:
            con.execute(
                f'update {schema}."{table}" set "{column}" = "{column}" + interval {days} day'
            )
    finally:
        con.close()


def test_rows_loaded_after_the_clock_was_set_back_reach_every_mart(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    home = Paths(tmp_path / "home").ensure()
    ingest_paths(
        home,
        [
            write_csv(
                tmp_path / "a.csv",
                [
                    event(
                        "合肥", "P0", "opportunity", "enter", "2025-02-01", reported="2025-02-02"
                    ),
                    event(
                        "合肥", "P1", "opportunity", "enter", "2025-11-01", reported="2025-11-02"
                    ),
                ],
            )
        ],
    )
    build(home)
    _shift_every_stamp_forward(home, 2)  # after a build that put P0 on the watchlist
    # W1 has waited since January for a pilot: stalled as of 2025-12-31 (threshold 180 days)
    ingest_paths(
        home,
        [
            write_csv(
                tmp_path / "b.csv",
                [event("无锡", "W1", "opportunity", "enter", "2025-01-10", reported="2025-01-11")],
            )
        ],
    )
    build(home)

    con = duckdb.connect(str(home.work_db), read_only=True)
    try:

        def keys(table: str) -> set[str]:
            return {r[0] for r in con.execute(f"select project_key from {table}").fetchall()}

        everyone = {"340100:P0", "340100:P1", "320200:W1"}
        assert keys("staging.stg_raw__events") == everyone
        assert keys("marts.fct_project_lifecycle") == everyone
        # the watchlist (P0 on it since the first build) follows the fact by run number
        assert keys("marts.mart_stalled_projects") == {"340100:P0", "320200:W1"}
        runs = con.execute("select run_seq from audit.dbt_runs order by run_seq").fetchall()
    finally:
        con.close()
    assert [r[0] for r in runs] == [1, 2]
