"""The benchmark harness runs end to end at a tiny size and writes well-formed results.

No timing is asserted anywhere: speed is measured only by ``benchmarks/`` itself. This test
only proves the harness works (every group runs, every figure has median/min/max, every
ratio names both sides), so ``make bench`` does not rot between runs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks import data as bdata
from benchmarks import gate_sql
from benchmarks.run import main

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench_out")
    data = tmp_path_factory.mktemp("bench_data")
    main(
        [
            "--size",
            "2k",
            # a second size whose data differs (with 12 cities the generator makes at least
            # ~5k events, so 2k and 3k would be the same warehouse): growth rounds pair them
            "8k",
            "--growth-pairs",
            "1",
            "--submission-rows",
            "60",
            "--repeat",
            "1",
            "--cities",
            "12",
            "--xlsx-rows",
            "200",
            "--no-profile",
            "--e2e-files",
            "0",  # Airflow latency: tests/e2e/test_event_driven.py runs that path
            "--out-dir",
            str(out),
            "--data-dir",
            str(data),
        ]
    )
    return json.loads((out / "results" / "results.json").read_text()), out


def test_json_has_machine_versions_and_sizes(results):
    snap, _ = results
    assert snap["machine"]["cores"] >= 1
    assert snap["machine"]["memory_bytes"] > 0
    for pkg in ("duckdb", "dbt-core", "great_expectations", "pandas", "pyarrow", "dlt"):
        assert snap["versions"][pkg]
    assert "apache-airflow" in snap["versions"]
    assert snap["sizes"]["2k"]["events"] > 0


def test_every_measurement_has_median_min_max(results):
    snap, _ = results
    assert snap["measurements"]
    for m in snap["measurements"]:
        assert {"id", "group", "size", "label", "unit"} <= set(m)
        assert m["n"] >= 1
        assert m["min"] <= m["median"] <= m["max"], m["id"]


def test_every_group_was_measured(results):
    snap, _ = results
    ids = {m["id"].split("@")[0] for m in snap["measurements"]}
    expected = {
        "ingest.csv.platform",
        "ingest.csv.limit",
        "ingest.csv.pandas",
        "ingest.csv.dlt",
        "ingest.gbk.platform",
        "ingest.gbk.limit",
        "transform.incremental",
        "transform.full_refresh",
        "transform.sql_script",
        "transform.noop",
        "gate.gx",
        "gate.sql",
        "pipeline.total",
        "memory.build",
        "memory.gate",
        "xlsx.openpyxl",
        "xlsx.calamine",
    }
    assert expected <= ids, expected - ids
    assert not snap["errors"], snap["errors"]


def test_every_ratio_names_both_sides(results):
    snap, _ = results
    assert snap["ratios"]
    ids = {m["id"] for m in snap["measurements"]}
    for r in snap["ratios"]:
        assert r["numerator"]["id"] in ids and r["numerator"]["label"]
        assert r["denominator"]["id"] in ids and r["denominator"]["label"]
        assert r["min"] <= r["median"] <= r["max"], r["id"]


def test_targets_and_markdown(results):
    snap, out = results
    ids = {t["id"] for t in snap["targets"]}
    assert {
        "ingest_vs_limit",
        "freshness_growth",
        "file_to_published_1m",
        "file_to_published_10m",
        "pipeline_1m",
        "gate_share",
    } <= ids
    assert "incremental_vs_full" not in ids  # withdrawn by issue 22
    assert all(t["met"] is None for t in snap["targets"])  # 1M/10M were not run here
    assert snap["end_to_end"]["status"] in ("measured", "not measured yet")
    md = (out / "RESULTS.md").read_text()
    assert "## Targets" in md and "## Method" in md


def _growth_ratio(shape: str, ref: str, step: str) -> tuple[str, str, str]:
    """(ratio, numerator, denominator) ids of one step of the growth rounds at 8k vs 2k."""
    if step == "build":
        return (
            f"transform.incremental_growth_{shape}@8k",
            f"transform.paired_incremental_{shape}@8k",
            f"transform.paired_incremental_{ref}@8k",
        )
    return (
        f"freshness.{step}_growth_{shape}@8k",
        f"freshness.paired_{shape}_{step}@8k",
        f"freshness.paired_{ref}_{step}@8k",
    )


@pytest.mark.parametrize(
    ("ratio", "numerator", "denominator"),
    [
        _growth_ratio(shape, ref, step)
        for shape, ref in (("one_city", "one_city_2k"), ("same_rows", "2k"))
        for step in ("path", "build", "gate", "publish")
    ]
    + [
        (
            "transform.incremental_growth@8k",
            "transform.paired_incremental@8k",
            "transform.paired_incremental_2k@8k",
        )
    ],
)
def test_growth_is_measured_in_back_to_back_rounds(results, ratio, numerator, denominator):
    snap, _ = results
    growth = next(r for r in snap["ratios"] if r["id"] == ratio)
    num = next(m for m in snap["measurements"] if m["id"] == growth["numerator"]["id"])
    den = next(m for m in snap["measurements"] if m["id"] == growth["denominator"]["id"])
    assert num["id"] == numerator
    assert den["id"] == denominator
    assert growth["n"] == num["n"] == den["n"] == 1  # --growth-pairs 1
    # each round's ratio lies between the extremes of the two sides, whatever the pairing
    assert num["min"] / den["max"] <= growth["min"] <= growth["max"] <= num["max"] / den["min"]


def test_the_growth_rounds_land_the_same_submission_size_on_both_warehouses(results):
    snap, _ = results
    # write_delta adds whole new projects until it has the rows asked for: it can overshoot
    # by less than one project's events (at most 4 stage entries and an end: 4 extra rows)
    for size in ("2k", "8k"):
        assert 60 <= snap["transform"][size]["same_rows_delta_loaded"] <= 64
        assert 60 <= snap["transform"][size]["one_city_delta_loaded"] <= 64
    assert snap["sizes"]["8k"]["delta"]["rows"] > 64  # its own 1 % is more


def test_the_path_adds_up_and_its_gate_reads_the_changed_rows(results):
    snap, _ = results
    scopes = snap["gate_scopes"]
    assert len(scopes) == 5  # one round of five contenders
    assert all(s.startswith("rows dbt wrote after run") for s in scopes.values()), scopes
    # each publish started from the warehouse's live version (v1, the pipeline round's), as a
    # pipeline's does, instead of writing a first version
    assert sorted(snap["publish_versions"].values()) == [2] * 5, snap["publish_versions"]
    m = {x["id"]: x for x in snap["measurements"]}
    # one round of each contender: path = its submission's ingest + build + gate + publish
    ingest = snap["transform"]["8k"]["same_rows_delta_loaded_seconds"]
    steps = [
        m["transform.paired_incremental_same_rows@8k"],
        m["freshness.paired_same_rows_gate@8k"],
        m["freshness.paired_same_rows_publish@8k"],
    ]
    path = m["freshness.paired_same_rows_path@8k"]
    assert path["n"] == 1
    assert path["median"] == pytest.approx(ingest + sum(x["median"] for x in steps))


def test_dbt_start_is_measured_beside_the_full_refresh(results):
    snap, _ = results
    start = next(r for r in snap["ratios"] if r["id"] == "transform.dbt_start_over_full@2k")
    assert start["denominator"]["id"] == "transform.full_refresh@2k"
    assert 0 < start["median"] < 1  # selecting no node is cheaper than building everything
    assert snap["transform"]["2k"]["dbt_start_nodes"] == 0  # dbt ran no node
    assert snap["transform"]["2k"]["full_refresh_build_nodes"]["nodes"] > 0
    target = next(t for t in snap["targets"] if t["id"] == "freshness_growth")
    assert target["observed"] is None  # the 1M/10M target is not judged on a 2k/8k run


def test_gate_sql_agrees_with_gx(results):
    snap, _ = results
    agreement = snap["gate_agreement"]["2k"]
    assert agreement["agrees"], agreement["mismatches_with_gx"]
    assert agreement["covered"] == agreement["expectations"]


def test_gate_sql_one_query_per_suite():
    sql = gate_sql.suite_query(
        "select 1 as a, 'x' as b",
        [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
            {
                "type": "expect_column_values_to_be_in_set",
                "kwargs": {"column": "b", "value_set": ["x"]},
            },
            {"type": "expect_something_new", "kwargs": {}},
        ],
        {},
    )
    assert sql.count("with batch as") == 1
    assert " as e0" in sql and " as e1" in sql and " as e2" not in sql


def test_one_city_delta_is_one_city_and_the_rows_asked_for(tmp_path):
    from ingestion.generate import generate

    generate(tmp_path, cities=5, seed=3, events=3000, single_file=True)
    with (tmp_path / "events.csv").open(encoding="utf-8", newline="") as f:
        events = list(csv.DictReader(f))
    first_city = events[0]["city"]
    assert len({e["city"] for e in events}) > 1  # the source has other cities to leave out
    ds = bdata.Dataset("3k", 3000, tmp_path)
    out = ds.one_city_delta(60)
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["city"] for r in rows} == {first_city}
    assert 60 <= len(rows) <= 64  # write_delta's overshoot: less than one project's events
    # moved projects keep their ids, new ones are copies (<id>-N) of this city's projects
    ids = {e["project_id"] for e in events if e["city"] == first_city}
    assert all(r["project_id"].rsplit("-", 1)[0] in ids or r["project_id"] in ids for r in rows)
    written = out.stat().st_mtime_ns
    assert ds.one_city_delta(60) == out and out.stat().st_mtime_ns == written  # written once
    assert not (tmp_path / "one_city_events.tmp.csv").exists()


def test_delta_is_one_percent(tmp_path):
    src = tmp_path / "events.csv"
    from ingestion.generate import generate

    generate(tmp_path, cities=5, seed=3, events=3000, single_file=True)
    info = bdata.write_delta(src, tmp_path / "delta.csv")
    assert info["existing_projects_moved_to_validation"] > 0
    assert info["new_projects"] > 0
    assert 0.005 <= info["share_of_events"] <= 0.02
