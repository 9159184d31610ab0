"""Gate on what changed (issue 22), through the pipeline on a small warehouse built by dbt:
after a passing gate the large suites are validated over the rows dbt wrote since and their row
counts over the whole table; the verdicts of the error checks are those of a full run, and a
failure stays in scope until a gate passes. The rules themselves: ``test_scope_rules.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.config import Paths
from tests.conftest import event, write_csv


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Paths:
    """v1 published by a full gate: one project in each of 合肥 and 无锡."""
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    p = Paths(tmp_path / "home").ensure()
    first = [
        event("合肥", "P1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
        event("合肥", "P1", "application", "enter", "2025-04-01", "100万元", "2025-04-02"),
        event("无锡", "W1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
    ]
    pipeline.ingest_paths(p, [write_csv(tmp_path / "first.csv", first)])
    pipeline.build(p)
    result = pipeline.gate(p)
    assert result.scope == "every row: no gate has passed yet"
    pipeline.publish(p, result.run_id)
    return p


def _ingest_and_build(p: Paths, path: Path, rows: list[dict]) -> None:
    pipeline.ingest_paths(p, [write_csv(path, rows)])
    pipeline.build(p)


def _guards(p: Paths, run_id: str) -> dict[str, list[str]]:
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        rows = con.execute(
            "select suite, observed_value from audit.gate_results where run_id = ? "
            "and expectation = 'gate_guard_gx_saw_every_row' order by suite, observed_value",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[str]] = {}
    for suite, observed in rows:
        out.setdefault(suite, []).append(observed)
    return out


def _stored_scope(p: Paths, run_id: str) -> dict:
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        [(fp,)] = con.execute(
            "select fingerprint from audit.gate_runs where run_id = ?", [run_id]
        ).fetchall()
    finally:
        con.close()
    return json.loads(fp)


BAD = "20000亿元"  # 2e12 yuan: above the gate's 1e12 bound on amounts (an error check)


def test_after_a_passing_gate_only_the_new_rows_are_read(home: Paths, tmp_path: Path) -> None:
    _ingest_and_build(
        home,
        tmp_path / "wuxi.csv",
        [event("无锡", "W2", "opportunity", "enter", "2025-03-01", reported="2025-06-01")],
    )
    result = pipeline.gate(home)
    assert result.passed
    first_seq = _stored_scope(home, result.run_id)["gate"]["since"]
    assert result.scope == f"rows dbt wrote after run {first_seq} (the last passing gate's)"
    guards = _guards(home, result.run_id)
    # one new event, one new project (W2), no transition (W2 has one stage), no stalled row;
    # the row counts read all 4 events and all 3 projects
    assert guards["stg_raw__events"] == [
        "query returned 1 rows; GX counted [1]",
        "query returned 4 rows; GX counted [4]",
    ]
    assert guards["fct_project_lifecycle"] == [
        "query returned 1 rows; GX counted [1]",
        "query returned 3 rows; GX counted [3]",
    ]
    assert guards["mart_city_scorecard"] == [guards["mart_city_scorecard"][0]]  # not scoped


def _error_verdicts(result) -> dict:
    return {
        (o.suite, o.expectation, o.column): (o.success, o.unexpected_count, o.cities)
        for o in result.outcomes
        if o.severity == "error" and o.expectation != "gate_guard_gx_saw_every_row"
    }


def test_a_scoped_gate_gives_the_error_verdicts_of_a_full_one(home: Paths, tmp_path: Path) -> None:
    _ingest_and_build(
        home,
        tmp_path / "june.csv",
        [
            event("合肥", "P2", "opportunity", "enter", "2025-02-01", reported="2025-06-01"),
            event("合肥", "P2", "application", "enter", "2025-05-01", BAD, "2025-06-01"),
            event("无锡", "W2", "opportunity", "enter", "2025-03-01", reported="2025-06-01"),
        ],
    )
    scoped = pipeline._gate_once(home, None)
    full = pipeline._gate_once(home, None, full=True)
    assert scoped.scope.startswith("rows dbt wrote after run") and full.scope.startswith("every")
    assert not scoped.passed and not full.passed
    assert _error_verdicts(scoped) == _error_verdicts(full)
    failing = {k for k, (ok, _, _) in _error_verdicts(scoped).items() if not ok}
    assert ("stg_raw__events", "expect_column_values_to_be_between", "amount_yuan") in failing
    assert (
        scoped.failing_cities
        == full.failing_cities
        == {"340100": [o.label for o in scoped.failures]}
    )


def test_a_failure_stays_in_scope_until_a_gate_passes(home: Paths, tmp_path: Path) -> None:
    _ingest_and_build(
        home,
        tmp_path / "hefei.csv",
        [event("合肥", "P2", "application", "enter", "2025-05-01", BAD, "2025-06-01")],
    )
    assert not pipeline._gate_once(home, None).passed
    # a later build writes other rows only; the bad rows are from the run before it
    _ingest_and_build(
        home,
        tmp_path / "wuxi.csv",
        [event("无锡", "W3", "opportunity", "enter", "2025-07-01", reported="2025-07-02")],
    )
    again = pipeline._gate_once(home, None)
    assert again.scope.startswith("rows dbt wrote after run")
    assert [o.column for o in again.failures if o.suite == "stg_raw__events"] == ["amount_yuan"]


def test_every_row_when_the_periodic_full_validation_is_due(
    home: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCENETRACK_GATE_FULL_EVERY_HOURS", "0")
    result = pipeline.gate(home)
    assert result.scope == "every row: SCENETRACK_GATE_FULL_EVERY_HOURS is 0"
    assert _stored_scope(home, result.run_id)["gate"]["full"] is True
    assert len(_guards(home, result.run_id)["stg_raw__events"]) == 1
