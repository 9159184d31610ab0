"""Write-audit-publish: readers only ever see audited marts; rollback restores a version exactly."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time

import duckdb
import pytest

from ingestion.generate import generate
from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.publish import publish_log, rollback
from tests.conftest import event, write_csv

pytestmark = pytest.mark.e2e

READER = r"""
import json, sys, time, duckdb
path, stop_file, hold = sys.argv[1], sys.argv[2], sys.argv[3] == "hold"
# DuckDB shares one database instance per path within a process, so "holding" (a BI tool
# with the file open all along) and "reconnecting" (a tool opening it per query) are
# separate processes.
held = duckdb.connect(path, read_only=True) if hold else None
import os
seen, errors, reads, deadline = set(), [], 0, time.monotonic() + 900  # bounded
while time.monotonic() < deadline and not os.path.exists(stop_file):
    try:
        con = held or duckdb.connect(path, read_only=True)
        version, mart, fact = con.execute(
            "select (select version from publish_info), "
            "(select sum(cooperation_amount_yuan) from mart_city_scorecard "
            "where period_type = 'all'), (select coalesce(sum(cooperation_amount_yuan), 0) "
            "from fct_project_lifecycle)").fetchone()
        if not hold:
            con.close()
        if mart != fact:
            errors.append(f"v{version}: scorecard {mart} != lifecycle {fact}")
        seen.add(version)
        reads += 1
    except Exception as exc:  # noqa: BLE001 - every failure is a finding
        errors.append(repr(exc))
    time.sleep(0.02)
print(json.dumps({"seen": sorted(seen), "errors": errors, "reads": reads}))
"""


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def published(tmp_path) -> Paths:
    """A home with one published version built from 5 generated cities."""
    home = Paths(tmp_path / "home").ensure()
    files = generate(tmp_path / "subs", cities=5, seed=9)
    pipeline.ingest_paths(home, files[: len(files) // 2])
    pipeline.run(home)
    home_files = files[len(files) // 2 :]
    (tmp_path / "rest.json").write_text(json.dumps([str(f) for f in home_files]))
    return home


def test_reader_never_sees_a_half_published_state(published, tmp_path) -> None:
    rest = json.loads((tmp_path / "rest.json").read_text())
    pipeline.ingest_paths(published, rest)
    stop = tmp_path / "stop-readers"
    readers = {
        mode: subprocess.Popen(
            [sys.executable, "-c", READER, str(published.published_db), str(stop), mode],
            stdout=subprocess.PIPE,
            text=True,
        )
        for mode in ("hold", "reconnect")
    }
    time.sleep(2.0)
    pipeline.run(published)  # v2, published while both read
    time.sleep(2.0)  # let the reconnecting reader open the new version
    stop.touch()
    reports = {m: json.loads(r.communicate(timeout=120)[0]) for m, r in readers.items()}
    for report in reports.values():
        assert report["errors"] == [] and report["reads"] > 50
    assert reports["hold"]["seen"] == [1]  # its open connection keeps a consistent version
    assert reports["reconnect"]["seen"] == [1, 2]  # new connections see the new version


def test_rollback_restores_the_previous_version_exactly(published, tmp_path) -> None:
    v1 = _sha(published.published_db)
    rest = json.loads((tmp_path / "rest.json").read_text())
    pipeline.ingest_paths(published, rest)
    pipeline.run(published)
    v2 = _sha(published.published_db)
    assert v2 != v1
    rec = rollback(published)
    assert rec.version == 1 and rec.action == "rollback"
    assert _sha(published.published_db) == v1
    log = publish_log(published)
    assert [(r.version, r.action) for r in log] == [(1, "publish"), (2, "publish"), (1, "rollback")]
    assert log[-1].by and log[-1].published_at
    rollback(published, 2)
    assert _sha(published.published_db) == v2
    con = duckdb.connect(str(published.published_db), read_only=True)
    assert con.execute("select version from publish_info").fetchone()[0] == 2
    con.close()
    parquet = sorted(p.name for p in (published.published_dir / "parquet").iterdir())
    assert "mart_city_scorecard.parquet" in parquet


def test_warn_only_breach_publishes_and_records_the_warning(published, tmp_path) -> None:
    before = publish_log(published)[-1].version
    regression = write_csv(
        tmp_path / "regression.csv",
        [
            event("无锡", "R1", "opportunity", "enter", "2025-06-01", reported="2025-06-02"),
            event("无锡", "R1", "validation", "enter", "2025-05-20", reported="2025-06-03"),
        ],
    )
    pipeline.ingest_paths(published, [regression])
    outcome = pipeline.run(published)
    assert outcome.published_version == before + 1
    con = duckdb.connect(str(published.work_db), read_only=True)
    warned = con.execute(
        "select suite, expectation from audit.gate_results where run_id = ? and not success "
        "and severity = 'warn'",
        [outcome.gate_run_id],
    ).fetchall()
    con.close()
    assert ("fct_project_lifecycle", "expect_column_pair_values_a_to_be_greater_than_b") in warned


def test_published_columns_carry_the_dbt_descriptions(published) -> None:
    con = duckdb.connect(str(published.published_db), read_only=True)
    comment = con.execute(
        "select comment from duckdb_columns() where table_name = 'fct_project_lifecycle' "
        "and column_name = 'status'"
    ).fetchone()[0]
    con.close()
    assert comment == "active, terminated_failed or terminated_withdrawn."


def test_published_file_opens_with_older_duckdb_storage(published) -> None:
    con = duckdb.connect(str(published.published_db), read_only=True)
    tags = con.execute(
        "select tags from duckdb_databases() where database_name = 'scenetrack'"
    ).fetchone()[0]
    con.close()
    assert tags["storage_version"].startswith("v1.")  # BI drivers with DuckDB 1.x can read it
