"""Incremental runs give the same marts as a full refresh, late events and corrections included."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb

from ingestion.generate import generate
from scenetrack.config import Paths
from scenetrack.pipeline import build, ingest_paths
from scenetrack.transform import PIPELINE_BUILD_ARGS, run_dbt
from tests.faults.helpers import differences
from tests.reference import LINEAGE_COLUMNS

MARTS = ("marts",)
LINEAGE = frozenset(LINEAGE_COLUMNS)


def _hold_back_late_events(files, tmp) -> list:
    """Move every application event of one city into a file sent after all the others."""
    city_file = next(f for f in files if f.name.startswith("events_") and "320200" not in f.name)
    with city_file.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    on_time = [r for r in rows if r["stage"] != "application"]
    late = [r for r in rows if r["stage"] == "application"]
    assert late, "the fixture needs late application events"
    for path, part in ((city_file, on_time), (tmp / "late_events.csv", late)):
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(part)
    corrections = [f for f in files if f.name == "events_corrections.csv"]
    others = [f for f in files if f.name != "events_corrections.csv"]
    return [*others, tmp / "late_events.csv", *corrections]


def _marts(con: duckdb.DuckDBPyConnection, db: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() "
            "where database_name = ? and schema_name = 'marts'",
            [db],
        ).fetchall()
    ]


def _opportunity_lists(tmp: Path) -> tuple[Path, Path]:
    """Two batches of a city's published opportunity list (title rows, no city column, a
    multi-technology cell, planned investment), the second re-listing one scene."""
    first = tmp / "wuxi_batch1.csv"
    first.write_text(
        "无锡市2025年第一批场景机会清单（发布日期：2025年3月3日）\n"
        "序号,场景名称,需求单位,所属领域,技术方向,预计投资（万元）,联系人\n"
        "1,港口理货,港务集团,交通,机器视觉+5G,约800,甲\n"
        "2,病房巡视,市人民医院,医疗健康,服务机器人,120,乙\n",
        encoding="utf-8",
    )
    second = tmp / "wuxi_batch2.csv"
    second.write_text(
        "无锡市2025年第二批场景机会清单,,,,\n"
        "场景名称,所属领域,技术方向,预计投资（万元）,发布日期\n"
        "港口理货,交通,机器视觉+5G,900,2025-03-03\n"  # re-listed: the later report wins
        "冷链仓储,商贸,物联网、AI,,2025-07-01\n",
        encoding="utf-8",
    )
    return first, second


def test_sequence_of_incremental_runs_equals_full_refresh(tmp_path) -> None:
    files = generate(tmp_path / "subs", cities=6, seed=5, correction_share=0.2)
    ordered = _hold_back_late_events(files, tmp_path)
    assert ordered[-1].name == "events_corrections.csv"
    first_list, second_list = _opportunity_lists(tmp_path)
    ordered = [first_list, *ordered[:-2], second_list, *ordered[-2:]]

    full = Paths(tmp_path / "full").ensure()
    ingest_paths(full, ordered)
    build(full)

    inc = Paths(tmp_path / "inc").ensure()
    batches = [ordered[:4], ordered[4:-2], ordered[-2:-1], ordered[-1:]]
    for batch in batches:
        ingest_paths(inc, batch)
        build(inc)
    compiled = (
        inc.dbt_target_dir
        / "compiled"
        / "scenetrack"
        / "models"
        / "staging"
        / "stg_raw__events.sql"
    ).read_text()
    assert "touched as" in compiled  # the last build really ran incrementally

    con = duckdb.connect()
    con.execute(f"attach '{full.work_db}' as f (read_only)")
    con.execute(f"attach '{inc.work_db}' as i (read_only)")
    tables = _marts(con, "f")
    assert "fct_project_lifecycle" in tables
    assert differences(full.work_db, inc.work_db, MARTS, (), LINEAGE) == []
    for t in tables:
        assert con.execute(f"select count(*) from f.marts.{t}").fetchone()[0] > 0, t
    corrected = con.execute(
        "select count(*) from i.marts.fct_project_lifecycle where has_corrected_report"
    ).fetchone()[0]
    assert corrected > 0
    con.close()


def _snapshot(p: Paths, to: Path) -> Path:
    """Copy the home's marts into a DuckDB file of their own (schema ``marts``)."""
    con = duckdb.connect(str(to))
    try:
        con.execute("create schema marts")
        con.execute(f"attach '{p.work_db}' as src (read_only)")
        for t in _marts(con, "src"):
            con.execute(f"create table marts.{t} as select * from src.marts.{t}")
    finally:
        con.close()
    return to


def _build(p: Paths, vars_: dict, *extra: str) -> None:
    result = run_dbt(p, [*PIPELINE_BUILD_ARGS, *extra], vars_)
    assert result.success, result.failed


def test_new_reference_date_or_thresholds_rebuild_what_they_change(tmp_path) -> None:
    """No new data, but the date "days in stage" is measured against moved (the first run of
    a new day) or the stalled thresholds changed: the incremental run must give what a full
    refresh gives, although no project had a new report."""
    home = Paths(tmp_path / "h").ensure()
    ingest_paths(home, generate(tmp_path / "subs", cities=4, seed=9))
    _build(home, {"reference_date": "2025-06-30"}, "--full-refresh")
    snaps = {"june": _snapshot(home, tmp_path / "june.duckdb")}

    later = {"reference_date": "2025-12-31"}
    tighter = {
        **later,
        "stalled_after_days": {"opportunity": 30, "validation": 30, "application": 60},
    }
    # ... and back: projects leave the watchlist without any new report about them
    for name, vars_ in (("dec", later), ("tight", tighter), ("loose", later)):
        _build(home, vars_)  # incremental: nothing new was loaded
        snaps[f"{name}_inc"] = _snapshot(home, tmp_path / f"{name}_inc.duckdb")
        _build(home, vars_, "--full-refresh")
        full = _snapshot(home, tmp_path / f"{name}_full.duckdb")
        assert differences(snaps[f"{name}_inc"], full, MARTS, (), LINEAGE) == [], name

    con = duckdb.connect()
    for name, path in snaps.items():
        con.execute(f"attach '{path}' as {name} (read_only)")

    # the runs really changed rows an incremental run on new loads alone would have kept
    def stalled(db: str) -> int:
        return con.execute(
            f"select count(*) from {db}.marts.fct_project_lifecycle where is_stalled"
        ).fetchone()[0]

    moved = con.execute(
        "select count(*) from june.marts.fct_project_lifecycle as j "
        "join dec_inc.marts.fct_project_lifecycle as d using (project_key) "
        "where j.days_in_current_stage <> d.days_in_current_stage"
    ).fetchone()[0]
    assert moved > 0
    assert stalled("dec_inc") > stalled("june")
    assert stalled("tight_inc") > stalled("dec_inc")
    assert stalled("loose_inc") == stalled("dec_inc")
    watchlist = con.execute("select count(*) from loose_inc.marts.mart_stalled_projects").fetchone()
    assert watchlist[0] == stalled("loose_inc")
    assert (
        con.execute(
            "select count(*) from dec_inc.marts.fct_project_lifecycle "
            "where reference_date <> date '2025-12-31'"
        ).fetchone()[0]
        == 0
    )
    con.close()


def test_a_capability_list_alone_recomputes_its_city(tmp_path) -> None:
    """A city sends only its capability list after its projects were built: no project of
    it is rewritten, yet the marts kept per city (scorecard, supply and demand) must count the
    new capabilities, as a full refresh does."""
    files = generate(tmp_path / "subs", cities=3, seed=7)
    late = next(f for f in files if f.name.startswith("capabilities_"))
    first = [f for f in files if f != late]
    city = late.stem.split("_")[1]

    full = Paths(tmp_path / "full").ensure()
    ingest_paths(full, [*first, late])
    build(full)

    inc = Paths(tmp_path / "inc").ensure()
    ingest_paths(inc, first)
    build(inc)
    ingest_paths(inc, [late])
    build(inc)

    assert differences(full.work_db, inc.work_db, MARTS, (), LINEAGE) == []
    con = duckdb.connect(str(inc.work_db), read_only=True)
    try:
        listed = con.execute(
            "select capabilities_published from marts.mart_city_scorecard "
            "where city_code = ? and period_type = 'all'",
            [city],
        ).fetchone()[0]
        rewritten = con.execute(
            "select count(*) from marts.fct_project_lifecycle where city_code = ? "
            "and dbt_run_seq = (select max(dbt_run_seq) from marts.mart_city_scorecard)",
            [city],
        ).fetchone()[0]
    finally:
        con.close()
    assert listed > 0  # the late list is counted ...
    assert rewritten == 0  # ... although none of the city's projects was rewritten
