"""Gate on what changed (issue 22): after a passing gate, the large suites are validated over
the rows dbt wrote since, their row counts over the whole table; the verdicts of the error
checks are those of a full run, and a failure stays in scope until a gate passes.

The unit tests state the rules of ``scenetrack/gate/scope.py`` on hand-made suites; the
pipeline tests run the real gate (GX) on a small warehouse built by dbt.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.gate import ExpectationOutcome, GateConfigError, SuiteSpec
from scenetrack.gate.scope import (
    CHANGED_ROWS,
    WHOLE_BATCH,
    GateScope,
    PassedGate,
    choose_scope,
    passed_gate,
    row_wise,
    scope_record,
    split,
)
from scenetrack.gate.suites import explain_volume_guards
from tests.conftest import event, write_csv

ROW_COUNT = "expect_table_row_count_to_be_between"


def _e(kind: str, **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": "error"}}


def _spec(*expectations: dict, scope_column: str | None = "dbt_run_seq") -> SuiteSpec:
    meta = {"batch_query": "select * from marts.fct", "city_column": "city_code"}
    if scope_column:
        meta["scope_column"] = scope_column
    return SuiteSpec(
        "fct", Path("fct.json"), "select * from marts.fct;", ("k",), expectations, meta
    )


def test_row_wise_checks_are_the_ones_a_row_decides_alone() -> None:
    assert row_wise(_e("expect_column_values_to_not_be_null", column="c"))
    assert row_wise(_e("expect_column_values_to_be_between", column="c", mostly=1))
    assert row_wise(_e("expect_column_pair_values_a_to_be_greater_than_b", column_A="a"))
    # a share of the rows, uniqueness, row counts and aggregates depend on the other rows
    assert not row_wise(_e("expect_column_values_to_be_between", column="c", mostly=0.9))
    assert not row_wise(_e("expect_column_values_to_be_unique", column="c"))
    assert not row_wise(_e(ROW_COUNT, min_value=1))
    assert not row_wise(_e("expect_column_mean_to_be_between", column="c"))
    assert not row_wise(_e("expect_compound_columns_to_be_unique", column_list=["a", "b"]))


def test_a_scoped_suite_splits_into_changed_rows_and_its_row_counts() -> None:
    nulls = _e("expect_column_values_to_not_be_null", column="c")
    count = _e(ROW_COUNT, min_value=1)
    rows, whole = split(_spec(nulls, count), 7)
    assert (rows.name, rows.part, rows.gx_name) == ("fct", CHANGED_ROWS, "fct.changed_rows")
    assert rows.expectations == (nulls,) and rows.id_columns == ("k",)
    assert rows.batch_query == (
        'select * from (\nselect * from marts.fct\n) as whole_batch\nwhere "dbt_run_seq" > 7'
    )
    assert rows.meta["city_column"] == "city_code" and rows.meta["scope"] == "dbt_run_seq > 7"
    # the row counts read the whole batch, as a count: no keys, no city column
    assert (whole.part, whole.expectations, whole.id_columns) == (WHOLE_BATCH, (count,), ())
    assert whole.batch_query == "select * from marts.fct;" and "city_column" not in whole.meta


def test_a_check_across_rows_keeps_the_whole_batch_with_its_keys() -> None:
    unique = _e("expect_column_values_to_be_unique", column="c")
    [whole] = split(_spec(unique), 7)
    assert (whole.part, whole.id_columns, whole.meta["city_column"]) == (
        WHOLE_BATCH,
        ("k",),
        "city_code",
    )
    [rows] = split(_spec(_e("expect_column_values_to_not_be_null", column="c")), 7)
    assert rows.part == CHANGED_ROWS


def test_a_suite_without_a_scope_column_is_read_whole_and_a_bad_one_is_refused() -> None:
    spec = _spec(_e(ROW_COUNT, min_value=1), scope_column=None)
    assert split(spec, 7) == [spec]
    with pytest.raises(GateConfigError, match="scope_column must be a column name"):
        split(_spec(_e(ROW_COUNT, min_value=1), scope_column="x; drop table y"), 7)


NOW = datetime(2026, 1, 10, 12, 0)
DAY = timedelta(hours=24)


def _passed(**kw) -> PassedGate:
    base = {
        "run_at": NOW - timedelta(hours=1),
        "dbt_run_seq": 12,
        "suites_sha256": "abc",
        "run_date": date(2026, 1, 10),
        "full": False,
    }
    return PassedGate(**{**base, **kw})


@pytest.mark.parametrize(
    ("last", "last_full", "digest", "run_date", "every", "asked", "since", "why"),
    [
        (_passed(), NOW - timedelta(hours=2), "abc", date(2026, 1, 10), DAY, False, 12, "after"),
        (_passed(), NOW - timedelta(hours=2), "abc", date(2026, 1, 11), DAY, False, 12, "after"),
        (_passed(), NOW - timedelta(hours=2), "abc", date(2026, 1, 10), DAY, True, None, "asked"),
        (None, None, "abc", date(2026, 1, 10), DAY, False, None, "no gate has passed"),
        (_passed(dbt_run_seq=None), NOW, "abc", date(2026, 1, 10), DAY, False, None, "no dbt"),
        (_passed(), NOW, "abd", date(2026, 1, 10), DAY, False, None, "suites changed"),
        (_passed(), NOW, "abc", date(2026, 1, 9), DAY, False, None, "run date is before"),
        (_passed(run_date=None), NOW, "abc", date(2026, 1, 9), DAY, False, None, "run date"),
        (_passed(), NOW - DAY, "abc", date(2026, 1, 10), DAY, False, None, "periodic"),
        (_passed(), None, "abc", date(2026, 1, 10), DAY, False, None, "periodic"),
        (_passed(), NOW, "abc", date(2026, 1, 10), timedelta(0), False, None, "is 0"),
    ],
)
def test_the_scope_is_every_row_unless_every_condition_for_less_holds(
    last, last_full, digest, run_date, every, asked, since, why
) -> None:
    scope = choose_scope(last, last_full, digest, run_date, NOW, every, asked_full=asked)
    assert scope.since == since and why in scope.why
    assert scope.full == (since is None)


def test_a_run_record_reads_back_and_an_old_record_counts_as_full_of_unknown_suites() -> None:
    record = scope_record(GateScope(4, "rows"), "abc", date(2026, 1, 10))
    back = passed_gate(NOW, {"dbt_run_seq": 9, "gate": record})
    assert back == PassedGate(NOW, 9, "abc", date(2026, 1, 10), False)
    old = passed_gate(NOW, {"dbt_run_seq": 9, "marts": {}})
    assert old == PassedGate(NOW, 9, None, None, True)


def test_volume_guards_are_found_among_row_counts_in_a_scoped_run_order() -> None:
    spec = _spec(
        _e(ROW_COUNT, min_value=1),
        _e("expect_column_values_to_not_be_null", column="c"),
        _e(ROW_COUNT, min_value={"$PARAMETER": "min_rows_fct"}),
    )

    def out(kind: str, observed: str | None = None) -> ExpectationOutcome:
        return ExpectationOutcome("fct", kind, None, "error", True, observed, None, None, "", None)

    # a scoped run reports the changed rows' checks first, then the row counts
    order = [
        out("expect_column_values_to_not_be_null"),
        out("gate_guard_gx_saw_every_row"),
        out(ROW_COUNT, "41"),
        out(ROW_COUNT, "41"),
        out("gate_guard_gx_saw_every_row"),
    ]
    explained = explain_volume_guards([spec], order, {"fct": 100}, 0.5)
    assert [o.observed_value for o in explained] == [
        None,
        None,
        "41",
        "41 rows; floor 50 = the 100 rows of the published version less 50% "
        "(knob: SCENETRACK_VOLUME_MAX_DROP=0.5)",
        None,
    ]


# --- the real gate on a small warehouse ---------------------------------------------------


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
