"""How the gate reads batches for GX: column projection, dtypes, date bounds, memory.

The fast tests check the pieces on hand-made values; the ``e2e`` ones run GX on the tiny work
database of conftest.py and prove that what the reading changed (fewer columns, dates as
``datetime64[ns]``, one frame at a time) still fails bad rows and passes good ones.
"""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from scenetrack.config import EXPECTATIONS_DIR
from scenetrack.gate import (
    _heap_frozen,
    _read_frame,
    _validate,
    columns_needed,
    gx_bound,
    gx_dtypes,
    load_suite_specs,
    projected_query,
    run_gate,
)

from .conftest import RUN_DATE_ISO, exp, spec_of

RUN_DATE = date.fromisoformat(RUN_DATE_ISO)
TRANSITION_COLUMNS = [
    "transition_key",
    "project_key",
    "city_code",
    "domain_code",
    "technology_code",
    "from_stage",
    "to_stage",
    "from_entered_on",
    "to_entered_on",
    "days_taken",
    "skipped_stages",
]


def outcome(result, suite: str, expectation: str, column: str | None):
    (found,) = [
        o
        for o in result.outcomes
        if (o.suite, o.expectation, o.column) == (suite, expectation, column)
    ]
    return found


# --- which columns a suite reads (fast) -------------------------------------------------------


def test_columns_needed_are_the_expectations_columns_and_the_id_columns():
    specs = {s.name: s for s in load_suite_specs(EXPECTATIONS_DIR)}
    # id columns first, then the city column (per-city holdback puts failing rows on cities)
    assert columns_needed(specs["fct_stage_transitions"]) == (
        "transition_key",
        "city_code",  # meta.city_column: failing rows are put on their city
        "days_taken",
    )
    assert columns_needed(specs["stg_raw__events"]) == (
        "event_key",
        "city_code",  # meta.city_column
        "project_id",
        "event_date",
        "reported_at",
        "amount_yuan",
        "source_file_sha256",
        "source_line",
        "loaded_at",
    )
    pairs = spec_of(
        exp("expect_column_pair_values_to_be_equal", column_A="a", column_B="b"),
        exp("expect_compound_columns_to_be_unique", column_list=["c", "a"]),
        exp("expect_table_row_count_to_be_between", min_value=1),
        id_columns=("k",),
    )
    assert columns_needed(pairs) == ("k", "a", "b", "c")


@pytest.mark.parametrize(
    "expectation",
    [
        exp("expect_table_columns_to_match_set", column_set=["a"]),
        exp("expect_table_columns_to_match_ordered_list", column_list=["a"]),
        exp("expect_table_column_count_to_equal", value=1),
        exp("expect_column_values_to_not_be_null", column="a", row_condition='b=="x"'),
        exp("expect_column_values_to_not_be_null", column={"$PARAMETER": "col"}),
    ],
    ids=["columns_set", "ordered_columns", "column_count", "row_condition", "param_column"],
)
def test_a_suite_that_needs_the_whole_row_reads_every_column(expectation: dict):
    spec = spec_of(exp("expect_column_values_to_not_be_null", column="a"), expectation)
    assert columns_needed(spec) is None


def test_row_counts_alone_need_every_column():
    assert columns_needed(spec_of(exp("expect_table_row_count_to_be_between", min_value=1))) is None


def test_projection_keeps_only_columns_the_query_has_and_casts_decimals():
    columns = [("k", "VARCHAR"), ("amount", "DECIMAL(18,2)"), ("n", "INTEGER"), ("x", "DATE")]
    assert projected_query("select * from t", columns, ("n", "k", "missing")) == (
        'select "k", "n" from (\nselect * from t\n) as batch'
    )
    assert projected_query("select * from t", columns, None) == (
        'select "k", cast("amount" as double) as "amount", "n", "x" from (\n'
        "select * from t\n) as batch"
    )
    # duplicate names cannot be selected by name: the query is used as it is
    assert projected_query("q", [("a", "INTEGER"), ("a", "INTEGER")], ("a",)) == "q"


# --- dtypes GX compares vectorised (fast) -----------------------------------------------------


def test_gx_dtypes_makes_dates_ns_and_integers_int64_without_changing_values():
    df = pd.DataFrame(
        {
            "d_us": pd.Series(["2024-01-10", None], dtype="datetime64[us]"),
            "d_obj": pd.Series([date(2024, 1, 10), None], dtype=object),
            "i32": pd.Series([1, 2], dtype="int32"),
            "i_na": pd.Series([3, None], dtype="Int32"),
            "b": pd.Series([True, False], dtype="boolean"),
            "b_na": pd.Series([True, None], dtype="boolean"),
            "s": ["x", None],
        }
    )
    out = gx_dtypes(df)
    assert {c: str(t) for c, t in out.dtypes.items()} == {
        "d_us": "datetime64[ns]",
        "d_obj": "datetime64[ns]",
        "i32": "int64",
        "i_na": "float64",
        "b": "bool",
        "b_na": "boolean",
        "s": "str",
    }
    assert out["d_us"][0] == out["d_obj"][0] == pd.Timestamp("2024-01-10")
    assert out["d_us"].isna().tolist() == out["d_obj"].isna().tolist() == [False, True]
    assert out["i_na"].tolist()[0] == 3.0 and pd.isna(out["i_na"][1])


def test_gx_dtypes_keeps_dates_beyond_the_ns_range_exact():
    # 9999-12-31 does not fit datetime64[ns]: the column becomes datetime objects instead
    df = pd.DataFrame({"d": pd.Series(["2024-01-10", "9999-12-31", None], dtype="datetime64[s]")})
    out = gx_dtypes(df)
    assert out["d"].dtype == object
    assert out["d"].tolist() == [datetime(2024, 1, 10), datetime(9999, 12, 31), None]


def test_integers_too_large_for_a_float_stay_exact():
    big = 2**60 + 1
    out = gx_dtypes(pd.DataFrame({"n": pd.Series([big, None], dtype="Int64")}))
    assert str(out["n"].dtype) == "Int64" and out["n"][0] == big


def test_gx_bound_turns_iso_dates_into_midnights_only():
    assert gx_bound("2015-01-01") == "2015-01-01T00:00:00"
    assert [gx_bound(v) for v in ("110000", 2015, None, "2015-01-01T08:00:00")] == [
        "110000",
        2015,
        None,
        "2015-01-01T08:00:00",
    ]


def test_read_frame_reads_projected_columns_typed_for_gx(work_db: Path):
    specs = {s.name: s for s in load_suite_specs(EXPECTATIONS_DIR)}
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        transitions = specs["fct_stage_transitions"]
        df = _read_frame(con, transitions.batch_query, columns_needed(transitions))
        lifecycle = specs["fct_project_lifecycle"]
        life = _read_frame(con, lifecycle.batch_query, columns_needed(lifecycle))
    finally:
        con.close()
    # the query's column order, only what the suite checks; 11 columns in the table
    assert list(df.columns) == ["transition_key", "city_code", "days_taken"]
    assert df["days_taken"].tolist() == [56, 61] and str(df["days_taken"].dtype) == "int64"
    assert "project_name" not in life.columns and "status_agrees_with_terminated_on" in life.columns
    assert str(life["terminated_on"].dtype) == "datetime64[ns]"
    amounts = dict(zip(life["project_key"], life["cooperation_amount_yuan"], strict=True))
    assert amounts["110000:P1"] == 5000000.0 and pd.isna(amounts["110000:P2"])
    assert str(life["cohort_year"].dtype) == "int64"


# --- GX on projected, re-typed batches (e2e) --------------------------------------------------


@pytest.mark.e2e
def test_projection_still_fails_bad_rows_and_whole_row_checks_see_every_column(
    plant, tmp_path: Path
):
    suites = tmp_path / "suites"
    shutil.copytree(EXPECTATIONS_DIR, suites)
    path = suites / "fct_stage_transitions.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    warn = {"severity": "warn", "notes": "test"}
    raw["expectations"] += [
        {  # needs the full column list: the suite must not be projected
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": TRANSITION_COLUMNS, "exact_match": True},
            "meta": {"severity": "error", "notes": "test"},
        },
        {  # one column short: must fail
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": TRANSITION_COLUMNS[:-1], "exact_match": True},
            "meta": warn,
        },
        {  # a column the query lacks fails on its own, not as a failed query
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "no_such_column"},
            "meta": warn,
        },
    ]
    path.write_text(json.dumps(raw), encoding="utf-8")
    work_db = plant(
        "update marts.fct_stage_transitions set days_taken = -4000 "
        "where transition_key = '110000:P1:opportunity>validation'"
    )
    result = run_gate(work_db, tmp_path / "gate", "run-proj", RUN_DATE, suites_dir=suites)

    suite = "fct_stage_transitions"
    assert [(o.expectation, o.column) for o in result.failures] == [
        ("expect_column_values_to_be_between", "days_taken")
    ]
    (error,) = result.failures
    assert error.unexpected_count == 1 and error.observed_value == "1 of 2 rows unexpected"
    assert json.loads(error.unexpected_sample) == [
        {"days_taken": -4000, "transition_key": "110000:P1:opportunity>validation"}
    ]
    assert {(o.expectation, o.column, o.unexpected_count) for o in result.warnings} == {
        ("expect_column_values_to_be_between", "days_taken", 1),
        ("expect_table_columns_to_match_set", None, None),
        ("expect_column_values_to_not_be_null", "no_such_column", None),
    }
    full = [
        o
        for o in result.outcomes
        if o.suite == suite and o.expectation == "expect_table_columns_to_match_set"
    ]
    assert [o.success for o in full] == [True, False]
    assert sorted(json.loads(full[0].observed_value)) == sorted(TRANSITION_COLUMNS)
    assert not any(o.expectation == "batch_query" for o in result.outcomes)
    assert outcome(result, suite, "gate_guard_gx_saw_every_row", None).success


@pytest.mark.e2e
def test_date_bounds_fail_out_of_range_dates_and_pass_the_run_date(plant, tmp_path: Path):
    plant(
        """
        update staging.stg_raw__events set event_date = date '2025-06-30'
            where event_key = '110000:P1:opportunity:enter';  -- on the run date: fine
        update staging.stg_raw__events set event_date = date '2025-07-01'
            where event_key = '110000:P1:validation:enter';   -- one day after it
        update staging.stg_raw__events set event_date = date '2014-12-31'
            where event_key = '110000:P2:opportunity:enter';  -- one day before 2015
        update staging.stg_raw__events set event_date = date '9999-12-31'
            where event_key = '440300:P4:opportunity:enter';  -- beyond datetime64[ns]
        update marts.fct_project_lifecycle set scale_up_entered_on = date '9999-12-31'
            where project_key = '440300:P4';
        """
    )
    work_db = plant(
        "update marts.fct_project_lifecycle set application_entered_on = date '2024-02-01' "
        "where project_key = '110000:P1'"  # before its validation (2024-03-01): warn
    )
    result = run_gate(work_db, tmp_path / "gate", "run-dates", RUN_DATE)

    events = outcome(result, "stg_raw__events", "expect_column_values_to_be_between", "event_date")
    assert not events.success and events.unexpected_count == 3
    assert sorted(map(json.dumps, json.loads(events.unexpected_sample))) == sorted(
        json.dumps({"event_date": day, "event_key": key})
        for day, key in [
            ("2025-07-01", "110000:P1:validation:enter"),
            ("2014-12-31", "110000:P2:opportunity:enter"),
            ("9999-12-31", "440300:P4:opportunity:enter"),
        ]
    )
    scale_up = outcome(
        result, "fct_project_lifecycle", "expect_column_values_to_be_between", "scale_up_entered_on"
    )
    assert (scale_up.success, scale_up.unexpected_count) == (False, 1)
    assert json.loads(scale_up.unexpected_sample) == [
        {"scale_up_entered_on": "9999-12-31", "project_key": "440300:P4"}
    ]
    # column pairs on dates still compare: P1 application before validation fails (warn);
    # P4's 9999 scale-up (object datetimes, not ns) is after its application: no failure
    pair = outcome(
        result,
        "fct_project_lifecycle",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "application_entered_on, validation_entered_on",
    )
    assert (pair.success, pair.unexpected_count) == (False, 1)
    assert "110000:P1" in pair.unexpected_sample
    later = outcome(
        result,
        "fct_project_lifecycle",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "scale_up_entered_on, application_entered_on",
    )
    assert later.success and later.unexpected_count == 0
    # nothing else in those suites broke; GX saw every row of both
    assert {(o.suite, o.column) for o in result.failures} == {
        ("stg_raw__events", "event_date"),
        ("fct_project_lifecycle", "scale_up_entered_on"),
    }
    for suite in ("stg_raw__events", "fct_project_lifecycle"):
        assert outcome(result, suite, "gate_guard_gx_saw_every_row", None).success


@pytest.mark.e2e
def test_each_frame_is_released_after_its_suite(tmp_path: Path):
    """GX's pandas datasource caches every batch it served; the gate must not keep them all."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = engine.HASH_THRESHOLD
    spec = next(s for s in load_suite_specs(EXPECTATIONS_DIR) if s.name == "dim_city")
    frame = pd.DataFrame(
        {
            "city_code": ["110000", "31000"],  # one 5-digit code: the regex check fails
            "name_zh": ["北京", "上海"],
            "name_en": ["Beijing", "Shanghai"],
            "region": ["east", "east"],
        }
    )
    ref = weakref.ref(frame)
    batches = {"dim_city": frame}
    del frame
    outcomes, index = _validate(
        [spec],
        lambda s: batches.pop(s.name),
        {},
        tmp_path / "docs",
        "run-mem",
        datetime.now(UTC).replace(tzinfo=None),
    )
    gc.collect()
    assert ref() is None
    regex = [o for o in outcomes if o.expectation == "expect_column_values_to_match_regex"]
    assert [(o.success, o.unexpected_count) for o in regex] == [(False, 1)]
    assert index is not None and index.exists()
    assert engine.HASH_THRESHOLD == threshold  # GX's own setting is restored


def test_heap_frozen_during_the_run_only_and_never_unfreezes_others():
    assert gc.get_freeze_count() == 0
    with _heap_frozen():
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    gc.freeze()  # someone else's freeze (e.g. a pre-fork server) is left as it was
    try:
        frozen = gc.get_freeze_count()
        with _heap_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
