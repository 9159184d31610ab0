"""What the gate does to keep GX's memory down at 10M events, and that it changes no verdict.

Repetitive string columns reach GX as pandas categoricals (one code per row instead of the
string), batches are streamed out of DuckDB and copied out of its memory, and DuckDB's cache is
dropped after a large read. The fast tests check each piece on hand-made values; the ``e2e`` ones
run GX over a hand-made staged-events frame (40 rows, a few bad ones) with and without the
categoricals and compare every outcome.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from scenetrack import gate
from scenetrack.config import EXPECTATIONS_DIR
from scenetrack.gate import (
    _owned_array,
    _read_frame,
    _validate,
    categorical_columns,
    gx_categoricals,
    load_suite_specs,
    run_gate,
)

from .conftest import RUN_DATE_ISO, exp, spec_of

# --- which columns may be categorical (fast) --------------------------------------------------


# The staged-events suite as it was before the gate left not_null/unique/accepted values to dbt
# (issue 19): twenty expectations over every kind of column, kept here to exercise the
# categoricals on the expectations that read them most.
RICH_SUITES = Path(__file__).with_name("suites")


def test_categorical_columns_of_the_staged_events_suite():
    specs = {s.name: s for s in load_suite_specs(EXPECTATIONS_DIR)}
    # the regex-checked codes, the not-null load stamp and the id columns of the samples;
    # between-checked columns (event_date, reported_at, amount_yuan, source_line) are out
    assert categorical_columns(specs["stg_raw__events"]) == {
        "event_key",
        "project_id",
        "city_code",
        "source_file_sha256",
        "loaded_at",
    }


def test_categorical_columns_of_a_suite_with_every_kind_of_check():
    specs = {s.name: s for s in load_suite_specs(RICH_SUITES)}
    # between-checked columns (event_date, reported_at, amount_yuan, source_line) are out, even
    # event_date, which is also checked for NULLs; loaded_at is in but is no string column
    assert categorical_columns(specs["stg_raw__events"]) == {
        "event_key",
        "project_key",
        "project_id",
        "city_code",
        "domain_code",
        "stage_code",
        "event_type",
        "source_file_sha256",
        "loaded_at",
    }


def test_a_column_any_other_expectation_reads_stays_a_string_column():
    spec = spec_of(
        exp("expect_column_values_to_be_in_set", column="a", value_set=["x"]),
        exp("expect_column_values_to_match_regex", column="b", regex="^x$"),
        exp("expect_column_values_to_be_between", column="b", min_value="a"),
        exp("expect_column_values_to_not_be_null", column="c"),
        exp("expect_column_pair_values_to_be_equal", column_A="c", column_B="d"),
        exp("expect_compound_columns_to_be_unique", column_list=["e", "f"]),
        exp("expect_column_value_lengths_to_equal", column="g", value=2),
        exp("expect_table_row_count_to_be_between", min_value=1),
        id_columns=("k",),
    )
    assert categorical_columns(spec) == {"a", "k"}


def test_nothing_is_categorical_when_the_suite_reads_the_whole_row():
    spec = spec_of(
        exp("expect_column_values_to_be_in_set", column="a", value_set=["x"]),
        exp("expect_table_columns_to_match_set", column_set=["a"]),
    )
    assert categorical_columns(spec) == frozenset()


# --- gx_categoricals (fast) -------------------------------------------------------------------


def test_gx_categoricals_converts_repetitive_strings_only_and_keeps_values():
    codes = ["110000"] * 18 + ["31000", None]  # 2 distinct values in 20 rows: 10 %
    keys = [f"k{i}" for i in range(20)]  # 20 distinct: stays a string column
    df = pd.DataFrame(
        {
            "city_code": pd.Series(codes, dtype="str"),
            "event_key": pd.Series(keys, dtype="str"),
            "other": pd.Series(codes, dtype="str"),  # not a candidate
            "n": range(20),
        }
    )
    out = gx_categoricals(df, {"city_code", "event_key", "n"})
    assert isinstance(out["city_code"].dtype, pd.CategoricalDtype)
    assert out["city_code"].cat.categories.dtype == object  # Python strings, see docstring
    assert sorted(out["city_code"].cat.categories) == ["110000", "31000"]
    assert out["city_code"].tolist()[17:19] == ["110000", "31000"]
    assert out["city_code"].isna().tolist() == [False] * 19 + [True]
    assert {c: str(out[c].dtype) for c in ("event_key", "other", "n")} == {
        "event_key": "str",
        "other": "str",
        "n": "int64",
    }


def test_gx_categoricals_gives_arrow_made_categoricals_python_string_categories():
    df = pd.DataFrame({"a": pd.Series(["x", "y", "x"], dtype="str").astype("category")})
    assert df["a"].cat.categories.dtype == "str"
    out = gx_categoricals(df, {"a"})
    assert out["a"].cat.categories.dtype == object and out["a"].tolist() == ["x", "y", "x"]


def test_gx_categoricals_leaves_frames_with_duplicate_column_names_alone():
    df = pd.DataFrame([["x", "x"]] * 20, columns=["a", "a"]).astype("str")
    out = gx_categoricals(df, {"a"})
    assert [str(t) for t in out.dtypes] == ["str", "str"]


# --- reading from DuckDB (fast) ---------------------------------------------------------------


def test_owned_array_copies_out_of_the_source_buffers():
    source = pa.array(["ab", "cd", None])
    copy = _owned_array(source)
    assert copy.type == pa.large_string() and copy.to_pylist() == ["ab", "cd", None]
    source_addresses = {b.address for b in source.buffers() if b is not None}
    assert not source_addresses & {b.address for b in copy.buffers() if b is not None}


def test_read_frame_streams_batches_and_encodes_repetitive_columns(monkeypatch):
    monkeypatch.setattr(gate, "ARROW_BATCH_ROWS", 2048)  # 5000 rows: several batches
    con = duckdb.connect()
    try:
        con.execute(
            """
            create table t as
            select
                'k' || i::varchar as key,
                case when i % 1000 = 7 then null else ['a', 'b', 'c'][1 + i % 3] end as code,
                i::double / 2 as x
            from range(5000) as r(i)
            """
        )
        df = _read_frame(con, "select * from t", None, {"key", "code"})
    finally:
        con.close()
    assert len(df) == 5000
    assert isinstance(df["code"].dtype, pd.CategoricalDtype)  # 3 distinct values
    assert str(df["key"].dtype) == "str"  # every value distinct
    assert df["key"].tolist()[4999] == "k4999" and df["x"].tolist()[4999] == 2499.5
    assert df["code"].isna().sum() == 5  # rows 7, 1007, ..., 4007
    counts = df["code"].value_counts().to_dict()
    # a, b, c for i % 3 == 0, 1, 2 (1667, 1667, 1666 rows), less the NULL rows:
    # 2007 (a), 7 and 3007 (b), 1007 and 4007 (c)
    assert counts == {"a": 1667 - 1, "b": 1667 - 2, "c": 1666 - 2}


def test_read_frame_of_an_empty_result_keeps_the_columns():
    con = duckdb.connect()
    try:
        df = _read_frame(con, "select 'x' as s, 1 as n where false", None, {"s"})
    finally:
        con.close()
    assert list(df.columns) == ["s", "n"] and len(df) == 0


# --- GX on categoricals (e2e) -----------------------------------------------------------------

KEYS = [f"110000:P{i}:opportunity:enter" for i in range(40)]
KEYS[39] = KEYS[38]  # one key twice: both rows are duplicates
SHA = "ab" * 32


def events_frame() -> pd.DataFrame:
    """40 staged events, all good but: rows 5 and 6 have a 5-digit city code, row 7 none,
    row 10 an unknown domain (row 11 none, which is allowed), row 20 a bad file hash and rows 38
    and 39 the same event key."""
    city = ["110000"] * 40
    city[5] = city[6] = "31000"
    city[7] = None
    domain = ["industry"] * 40
    domain[10], domain[11] = "mining", None
    sha = [SHA] * 40
    sha[20] = "not-a-hash"
    return pd.DataFrame(
        {
            "event_key": pd.Series(KEYS, dtype="str"),
            "project_key": pd.Series([f"110000:P{i}" for i in range(40)], dtype="str"),
            "project_id": pd.Series([f"P{i}" for i in range(40)], dtype="str"),
            "city_code": pd.Series(city, dtype="str"),
            "domain_code": pd.Series(domain, dtype="str"),
            "stage_code": pd.Series(["opportunity"] * 40, dtype="str"),
            "event_type": pd.Series(["enter"] * 40, dtype="str"),
            "event_date": pd.Series([date(2024, 1, 10)] * 40, dtype="datetime64[ns]"),
            "amount_yuan": [None] * 39 + [100.0],
            "reported_at": pd.Series([date(2024, 1, 11)] * 40, dtype="datetime64[ns]"),
            "source_file_sha256": pd.Series(sha, dtype="str"),
            "source_line": range(1, 41),
            "loaded_at": pd.Series([datetime(2024, 1, 12, 8, 0)] * 40, dtype="datetime64[ns]"),
        }
    )


def validate_events(tmp_path: Path, monkeypatch, categoricals: bool):
    seen: dict[str, str] = {}
    convert = gate.gx_categoricals

    def spy(df, columns):
        out = convert(df, columns)
        seen.update({c: str(t) for c, t in out.dtypes.items()})
        return out

    monkeypatch.setattr(gate, "gx_categoricals", spy)
    if not categoricals:
        monkeypatch.setattr(gate, "CATEGORICAL_MAX_DISTINCT_SHARE", -1.0)
    spec = next(s for s in load_suite_specs(RICH_SUITES) if s.name == "stg_raw__events")
    params = {"run_date": RUN_DATE_ISO, "dim_city_codes": ["110000"]}
    outcomes, _ = _validate(
        [spec],
        lambda s: events_frame(),
        params,
        tmp_path / ("cat" if categoricals else "str"),
        "run-cat",
        datetime.now(UTC).replace(tzinfo=None),
    )
    return outcomes, seen


@pytest.mark.e2e
def test_failing_checks_on_categorical_columns_fail_with_counts_and_keyed_samples(
    tmp_path: Path, monkeypatch
):
    outcomes, dtypes = validate_events(tmp_path, monkeypatch, categoricals=True)
    assert {c for c, t in dtypes.items() if t == "category"} == {
        "city_code",
        "domain_code",
        "stage_code",
        "event_type",
        "source_file_sha256",
    }
    assert dtypes["event_key"] == "str"
    failed = {(o.expectation, o.column): o for o in outcomes if not o.success}
    counts = {key: o.unexpected_count for key, o in failed.items()}
    assert counts == {
        ("expect_column_values_to_not_be_null", "city_code"): 1,
        ("expect_column_values_to_match_regex", "city_code"): 2,
        ("expect_column_values_to_be_in_set", "city_code"): 2,
        ("expect_column_values_to_be_in_set", "domain_code"): 1,
        ("expect_column_values_to_match_regex", "source_file_sha256"): 1,
        ("expect_column_values_to_be_unique", "event_key"): 2,
    }

    def sample(kind: str, column: str) -> list:
        return json.loads(failed[(kind, column)].unexpected_sample)

    assert sample("expect_column_values_to_be_in_set", "city_code") == [
        {"city_code": "31000", "event_key": KEYS[5]},
        {"city_code": "31000", "event_key": KEYS[6]},
    ]
    assert sample("expect_column_values_to_be_in_set", "domain_code") == [
        {"domain_code": "mining", "event_key": KEYS[10]}
    ]
    assert sample("expect_column_values_to_match_regex", "source_file_sha256") == [
        {"source_file_sha256": "not-a-hash", "event_key": KEYS[20]}
    ]
    assert sample("expect_column_values_to_not_be_null", "city_code") == [
        {"city_code": None, "event_key": KEYS[7]}
    ]
    assert sample("expect_column_values_to_be_unique", "event_key") == [
        {"event_key": KEYS[38]},
        {"event_key": KEYS[39]},
    ]
    regex = failed[("expect_column_values_to_match_regex", "city_code")]
    assert regex.observed_value == "2 of 40 rows unexpected (1 NULL rows not checked)"
    guard = next(o for o in outcomes if o.expectation == "gate_guard_gx_saw_every_row")
    assert guard.success


@pytest.mark.e2e
def test_categoricals_change_no_outcome(tmp_path: Path, monkeypatch):
    with_categoricals, dtypes = validate_events(tmp_path, monkeypatch, categoricals=True)
    assert dtypes["city_code"] == "category"
    monkeypatch.undo()
    as_strings, dtypes = validate_events(tmp_path, monkeypatch, categoricals=False)
    assert "category" not in dtypes.values()
    assert len(with_categoricals) == 21  # 20 expectations and the row-count guard
    assert with_categoricals == as_strings


@pytest.mark.e2e
def test_reopening_the_connection_after_every_read_changes_nothing(
    work_db: Path, tmp_path: Path, monkeypatch
):
    run_date = date.fromisoformat(RUN_DATE_ISO)
    kept = run_gate(work_db, tmp_path / "kept", "run-kept", run_date)
    monkeypatch.setattr(gate, "DUCKDB_CACHE_MAX_BYTES", -1)  # reopen after every read
    reopened = run_gate(work_db, tmp_path / "reopened", "run-reopened", run_date)
    assert kept.passed and reopened.passed
    assert kept.outcomes == reopened.outcomes
    specs = load_suite_specs(EXPECTATIONS_DIR)
    assert len(reopened.outcomes) > sum(len(s.expectations) for s in specs)  # and guards
