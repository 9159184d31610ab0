"""Ingestion killed anywhere, its WAL left behind, its disk full: a rerun loads every file once.

Each fault runs the real step in a child process that the fault hook (``SCENETRACK_FAULT``,
:mod:`scenetrack.faults`) kills with SIGKILL at a named point, or fails with ENOSPC.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.warehouse import connect_work
from tests.faults.conftest import data_rows
from tests.faults.helpers import (
    KILLED,
    VOLATILE,
    child_env,
    differences,
    ledger_accounting,
    run_step,
    small_tmpfs,
)


def _ingest_in_child(home: Paths, files: list[Path], fault: str) -> int:
    code = (
        "import json\n"
        f"files = [Path(f) for f in json.loads({_json(files)!r})]\n"
        "pipeline.ingest_paths(home, files)\n"
    )
    return run_step(code, home, fault)


def _json(files: list[Path]) -> str:
    import json

    return json.dumps([str(f) for f in files])


def _assert_loaded_once(home: Paths, clean: Paths, submissions: list[Path]) -> None:
    """One ledger row per distinct file, every row accounted for, raw equal to a clean load."""
    ledger = ledger_accounting(home)
    assert len(ledger) == len(submissions)
    loaded = [v for v in ledger.values() if v[0] == "loaded"]
    assert sum(v[1] for v in loaded) == data_rows(submissions)
    assert sum(v[4] + v[5] for v in loaded) == data_rows(submissions)
    assert differences(home.work_db, clean.work_db, ("raw",), (), VOLATILE) == []


KILL_POINTS = [  # (where the child dies, files committed before it died)
    ("ingest:after_insert@2", 1),  # mid-transaction: raw rows inserted, no ledger row yet
    ("ingest:archive", 0),  # before the archive copy
    ("ingest:before_ledger@3", 2),  # archived, ledger row not written
    ("ingest:after_ledger@2", 1),  # ledger row written, not committed
    ("ingest:after_commit@4", 4),  # committed; receipt not written, batch not finished
]


@pytest.mark.parametrize(("fault", "committed"), KILL_POINTS)
def test_sigkill_during_ingestion_then_rerun_loads_every_file_once(
    home: Paths, submissions: list[Path], clean_ingest: Paths, fault: str, committed: int
) -> None:
    assert _ingest_in_child(home, submissions, fault) == KILLED
    assert len(ledger_accounting(home)) == committed  # whole files or nothing
    pipeline.ingest_paths(home, submissions)  # the plain rerun
    _assert_loaded_once(home, clean_ingest, submissions)
    pipeline.ingest_paths(home, submissions)  # and a third time: still nothing twice
    _assert_loaded_once(home, clean_ingest, submissions)


def test_wal_left_by_a_killed_writer_is_replayed_on_the_next_start(
    home: Paths, submissions: list[Path]
) -> None:
    first = submissions[:1]
    assert _ingest_in_child(home, first, "ingest:after_commit") == KILLED
    wal = Path(str(home.work_db) + ".wal")
    assert wal.exists() and wal.stat().st_size > 0  # committed, never checkpointed
    con = connect_work(home)  # the next writer's start
    try:
        ledger = con.execute(
            "select status, rows_read, rows_loaded from raw.file_ledger"
        ).fetchall()
        events = con.execute("select count(*) from raw.events").fetchone()[0]
    finally:
        con.close()
    assert len(ledger) == 1 and ledger[0][0] == "loaded" and events == ledger[0][2] > 0
    assert ledger[0][1] == data_rows(first)
    receipts = pipeline.ingest_paths(home, first)
    assert [r.status for r in receipts] == ["duplicate"]


@pytest.mark.parametrize("fault", ["landing:after_move@2", "ingest:after_commit@3"])
def test_ingest_landing_retried_after_a_partial_run_moves_and_loads_everything_once(
    home: Paths, landed: list[Path], submissions: list[Path], clean_ingest: Paths, fault: str
) -> None:
    """The Airflow task ``ingest_landed_files`` killed part-way, then retried."""
    assert run_step("pipeline.ingest_landing(home)", home, fault) == KILLED
    left = sorted(f.name for f in (home.home / "landing").iterdir())
    assert left  # the kill left work behind
    receipts = pipeline.ingest_landing(home)  # the retry
    assert sorted(r.file for r in receipts) == left
    assert list((home.home / "landing").iterdir()) == []
    processed = sorted(f.name for f in (home.home / "processed").iterdir())
    assert processed == sorted(f.name for f in submissions if f.name != "scan.csv")
    assert (home.home / "rejected" / "scan.csv").is_file()
    _assert_loaded_once(home, clean_ingest, submissions)
    assert pipeline.ingest_landing(home) == []  # a second retry finds nothing to do


def _cli_ingest(home: Paths, files: list[Path], fault: str | None = None):
    return subprocess.run(
        [sys.executable, "-m", "scenetrack.cli", "ingest", "--home", str(home.home)]
        + [str(f) for f in files],
        env=child_env(fault),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _assert_disk_full_then_retry(
    home: Paths, submissions: list[Path], clean: Paths, failed: Path, proc
) -> None:
    assert proc.returncode == 1, proc.stderr
    assert "No space left on device" in proc.stderr
    assert f"could not write {failed.name}" in proc.stderr and "Traceback" not in proc.stderr
    shas = set(ledger_accounting(home))
    con = duckdb.connect(str(home.work_db), read_only=True)
    names = {r[0] for r in con.execute("select file_name from raw.file_ledger").fetchall()}
    con.close()
    assert failed.name not in names and len(shas) == len(names)
    retry = _cli_ingest(home, submissions)
    assert retry.returncode == 1  # scan.csv is rejected (as in a clean load), nothing else
    assert retry.stderr.count("could not be read") == 1 and "scan.csv" in retry.stderr
    _assert_loaded_once(home, clean, submissions)


def test_disk_full_at_the_archive_copy_injected(
    home: Paths, submissions: list[Path], clean_ingest: Paths
) -> None:
    proc = _cli_ingest(home, submissions, "ingest:archive@2=enospc")
    _assert_disk_full_then_retry(home, submissions, clean_ingest, submissions[1], proc)


def test_disk_full_at_the_archive_copy_on_a_small_filesystem(
    home: Paths, submissions: list[Path], clean_ingest: Paths
) -> None:
    """A real ENOSPC: the archive folder is a 64 KiB tmpfs and the largest file does not fit.
    Where the machine does not allow mounting, the same ENOSPC is injected at the copy."""
    big = max(submissions, key=lambda f: f.stat().st_size)
    assert big.stat().st_size > 128 * 1024
    first = [big, *(f for f in submissions if f != big)]  # nothing else lands on the tmpfs
    with small_tmpfs(home.archive_dir, "64k") as mounted:
        proc = _cli_ingest(home, first, None if mounted else "ingest:archive=enospc")
        assert proc.returncode == 1, proc.stderr
        assert "No space left on device" in proc.stderr
        assert f"could not write {big.name}" in proc.stderr and "Traceback" not in proc.stderr
        assert [f for f in home.archive_dir.rglob("*") if f.is_file()] == []  # no partial copy
    assert ledger_accounting(home) == {}  # nothing of it, and the batch stopped there
    retry = _cli_ingest(home, submissions)
    assert retry.returncode == 1 and retry.stderr.count("could not be read") == 1
    _assert_loaded_once(home, clean_ingest, submissions)
