"""The gate's verdict logic on hand-made outcomes, without running GX: what blocks, what warns,
what is put on cities, what the volume guard compares and what the summary says.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from scenetrack.gate import (
    ExpectationOutcome,
    GateResult,
    SuiteSpec,
    explain_volume_guards,
    passed,
    volume_floors,
)


def outcome(
    suite: str = "s",
    expectation: str = "expect_column_values_to_not_be_null",
    column: str | None = "c",
    severity: str = "error",
    success: bool = True,
    observed: str | None = None,
    cities: tuple[str, ...] | None = None,
) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite, expectation, column, severity, success, observed, None, None, "why", cities
    )


def result(*outcomes: ExpectationOutcome) -> GateResult:
    return GateResult("run-1", date(2025, 12, 31), list(outcomes), None)


def test_only_a_failing_error_blocks() -> None:
    ok, warn = outcome(), outcome(severity="warn", success=False)
    error = outcome(success=False)
    assert passed([]) and passed([ok, warn])
    assert not passed([ok, error])
    r = result(ok, warn, error)
    assert (r.passed, r.failures, r.warnings) == (False, [error], [warn])
    assert result(ok, warn).passed


def test_failing_cities_needs_every_failure_on_cities() -> None:
    hefei = outcome(success=False, cities=("340100",), column="amount_yuan")
    both = outcome(success=False, cities=("320200", "340100"), column="event_date")
    assert result(hefei, both).failing_cities == {
        "340100": ["s: expect_column_values_to_not_be_null(amount_yuan)", both.label],
        "320200": [both.label],
    }
    assert result(hefei, outcome(success=False)).failing_cities is None
    assert result(outcome(), outcome(severity="warn", success=False)).failing_cities is None
    assert result(hefei, outcome(severity="warn", success=False)).failing_cities == {
        "340100": [hefei.label]
    }


def test_the_summary_names_each_problem_with_its_cities_and_runbook() -> None:
    error = outcome(
        suite="stg_raw__events",
        column="amount_yuan",
        success=False,
        observed="1 of 9 rows unexpected",
        cities=("340100",),
    )
    warn = outcome(suite="fct_project_lifecycle", severity="warn", success=False)
    text = result(outcome(), error, warn).summary()
    lines = text.splitlines()
    assert lines[0] == "Quality gate run-1 (run date 2025-12-31): FAILED (publication blocked)"
    assert lines[1] == "  3 checks in 3 suites; 1 error failure(s), 1 warning(s)"
    assert lines[2] == "  ERROR stg_raw__events: expect_column_values_to_not_be_null(amount_yuan)"
    assert "      observed: 1 of 9 rows unexpected" in lines
    assert "      cities:   340100" in lines
    assert lines.index("  WARN fct_project_lifecycle: expect_column_values_to_not_be_null(c)") > 2
    assert lines[-1] == (
        "  Runbook: expectations/RUNBOOK.md#fct_project_lifecycle, "
        "expectations/RUNBOOK.md#stg_raw__events"
    )
    assert result(outcome()).summary().splitlines() == [
        "Quality gate run-1 (run date 2025-12-31): PASSED",
        "  1 checks in 1 suites; 0 error failure(s), 0 warning(s)",
        "  Runbook: expectations/README.md",
    ]
    two = replace(error, cities=("320200", "340100"), unexpected_sample='[{"k": 1}]')
    docs = replace(result(two), data_docs_index=Path("/tmp/docs/index.html")).summary()
    assert "      cities:   320200, 340100" in docs.splitlines()
    assert '      sample:   [{"k": 1}]' in docs.splitlines()
    assert "  Data Docs: file:///tmp/docs/index.html" in docs.splitlines()


def _spec(name: str, *expectations: dict) -> SuiteSpec:
    return SuiteSpec(name, Path(f"{name}.json"), "select 1", (), expectations, {})


ROW_COUNT = "expect_table_row_count_to_be_between"


def test_the_volume_guard_says_rows_floor_baseline_and_knob() -> None:
    spec = _spec(
        "fct",
        {"type": ROW_COUNT, "kwargs": {"min_value": 1}},
        {"type": ROW_COUNT, "kwargs": {"min_value": {"$PARAMETER": "min_rows_fct"}}},
    )
    plain = outcome("fct", ROW_COUNT, None, observed="41")
    guard = replace(plain, success=False)
    out = explain_volume_guards([spec], [plain, guard, outcome("fct")], {"fct": 100}, 0.5)
    assert out[0] == plain  # the min-1 row count is no volume guard
    assert out[1].observed_value == (
        "41 rows; floor 50 = the 100 rows of the published version less 50% "
        "(knob: SCENETRACK_VOLUME_MAX_DROP=0.5)"
    )
    assert out[2] == outcome("fct")
    first = explain_volume_guards([spec], [plain, guard], None, 0.5)
    assert first[1].observed_value == "41 rows; no published version yet, so no floor"
    # an outcome of a suite not among the specs (a query that failed) passes through as is
    other = outcome("elsewhere", "batch_query", None, success=False)
    assert explain_volume_guards([spec], [other, guard], {"fct": 100}, 0.5)[0] == other


def test_volume_floors_round_down_and_are_zero_without_a_baseline(tmp_path) -> None:
    floors = volume_floors({"fct_project_lifecycle": 101, "mart_city_scorecard": 3}, 0.5)
    assert floors["min_rows_fct_project_lifecycle"] == 50
    assert floors["min_rows_mart_city_scorecard"] == 1
    assert floors["min_rows_fct_stage_transitions"] == 0  # not in the baseline
    assert set(volume_floors(None).values()) == {0}
    assert volume_floors({"fct_project_lifecycle": 10}, 0.25)["min_rows_fct_project_lifecycle"] == 7
    # no drop allowed: a table the baseline lacks still has no floor
    no_drop = volume_floors({"fct_project_lifecycle": 10}, 0.0)
    assert (no_drop["min_rows_fct_project_lifecycle"], no_drop["min_rows_mart_city_scorecard"]) == (
        10,
        0,
    )


@pytest.mark.parametrize(
    ("cities", "label"),
    [(("340100",), "stg: expect_x(c)"), (None, "stg: expect_x(c)")],
)
def test_a_label_is_suite_expectation_and_column(cities, label) -> None:
    assert outcome("stg", "expect_x", "c", cities=cities).label == label
    assert outcome("stg", "expect_x", None).label == "stg: expect_x"


def test_the_summary_names_the_date_freshness_was_measured_against() -> None:
    gated = replace(result(outcome(success=False)), as_of=date(2025, 12, 30))
    lines = gated.summary().splitlines()
    assert lines[0] == (
        "Quality gate run-1 (run date 2025-12-31, data as of 2025-12-30): "
        "FAILED (publication blocked)"
    )
    assert lines[2:5] == [
        "  ERROR s: expect_column_values_to_not_be_null(c)",
        "      why:      why",
        "  Runbook: expectations/RUNBOOK.md#s",
    ]


def test_the_volume_guard_reads_its_knob_when_none_is_given(monkeypatch) -> None:
    spec = _spec(
        "fct", {"type": ROW_COUNT, "kwargs": {"min_value": {"$PARAMETER": "min_rows_fct"}}}
    )
    guard = outcome("fct", ROW_COUNT, None, success=False, observed="41")
    monkeypatch.setenv("SCENETRACK_VOLUME_MAX_DROP", "0.25")
    # floor(100 * (1 - 0.25)) = 75
    assert explain_volume_guards([spec], [guard], {"fct": 100})[0].observed_value == (
        "41 rows; floor 75 = the 100 rows of the published version less 25% "
        "(knob: SCENETRACK_VOLUME_MAX_DROP=0.25)"
    )
    # a max_drop given wins over the knob: floor(100 * (1 - 0.6)) = 40
    assert explain_volume_guards([spec], [guard], {"fct": 100}, 0.6)[0].observed_value == (
        "41 rows; floor 40 = the 100 rows of the published version less 60% "
        "(knob: SCENETRACK_VOLUME_MAX_DROP=0.6)"
    )
