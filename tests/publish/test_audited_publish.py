"""Publish publishes exactly what the gate validated (issue 17, finding 2).

Build, gate and publish take the writer lock one after the other, and in Airflow they are
separate tasks: a build can run between the gate and the publish. The gate fingerprints what
it validates; publish refuses anything else, without publishing.
"""

from __future__ import annotations

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.audited import PublishRefusedError
from scenetrack.config import Paths
from scenetrack.publish import publish_log
from tests.conftest import event, write_csv


def _published_amounts(p: Paths) -> list:
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        return con.execute(
            "select project_key, cooperation_amount_yuan from fct_project_lifecycle order by 1"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture
def home(tmp_path, monkeypatch) -> Paths:
    """v1 published from one clean file."""
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    p = Paths(tmp_path / "home").ensure()
    clean = [
        event("合肥", "P1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
        event("合肥", "P1", "validation", "enter", "2025-03-01", reported="2025-03-02"),
        event("合肥", "P1", "application", "enter", "2025-06-01", "4000万元", "2025-06-02"),
    ]
    pipeline.ingest_paths(p, [write_csv(tmp_path / "clean.csv", clean)])
    assert pipeline.run(p).published_version == 1
    return p


def test_a_build_between_gate_and_publish_is_refused(home: Paths, tmp_path) -> None:
    before = _published_amounts(home)
    more = [event("无锡", "W1", "opportunity", "enter", "2025-02-01", reported="2025-02-02")]
    pipeline.ingest_paths(home, [write_csv(tmp_path / "more.csv", more)])
    pipeline.build(home)
    passed = pipeline.gate(home)  # validates the marts with W1

    # the interleaving of the issue: a bad file arrives and is built before the publish
    bad = [event("无锡", "W2", "application", "enter", "2025-05-01", "20000亿元", "2025-05-02")]
    pipeline.ingest_paths(home, [write_csv(tmp_path / "bad.csv", bad)])
    pipeline.build(home)
    with pytest.raises(PublishRefusedError) as refused:
        pipeline.publish(home, passed.run_id)
    message = str(refused.value)
    assert passed.run_id in message
    assert "fct_project_lifecycle: 2 rows validated, 3 now" in message
    assert "nothing was published" in message
    assert [r.version for r in publish_log(home)] == [1]
    assert _published_amounts(home) == before  # no 2万亿 anywhere

    # the gate on what is there now fails on 无锡's rows (per-city holdback then holds 无锡's
    # unpublished files back and passes); its failing run cannot be published either
    again = pipeline.gate(home)
    assert {h["city_code"] for h in again.held_back} == {"320200"}
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        failed_run = con.execute(
            "select run_id from audit.gate_runs where not passed order by run_at desc limit 1"
        ).fetchone()[0]
    finally:
        con.close()
    with pytest.raises(PublishRefusedError, match="did not pass"):
        pipeline.publish(home, failed_run)
    assert [r.version for r in publish_log(home)] == [1]


def test_a_rebuild_with_the_same_rows_is_refused_too(home: Paths) -> None:
    """Row counts alone would not see a changed amount: the dbt run number does."""
    pipeline.build(home)
    passed = pipeline.gate(home)
    pipeline.build(home)  # the same rows, written by a later run
    with pytest.raises(PublishRefusedError, match="dbt run .* was validated"):
        pipeline.publish(home, passed.run_id)
    assert [r.version for r in publish_log(home)] == [1]


def test_an_unknown_gate_run_is_refused(home: Paths) -> None:
    with pytest.raises(PublishRefusedError, match="not recorded"):
        pipeline.publish(home, "20250101T000000-abcdef")
    assert [r.version for r in publish_log(home)] == [1]


def test_the_validated_run_publishes(home: Paths) -> None:
    pipeline.build(home)
    passed = pipeline.gate(home)
    assert pipeline.publish(home, passed.run_id).version == 2
