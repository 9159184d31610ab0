"""The quality gate on a tiny hand-made work database (see conftest.py for every row).

Each bad-data test plants a known number of bad rows and asserts GX reports exactly those, which
also proves the pandas route really evaluates data (the duckdb-engine route returned empty
metrics and passed everything). GX runs take a few seconds each, so those tests are ``e2e``.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from scenetrack.config import EXPECTATIONS_DIR
from scenetrack.gate import (
    GateConfigError,
    GateResult,
    last_gate_outcome,
    load_suite_specs,
    run_gate,
)

from .conftest import RUN_DATE_ISO

RUN_DATE = date.fromisoformat(RUN_DATE_ISO)
SUITES = {
    "dim_city",
    "fct_project_lifecycle",
    "mart_city_scorecard",
    "scorecard_reconciliation",
    "source_freshness",
    "fct_stage_transitions",
    "mart_stage_funnel",
    "mart_stalled_projects",
    "mart_supply_demand",
    "stg_raw__events",
}


def gate(work_db: Path, tmp_path: Path, run_id: str = "run-1", run_date: date = RUN_DATE):
    return run_gate(work_db, tmp_path / "gate", run_id, run_date)


def failing(result: GateResult, suite: str, expectation: str, column: str):
    """The one failing outcome for (suite, expectation, column); fails the test otherwise."""
    found = [
        o
        for o in result.outcomes
        if not o.success and (o.suite, o.expectation, o.column) == (suite, expectation, column)
    ]
    assert len(found) == 1, f"expected one failing {suite}/{expectation}({column}):\n" + (
        result.summary()
    )
    return found[0]


def audit_rows(work_db: Path, run_id: str) -> list[tuple]:
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        return con.execute(
            "select suite, expectation, column_name, severity, success, unexpected_count "
            "from audit.gate_results where run_id = ?",
            [run_id],
        ).fetchall()
    finally:
        con.close()


# --- suite files (no GX run, fast) ------------------------------------------------------------


def test_project_suites_load_and_cover_every_checked_model():
    specs = {s.name: s for s in load_suite_specs(EXPECTATIONS_DIR)}
    assert set(specs) == SUITES
    for spec in specs.values():
        assert spec.batch_query.strip().lower().startswith(("select", "with"))
        severities = {e["meta"]["severity"] for e in spec.expectations}
        assert severities <= {"error", "warn"}
        assert all(e["meta"].get("notes") for e in spec.expectations), spec.name
    lifecycle = specs["fct_project_lifecycle"]
    pair_checks = [
        e
        for e in lifecycle.expectations
        if e["type"] == "expect_column_pair_values_a_to_be_greater_than_b"
    ]
    assert len(pair_checks) == 3 and all(e["meta"]["severity"] == "warn" for e in pair_checks)
    recon = specs["scorecard_reconciliation"]
    assert all(e["meta"]["severity"] == "error" for e in recon.expectations)


def test_malformed_suite_is_refused(tmp_path: Path):
    suites = tmp_path / "suites"
    suites.mkdir()
    shutil.copy(EXPECTATIONS_DIR / "dim_city.json", suites / "dim_city.json")
    raw = json.loads((suites / "dim_city.json").read_text(encoding="utf-8"))
    raw["expectations"][0]["meta"]["severity"] = "fatal"
    (suites / "dim_city.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(GateConfigError, match="severity"):
        load_suite_specs(suites)

    raw["expectations"][0]["meta"]["severity"] = "error"
    del raw["meta"]["batch_query"]
    (suites / "dim_city.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(GateConfigError, match="batch_query"):
        load_suite_specs(suites)


def test_last_gate_outcome_before_any_run(work_db: Path, tmp_path: Path):
    assert last_gate_outcome(tmp_path / "missing.duckdb") is None
    assert last_gate_outcome(work_db) is None


# --- GX runs ----------------------------------------------------------------------------------


@pytest.mark.e2e
def test_clean_data_passes_and_is_recorded(work_db: Path, tmp_path: Path):
    result = gate(work_db, tmp_path)

    assert result.passed, result.summary()
    assert result.failures == [] and result.warnings == []
    assert {o.suite for o in result.outcomes} == SUITES
    for suite in SUITES:
        assert sum(o.suite == suite for o in result.outcomes) >= 3
    # GX saw every row of every batch (guards against the empty-metrics route)
    guards = [o for o in result.outcomes if o.expectation == "gate_guard_gx_saw_every_row"]
    assert len(guards) == len(SUITES) and all(o.success for o in guards)

    rows = audit_rows(work_db, "run-1")
    assert len(rows) == len(result.outcomes)
    assert all(success for *_, success, _ in rows)

    # suites are validated largest batch first, but reported in file (name) order
    suite_order = [o.suite for o in result.outcomes]
    assert suite_order == sorted(suite_order)

    assert result.data_docs_index == tmp_path / "gate" / "data_docs" / "index.html"
    assert result.data_docs_index.exists()
    assert "stg_raw__events" in result.data_docs_index.read_text(encoding="utf-8")
    # Data Docs are rendered once per run: one validation page and one suite page per suite
    docs = result.data_docs_index.parent
    pages = sorted(docs.glob("validations/*/run-1/*/*.html"))
    assert sorted(p.parts[-4] for p in pages) == sorted(SUITES)
    assert {p.stem for p in docs.glob("expectations/*.html")} == SUITES

    last = last_gate_outcome(work_db)
    assert last is not None
    assert last["run_id"] == "run-1" and last["passed"] is True
    assert (last["failures"], last["warnings"]) == (0, 0)
    assert "PASSED" in result.summary()

    # a retry with the same run_id replaces its rows instead of doubling them
    gate(work_db, tmp_path)
    assert len(audit_rows(work_db, "run-1")) == len(result.outcomes)


@pytest.mark.e2e
def test_duplicate_project_row_fails_the_reconciliation_with_observed_values(plant, tmp_path: Path):
    # one extra copy of P3 (withdrawn in Shanghai): that project_key is unique is dbt's test,
    # which stops a build before the gate; a doubled row that reached the marts anyway still
    # breaks the scorecard's reconciliation with the lifecycle, city by city
    work_db = plant(
        "insert into marts.fct_project_lifecycle "
        "select * from marts.fct_project_lifecycle where project_key = '310000:P3'"
    )
    result = gate(work_db, tmp_path, run_id="run-dup")

    assert not result.passed
    label = "scorecard_projects_withdrawn, lifecycle_projects_withdrawn"
    recon = failing(
        result, "scorecard_reconciliation", "expect_column_pair_values_to_be_equal", label
    )
    assert [o.label for o in result.failures] == [recon.label]
    assert recon.severity == "error"
    assert recon.unexpected_count == 1  # Shanghai's row: 1 withdrawn in the scorecard, 2 here
    assert recon.observed_value == "1 of 3 rows unexpected"  # one row per city: 3 cities
    assert "310000" in recon.unexpected_sample
    summary = result.summary()
    assert "FAILED" in summary
    assert f"scorecard_reconciliation: expect_column_pair_values_to_be_equal({label})" in summary
    assert "1 of 3 rows unexpected" in summary and "310000" in summary

    stored = [r for r in audit_rows(work_db, "run-dup") if not r[4]]
    assert stored == [
        (
            "scorecard_reconciliation",
            "expect_column_pair_values_to_be_equal",
            label,
            "error",
            False,
            1,
        )
    ]
    last = last_gate_outcome(work_db)
    assert last["passed"] is False and last["failures"] == len(result.failures)


@pytest.mark.e2e
def test_stage_date_regression_only_warns(plant, tmp_path: Path):
    # P1 entered validation before its opportunity was published
    work_db = plant(
        "update marts.fct_project_lifecycle set validation_entered_on = date '2023-12-01', "
        "has_stage_date_regression = true where project_key = '110000:P1'"
    )
    result = gate(work_db, tmp_path, run_id="run-warn")

    assert result.passed, result.summary()
    assert result.failures == []
    warn = failing(
        result,
        "fct_project_lifecycle",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "validation_entered_on, opportunity_entered_on",
    )
    assert warn.severity == "warn" and warn.unexpected_count == 1
    assert "110000:P1" in warn.unexpected_sample
    assert result.warnings == [warn]
    assert "WARN fct_project_lifecycle" in result.summary()

    stored = [r for r in audit_rows(work_db, "run-warn") if not r[4]]
    assert stored == [
        (
            "fct_project_lifecycle",
            "expect_column_pair_values_a_to_be_greater_than_b",
            "validation_entered_on, opportunity_entered_on",
            "warn",
            False,
            1,
        )
    ]
    last = last_gate_outcome(work_db)
    assert (last["passed"], last["failures"], last["warnings"]) == (True, 0, 1)


@pytest.mark.e2e
def test_scorecard_reconciliation_mismatch_fails(plant, tmp_path: Path):
    # Beijing's all-time amount says 6,000,000 yuan; its projects add up to 5,000,000 yuan
    work_db = plant(
        "update marts.mart_city_scorecard set cooperation_amount_yuan = 6000000 "
        "where city_code = '110000' and period_type = 'all'"
    )
    result = gate(work_db, tmp_path, run_id="run-recon")

    assert not result.passed
    assert [o.suite for o in result.failures] == ["scorecard_reconciliation"]
    miss = result.failures[0]
    assert (miss.expectation, miss.column) == (
        "expect_column_values_to_be_between",
        "amount_difference_yuan",
    )
    assert miss.unexpected_count == 1
    (row,) = json.loads(miss.unexpected_sample)
    assert row == {
        "city_code": "110000",
        "scorecard_amount_yuan": 6000000.0,
        "lifecycle_amount_yuan": 5000000.0,
        "amount_difference_yuan": 1000000.0,
    }
    assert "scorecard_reconciliation" in result.summary()


@pytest.mark.e2e
def test_reconciliation_is_exact_to_the_fen(plant, tmp_path: Path):
    # one project off by 0.01 yuan: amounts are exact DECIMAL yuan on both sides, so it fails
    work_db = plant(
        "update marts.fct_project_lifecycle set cooperation_amount_yuan = 5000000.01 "
        "where project_key = '110000:P1'"
    )
    result = gate(work_db, tmp_path)
    assert not result.passed
    assert [o.suite for o in result.failures] == ["scorecard_reconciliation"]


@pytest.mark.e2e
def test_stage_outside_the_watchlist_stages_fails_with_value_in_sample(plant, tmp_path: Path):
    # a project at scale-up is never stalled (scale-up is where a project stays): dbt accepts
    # scale_up as a stage, the watchlist's own rule does not
    work_db = plant("update marts.mart_stalled_projects set current_stage = 'scale_up'")
    result = gate(work_db, tmp_path, run_id="run-enum")

    assert not result.passed
    bad = failing(
        result, "mart_stalled_projects", "expect_column_values_to_be_in_set", "current_stage"
    )
    assert bad.unexpected_count == 1
    assert json.loads(bad.unexpected_sample) == [
        {"current_stage": "scale_up", "project_key": "110000:P2"}
    ]
    assert "scale_up" in result.summary()
    assert [o.label for o in result.failures] == [bad.label]


@pytest.mark.e2e
def test_dates_after_the_run_date_fail(work_db: Path, tmp_path: Path):
    # P3 was withdrawn on 2025-03-01 (reported 2025-03-02): a run dated the day before the
    # withdrawal must reject those rows; the clean-data run date accepts them
    result = gate(work_db, tmp_path, run_id="run-early", run_date=date(2025, 2, 28))

    assert not result.passed
    event_date = failing(
        result, "stg_raw__events", "expect_column_values_to_be_between", "event_date"
    )
    assert event_date.unexpected_count == 1
    assert "310000:P3:opportunity:withdraw" in event_date.unexpected_sample
    reported = failing(
        result, "stg_raw__events", "expect_column_values_to_be_between", "reported_at"
    )
    assert reported.unexpected_count == 12  # every event was reported on 2025-03-02
    terminated = failing(
        result, "fct_project_lifecycle", "expect_column_values_to_be_between", "terminated_on"
    )
    assert terminated.unexpected_count == 1 and "310000:P3" in terminated.unexpected_sample
    assert "2025-02-28" in result.summary()


@pytest.mark.e2e
def test_missing_model_is_a_recorded_failure_not_a_crash(plant, tmp_path: Path):
    work_db = plant("drop table marts.mart_city_scorecard")
    result = gate(work_db, tmp_path, run_id="run-missing")

    assert not result.passed
    failed = {(o.suite, o.expectation) for o in result.failures}
    assert ("mart_city_scorecard", "batch_query") in failed
    assert ("scorecard_reconciliation", "batch_query") in failed
    assert "mart_city_scorecard" in result.summary()
    assert any(r[1] == "batch_query" for r in audit_rows(work_db, "run-missing"))


@pytest.mark.e2e
def test_cities_gone_quiet_warn_but_publish(work_db: Path, tmp_path: Path):
    # every city last reported on 2025-06-01; 90 days later they are still fresh ...
    assert not gate(work_db, tmp_path, run_date=date(2025, 8, 30)).warnings
    # ... one day past the window all three are stale: a warning, not a block
    result = gate(work_db, tmp_path, run_id="run-late", run_date=date(2025, 8, 31))
    assert result.passed
    (warning,) = result.warnings
    assert (warning.suite, warning.severity, warning.unexpected_count) == (
        "source_freshness",
        "warn",
        3,
    )


@pytest.mark.e2e
def test_volume_guard_blocks_a_sudden_drop_against_the_published_version(
    work_db: Path, tmp_path: Path
):
    # the published version had 10 projects; 4 now is a drop of more than half (floor 5)
    result = run_gate(
        work_db,
        tmp_path / "gate",
        "run-vol",
        RUN_DATE,
        baseline_counts={"fct_project_lifecycle": 10},
    )
    assert not result.passed
    (failure,) = result.failures
    assert (failure.suite, failure.expectation) == (
        "fct_project_lifecycle",
        "expect_table_row_count_to_be_between",
    )
    assert "4" in (failure.observed_value or "")
    # 8 published rows -> floor(8 * 0.5) = 4 rows are still allowed
    allowed = run_gate(
        work_db,
        tmp_path / "gate",
        "run-vol2",
        RUN_DATE,
        baseline_counts={"fct_project_lifecycle": 8},
    )
    assert allowed.passed
