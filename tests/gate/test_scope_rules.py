"""The rules of ``scenetrack/gate/scope.py`` (issue 22) on hand-made suites and records:
which checks a scoped run reads over the changed rows, and when a run reads every row.
``test_scope.py`` runs the real gate on a warehouse built by dbt."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from scenetrack.gate import ExpectationOutcome, GateConfigError, SuiteSpec
from scenetrack.gate.scope import (
    CHANGED_ROWS,
    WHOLE_BATCH,
    GateScope,
    PassedGate,
    choose_scope,
    passed_gate,
    row_wise,
    scope_from_runs,
    scope_record,
    scoped_specs,
    split,
    suites_digest,
)
from scenetrack.gate.suites import explain_volume_guards

ROW_COUNT = "expect_table_row_count_to_be_between"


def _e(kind: str, **kwargs) -> dict:
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": "error"}}


def _spec(*expectations: dict, scope_column: str | None = "dbt_run_seq") -> SuiteSpec:
    meta = {"batch_query": "select * from marts.fct", "city_column": "city_code"}
    if scope_column:
        meta["scope_column"] = scope_column
    return SuiteSpec(
        "fct", Path("fct.json"), "select * from marts.fct_X;", ("k",), expectations, meta
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
        'select * from (\nselect * from marts.fct_X\n) as whole_batch\nwhere "dbt_run_seq" > 7'
    )
    assert rows.meta["city_column"] == "city_code" and rows.meta["scope"] == "dbt_run_seq > 7"
    assert rows.meta["batch_query"] == rows.batch_query  # what the Data Docs show
    # the row counts read the whole batch, as a count: no keys, no city column
    assert (whole.part, whole.expectations, whole.id_columns) == (WHOLE_BATCH, (count,), ())
    assert whole.batch_query == "select * from marts.fct_X;" and "city_column" not in whole.meta


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


AFTER_12 = "rows dbt wrote after run 12 (the last passing gate's)"


@pytest.mark.parametrize(
    ("last", "last_full", "digest", "run_date", "every", "asked", "since", "why"),
    [
        (_passed(), NOW - timedelta(hours=2), "abc", date(2026, 1, 10), DAY, False, 12, AFTER_12),
        (_passed(), NOW - timedelta(hours=2), "abc", date(2026, 1, 11), DAY, False, 12, AFTER_12),
        (
            _passed(),
            NOW - timedelta(hours=2),
            "abc",
            date(2026, 1, 10),
            DAY,
            True,
            None,
            "every row: a full validation was asked for",
        ),
        (
            None,
            None,
            "abc",
            date(2026, 1, 10),
            DAY,
            False,
            None,
            "every row: no gate has passed yet",
        ),
        (
            _passed(dbt_run_seq=None),
            NOW,
            "abc",
            date(2026, 1, 10),
            DAY,
            False,
            None,
            "every row: the last passing gate validated no dbt run",
        ),
        (
            _passed(),
            NOW,
            "abd",
            date(2026, 1, 10),
            DAY,
            False,
            None,
            "every row: the suites changed since the last passing gate",
        ),
        (
            _passed(),
            NOW,
            "abc",
            date(2026, 1, 9),
            DAY,
            False,
            None,
            "every row: the run date is before the last passing gate's",
        ),
        (
            _passed(run_date=None),
            NOW,
            "abc",
            date(2026, 1, 11),
            DAY,
            False,
            None,
            "every row: the run date is before the last passing gate's",
        ),
        (
            _passed(),
            NOW - DAY,
            "abc",
            date(2026, 1, 10),
            DAY,
            False,
            None,
            "every row: the periodic full validation (every 24 h) is due",
        ),
        (
            _passed(),
            None,
            "abc",
            date(2026, 1, 10),
            timedelta(minutes=90),
            False,
            None,
            "every row: the periodic full validation (every 1.5 h) is due",
        ),
        (
            _passed(),
            NOW,
            "abc",
            date(2026, 1, 10),
            timedelta(0),
            False,
            None,
            "every row: SCENETRACK_GATE_FULL_EVERY_HOURS is 0",
        ),
    ],
)
def test_the_scope_is_every_row_unless_every_condition_for_less_holds(
    last, last_full, digest, run_date, every, asked, since, why
) -> None:
    if asked:
        scope = choose_scope(last, last_full, digest, run_date, NOW, every, asked_full=True)
    else:  # not asking is the default
        scope = choose_scope(last, last_full, digest, run_date, NOW, every)
    assert (scope.since, scope.why) == (since, why)
    assert scope.full == (since is None)


def test_a_run_record_reads_back_and_an_old_record_counts_as_full_of_unknown_suites() -> None:
    record = scope_record(GateScope(4, "rows"), "abc", date(2026, 1, 10))
    back = passed_gate(NOW, {"dbt_run_seq": 9, "gate": record})
    assert back == PassedGate(NOW, 9, "abc", date(2026, 1, 10), False)
    old = passed_gate(NOW, {"dbt_run_seq": 9, "marts": {}})
    assert old == PassedGate(NOW, 9, None, None, True)
    assert record == {
        "suites_sha256": "abc",
        "run_date": "2026-01-10",
        "full": False,
        "since": 4,
    }
    # a gate over a warehouse dbt never built validated no run
    assert passed_gate(NOW, {"dbt_run_seq": None}).dbt_run_seq is None


def test_the_suites_digest_follows_the_files_not_their_order(tmp_path: Path) -> None:
    def spec(name: str, text: str) -> SuiteSpec:
        path = tmp_path / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        return SuiteSpec(name, path, "select 1", (), (), {})

    a, b = spec("a", '{"x": 1}'), spec("b", '{"y": 2}')
    digest = suites_digest([a, b])
    assert len(digest) == 64 and digest == suites_digest([b, a])
    b.path.write_text('{"y": 3}', encoding="utf-8")
    assert suites_digest([a, b]) != digest


def test_a_full_scope_keeps_the_suites_and_a_narrow_one_splits_each() -> None:
    plain = replace(_spec(_e(ROW_COUNT, min_value=1), scope_column=None), name="plain")
    scoped = _spec(_e("expect_column_values_to_not_be_null", column="c"), _e(ROW_COUNT))
    assert scoped_specs([plain, scoped], GateScope(None, "every row")) == [plain, scoped]
    parts = scoped_specs([plain, scoped], GateScope(3, "changed"))
    assert [(s.name, s.part) for s in parts] == [
        ("plain", None),
        ("fct", CHANGED_ROWS),
        ("fct", WHOLE_BATCH),
    ]
    assert parts[1].meta["scope"] == "dbt_run_seq > 3"


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
    # a row count of a suite not among the specs (not split, not guarded) passes as it is
    order.append(replace(out(ROW_COUNT, "7"), suite="elsewhere"))
    explained = explain_volume_guards([spec], order, {"fct": 100}, 0.5)
    assert [o.observed_value for o in explained] == [
        None,
        None,
        "41",
        "41 rows; floor 50 = the 100 rows of the published version less 50% "
        "(knob: SCENETRACK_VOLUME_MAX_DROP=0.5)",
        None,
        "7",
    ]


def test_the_scope_from_the_stored_runs_takes_the_newest_and_the_newest_full_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    today = now.date()

    def run(hours_ago: float, seq: int, full: bool) -> tuple[datetime, dict]:
        scope = GateScope(None if full else 1, "")
        return now - timedelta(hours=hours_ago), {
            "dbt_run_seq": seq,
            "gate": scope_record(scope, "abc", today),
        }

    assert scope_from_runs([], "abc", today).why == "every row: no gate has passed yet"
    # newest first: a scoped run over run 7, then the full run over run 5 two hours ago
    runs = [run(1, 7, False), run(2, 5, True)]
    assert scope_from_runs(runs, "abc", today).since == 7
    assert scope_from_runs(runs, "abc", today, asked_full=True).since is None
    # the last full run 25 hours ago: the default 24 h have passed
    late = [run(1, 7, False), run(25, 5, True)]
    assert scope_from_runs(late, "abc", today).why == (
        "every row: the periodic full validation (every 24 h) is due"
    )
    # stored times are UTC: in a process 8 hours ahead (Asia/Shanghai) a full run 20 hours
    # ago is still 20 hours ago, inside the 24 h
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert scope_from_runs([run(1, 7, False), run(20, 5, True)], "abc", today).since == 7
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    monkeypatch.setenv("SCENETRACK_GATE_FULL_EVERY_HOURS", "1.5")
    assert scope_from_runs(runs, "abc", today).why == (
        "every row: the periodic full validation (every 1.5 h) is due"
    )
