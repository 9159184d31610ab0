"""The real pipeline (dbt, GX, publish) killed at each step: after a plain rerun the published
warehouse equals that of an uninterrupted run, and every file is counted exactly once.

Scenario: batch A is published as v1; batch B is then ingested, built, gated and published
as v2. Every fault strikes during the v2 cycle; readers must see v1 or v2 (never damage),
and after the rerun the published marts must equal the uninterrupted run's v2, table by
table (``EXCEPT ALL`` both ways; ``publish_info`` aside).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.config import PROJECT_DIR, Paths
from scenetrack.gate import ExpectationOutcome, _store
from scenetrack.publish import publish_log
from tests.faults.conftest import data_rows
from tests.faults.helpers import (
    KILLED,
    child_env,
    differences,
    ledger_accounting,
    published_version,
    run_step,
)
from tests.reference import LINEAGE_COLUMNS

BATCH_A = 3  # the first three submissions; the rest (with scan.csv) is batch B
LINEAGE = frozenset(LINEAGE_COLUMNS)


@pytest.fixture(scope="module")
def v1_home(tmp_path_factory: pytest.TempPathFactory, submissions: list[Path]) -> Paths:
    """Batch A ingested, built, gated and published as v1 (template: tests copy it)."""
    p = Paths(tmp_path_factory.mktemp("faults-v1") / "home").ensure()
    pipeline.ingest_paths(p, submissions[:BATCH_A])
    assert pipeline.run(p).published_version == 1
    return p


@pytest.fixture(scope="module")
def gated_home(
    tmp_path_factory: pytest.TempPathFactory, v1_home: Paths, submissions: list[Path]
) -> tuple[Paths, str]:
    """v1 published, batch B ingested, built and gated (template); the gate run id."""
    p = _copy(v1_home, tmp_path_factory.mktemp("faults-gated"))
    pipeline.ingest_paths(p, submissions[BATCH_A:])
    pipeline.build(p)
    return p, pipeline.gate(p).run_id


@pytest.fixture(scope="module")
def clean_v2(tmp_path_factory: pytest.TempPathFactory, gated_home: tuple[Paths, str]) -> Paths:
    """The uninterrupted run: v2 published from the gated template."""
    p = _copy(gated_home[0], tmp_path_factory.mktemp("faults-clean-v2"))
    assert pipeline.publish(p, gated_home[1]).version == 2
    return p


def _copy(template: Paths, where: Path) -> Paths:
    shutil.copytree(template.home, where / "home", symlinks=True)
    return Paths(where / "home")


def _assert_recovered(p: Paths, clean: Paths, submissions: list[Path], version: int) -> None:
    assert published_version(p) == version
    assert publish_log(p)[-1].version == version
    # lineage columns say when a row was loaded and rebuilt: a rerun rewrites them
    assert differences(p.published_db, clean.published_db, ignore_columns=LINEAGE) == []
    ledger = ledger_accounting(p)
    assert len(ledger) == len(submissions)  # every file once
    loaded = [v for v in ledger.values() if v[0] == "loaded"]
    assert sum(v[4] + v[5] for v in loaded) == data_rows(submissions)
    assert not [f for f in p.published_dir.iterdir() if f.name.startswith(".")]


def _kill_tree_when_logged(p: Paths, code: str, marker: str, timeout: float = 300) -> None:
    """Run ``code`` in a child (own process group: the step and its dbt process) and SIGKILL
    the whole group as soon as dbt's log shows ``marker``, as when a worker is lost."""
    log = p.logs_dir / "dbt" / "dbt.log"
    start = log.stat().st_size if log.exists() else 0
    prelude = (
        "from pathlib import Path\nfrom scenetrack.config import Paths\n"
        f"from scenetrack import pipeline\nhome = Paths(Path({str(p.home)!r}))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", prelude + code],
        env=child_env(),
        cwd=PROJECT_DIR,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and child.poll() is None:
            if log.exists():
                with log.open("rb") as f:
                    f.seek(start)
                    if marker.encode() in f.read():
                        break
            time.sleep(0.05)
        assert child.poll() is None, "the step ended before the kill"
    finally:
        with_group = child.poll() is None
        if with_group:
            os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == KILLED


@pytest.mark.e2e
@pytest.mark.parametrize(
    "marker",
    [
        "OK created sql incremental model staging.stg_raw__events",  # intermediates not yet
        "OK created sql incremental model marts.fct_project_lifecycle",  # some marts rebuilt
    ],
)
def test_dbt_build_killed_mid_run_then_rerun(
    tmp_path: Path, v1_home: Paths, clean_v2: Paths, submissions: list[Path], marker: str
) -> None:
    p = _copy(v1_home, tmp_path)
    pipeline.ingest_paths(p, submissions[BATCH_A:])
    _kill_tree_when_logged(p, "pipeline.build(home)", marker)
    assert published_version(p) == 1  # readers still on v1
    assert pipeline.run(p).published_version == 2  # the plain rerun
    _assert_recovered(p, clean_v2, submissions, 2)


@pytest.mark.e2e
def test_gate_killed_before_storing_then_rerun(
    tmp_path: Path, gated_home: tuple[Paths, str], clean_v2: Paths, submissions: list[Path]
) -> None:
    p = _copy(gated_home[0], tmp_path)
    assert run_step("pipeline.gate(home)", p, "gate:before_store") == KILLED
    assert published_version(p) == 1
    result = pipeline.gate(p)  # the rerun: the gate, then the publish it allows
    assert pipeline.publish(p, result.run_id).version == 2
    _assert_recovered(p, clean_v2, submissions, 2)
    con = duckdb.connect(str(p.work_db), read_only=True)
    runs = con.execute("select count(distinct run_id) from audit.gate_results").fetchone()[0]
    con.close()
    assert runs == 3  # v1's, the template's and the rerun's: nothing of the killed run


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("fault", "seen"),
    [("publish:before_replace", 1), ("publish:after_replace", 2), ("publish:parquet@3", 2)],
)
def test_publish_marts_killed_then_retried(
    tmp_path: Path,
    gated_home: tuple[Paths, str],
    clean_v2: Paths,
    submissions: list[Path],
    fault: str,
    seen: int,
) -> None:
    """The Airflow task ``publish_marts(gate_run_id)`` killed, then retried as Airflow does."""
    p = _copy(gated_home[0], tmp_path)
    run_id = gated_home[1]
    assert run_step(f"pipeline.publish(home, {run_id!r})", p, fault) == KILLED
    assert published_version(p) == seen
    assert pipeline.publish(p, run_id).version == 2
    _assert_recovered(p, clean_v2, submissions, 2)
    assert [r.version for r in publish_log(p)] == [1, 2]


@pytest.mark.e2e
def test_ingestion_killed_then_everything_rerun(
    tmp_path: Path, v1_home: Paths, clean_v2: Paths, submissions: list[Path]
) -> None:
    p = _copy(v1_home, tmp_path)
    code = (
        "import json\n"
        f"pipeline.ingest_paths(home, [Path(f) for f in {[str(f) for f in submissions]!r}])\n"
    )
    assert run_step(code, p, "ingest:after_ledger@2") == KILLED  # A again, then B's first
    assert published_version(p) == 1
    pipeline.ingest_paths(p, submissions)  # the operator reruns the same command
    assert pipeline.run(p).published_version == 2
    _assert_recovered(p, clean_v2, submissions, 2)


def test_gate_results_killed_mid_transaction_are_not_half_stored(home: Paths) -> None:
    """``_store`` killed between its inserts and its commit: no row of that run survives;
    the rerun stores each outcome once."""
    outcome = ExpectationOutcome("s", "expect_x", "c", "error", True, "1", 0, None, "n")
    now = datetime.now(UTC).replace(tzinfo=None)
    code = (
        "from datetime import datetime\n"
        "from scenetrack.gate import ExpectationOutcome, _store\n"
        f"_store(home.work_db, 'r1', datetime.fromisoformat({now.isoformat()!r}), "
        f"[ExpectationOutcome{tuple(vars(outcome).values())!r}] * 5, {{}})\n"
    )
    assert run_step(code, home, "gate:before_commit") == KILLED
    con = duckdb.connect(str(home.work_db))
    assert con.execute("select count(*) from audit.gate_results").fetchone()[0] == 0
    assert con.execute("select count(*) from audit.gate_runs").fetchone()[0] == 0  # nor its verdict
    con.close()
    _store(home.work_db, "r1", now, [outcome] * 5, {})
    _store(home.work_db, "r1", now, [outcome] * 5, {})  # a retry of the same run replaces it
    con = duckdb.connect(str(home.work_db), read_only=True)
    assert con.execute("select count(*) from audit.gate_results").fetchone()[0] == 5
    assert con.execute("select count(*) from audit.gate_runs").fetchone()[0] == 1
    con.close()
