"""End to end through the real Airflow DAGs: submissions → ingest → dbt → GX gate → publish.

The expected figures are recomputed from the generated files in plain pandas
(``tests/reference.py``), sharing no code with the platform.
"""

from __future__ import annotations

import hashlib
import json
import os
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from scenetrack import cli
from scenetrack.airflow_runner import AirflowRunError, dags_test
from scenetrack.config import Paths
from tests.conftest import event, write_csv
from tests.reference import (
    city_scorecard_all,
    national_funnel,
    stalled_projects,
    supply_demand,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """`scenetrack demo` on 12 cities; returns (home, its JSON summary, its stderr)."""
    home = Paths(tmp_path_factory.mktemp("demo") / "home").ensure()
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    saved = os.environ.get("SCENETRACK_REFERENCE_DATE")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(
            ["demo", "--home", str(home.home), "--cities", "12", "--seed", "21", "--json"]
        )
    if saved is None:  # the demo pins the reference date for its own run only
        os.environ.pop("SCENETRACK_REFERENCE_DATE", None)
    assert code == 0, err.getvalue()
    return home, json.loads(out.getvalue()), err.getvalue()


@pytest.fixture(scope="module")
def demo(demo_run):
    """(home, the demo's JSON summary)."""
    return demo_run[:2]


def test_demo_shows_the_dags_progress_on_stderr(demo_run) -> None:
    """stderr is not a terminal here: timestamped lines, the DAGs' own work relayed from
    `airflow dags test` with the counts dbt's run_results.json and the suite files give."""
    from scenetrack.config import EXPECTATIONS_DIR
    from tests.cli.terminal import STAMP

    home, _, err = demo_run
    lines = err.splitlines()
    assert lines and all(STAMP.match(ln) for ln in lines), lines[:5]
    texts = [STAMP.sub("", ln) for ln in lines]
    files = len(list((home.home / "samples").iterdir()))
    suites = len(list(EXPECTATIONS_DIR.glob("*.json")))
    done = [t for t in texts if ": done " in t]
    assert any(t.startswith(f"scenetrack_ingest: ingest: done {files}/{files} files") for t in done)
    assert any(t.startswith("scenetrack_transform: dbt build: done ") for t in done)
    assert any(
        t.startswith(f"scenetrack_transform: quality gate: done {suites}/{suites} suites")
        for t in done
    )
    assert any(t.startswith("scenetrack_evaluate: report (zh): done ") for t in done)
    assert texts[-1].startswith("demo: done 5/5 steps")
    # the relay lines stay out of the DAG logs
    assert (
        "@scenetrack-progress" not in (home.logs_dir / "dag-scenetrack_transform.log").read_text()
    )


def _published(home: Paths, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(home.published_db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def test_demo_publishes_and_says_where(demo) -> None:
    home, summary = demo
    assert summary["published_warehouse"] == str(home.published_db)
    assert home.published_db.exists()
    assert len(summary["scorecard"]) > 0
    assert sorted(p.name for p in (home.home / "processed").iterdir()) == sorted(
        p.name for p in (home.home / "samples").iterdir()
    )
    assert list((home.home / "landing").iterdir()) == []


def test_scorecard_equals_independent_recomputation(demo) -> None:
    home, _ = demo
    files = sorted(
        (home.home / "samples").glob("events_*.csv"),
        key=lambda f: (f.name == "events_corrections.csv", f.name),
    )
    expected = city_scorecard_all(files)
    got = _published(home, "select * from mart_city_scorecard where period_type = 'all'")
    got = got.set_index("city_code").loc[expected.index]
    for col in [
        "opportunities_published",
        "projects_reached_validation",
        "projects_reached_application",
        "projects_reached_scale_up",
        "projects_failed",
        "projects_withdrawn",
    ]:
        assert got[col].astype(int).tolist() == expected[col].astype(int).tolist(), col
    assert [Decimal(str(v)) for v in got.cooperation_amount_yuan] == [
        Decimal(v).quantize(Decimal("0.01")) for v in expected.cooperation_amount_yuan
    ]
    pd.testing.assert_series_equal(
        got.median_days_opportunity_to_validation.astype(float),
        expected.median_days_opportunity_to_validation.astype(float),
        check_names=False,
    )
    pd.testing.assert_series_equal(
        got.conversion_opportunity_to_validation.astype(float),
        expected.conversion_opportunity_to_validation.astype(float),
        check_names=False,
    )
    # national total in 亿元 reconciles with the sum over cities
    total_yuan = sum(expected.cooperation_amount_yuan)
    assert got.cooperation_amount_yi.astype(float).sum() == pytest.approx(
        float(total_yuan) / 1e8, abs=1e-4 * len(got)
    )


def test_status_reports_ledger_gate_and_version(demo, capsys) -> None:
    home, _ = demo
    assert cli.main(["status", "--home", str(home.home), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["ledger"]["loaded"]["files"] == len(list((home.home / "samples").iterdir()))
    assert s["last_gate"]["passed"] is True
    assert s["published"]["version"] >= 1
    # the evaluate DAG rebuilt both reports from what was published
    assert s["report"]["zh"]["current"] and s["report"]["en"]["current"]
    assert s["report"]["zh"]["version"] == s["published"]["version"]


def test_doctor_finds_the_demos_airflow_database_migrated(demo) -> None:
    from scenetrack.doctor import OK, check_airflow_db, check_duckdb

    home, _ = demo
    assert check_airflow_db(home).status == OK
    assert check_duckdb(home).status == OK


def test_breaking_submission_blocks_publish_and_keeps_published_bytes(
    demo, tmp_path, capsys
) -> None:
    home, _ = demo
    before = hashlib.sha256(home.published_db.read_bytes()).hexdigest()
    versions_before = json.loads(
        (home.published_dir / "publish_log.jsonl").read_text().splitlines()[-1]
    )["version"]
    bad = write_csv(
        tmp_path / "absurd_amount.csv",
        [event("合肥", "X-1", "application", "enter", "2025-06-01", "99999亿元", "2025-06-02")],
    )
    (home.home / "landing" / bad.name).write_bytes(bad.read_bytes())
    dags_test(home, "scenetrack_ingest")  # loads: the amount is a well-formed number
    with pytest.raises(AirflowRunError):
        dags_test(home, "scenetrack_transform")  # the GX gate fails the quality_gate task
    task_log = (home.logs_dir / "dag-scenetrack_transform.log").read_text()
    assert "GateBlockedError" in task_log and "amount_yuan" in task_log
    assert hashlib.sha256(home.published_db.read_bytes()).hexdigest() == before
    assert cli.main(["run", "--home", str(home.home)]) == cli.EXIT_GATE_BLOCKED
    err = capsys.readouterr().err
    assert "amount_yuan" in err and "BLOCKED" in err
    assert hashlib.sha256(home.published_db.read_bytes()).hexdigest() == before
    assert cli.main(["status", "--home", str(home.home), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["last_gate"]["passed"] is False and s["published"]["version"] == versions_before


def _event_files(home: Paths):
    return sorted(
        (home.home / "samples").glob("events_*.csv"),
        key=lambda f: (f.name == "events_corrections.csv", f.name),
    )


def test_funnel_equals_independent_recomputation(demo) -> None:
    home, _ = demo
    expected = national_funnel(_event_files(home))
    got = _published(
        home,
        "select stage_code, projects_reached from mart_stage_funnel where breakdown = 'national'",
    )
    assert dict(zip(got.stage_code, got.projects_reached.astype(int), strict=True)) == expected


def test_supply_demand_equals_independent_recomputation(demo) -> None:
    home, _ = demo
    expected = supply_demand(
        _event_files(home), sorted((home.home / "samples").glob("capabilities_*.csv"))
    )
    got = (
        _published(home, "select * from mart_supply_demand")
        .set_index(["city_code", "technology_code"])
        .sort_index()
    )
    expected = expected.reindex(got.index)
    for col in ["opportunities_published", "opportunities_matched", "capabilities_published"]:
        assert got[col].astype(int).tolist() == expected[col].astype(int).tolist(), col


def test_stalled_watchlist_equals_independent_recomputation(demo) -> None:
    home, _ = demo
    got = _published(home, "select project_key, reference_date from mart_stalled_projects")
    reference = pd.Timestamp(
        _published(home, "select max(reference_date) as d from mart_stalled_projects").d.iloc[0]
    )
    assert set(got.project_key) == stalled_projects(_event_files(home), reference)
    assert len(got) > 0


def test_a_city_channel_and_a_replay_through_the_dags(demo, tmp_path) -> None:
    """A list dropped in landing/无锡/ through the ingest DAG: its rows are 无锡's, a row of
    another city waits (city_mismatch), an unknown stage waits; the replay DAG, triggered
    with a reason, reads the waiting rows again and (nothing being fixed) loads nothing."""
    home, _ = demo
    channel = home.home / "landing" / "无锡"
    channel.mkdir(parents=True, exist_ok=True)
    listed = channel / ".list.csv.part"  # the landing protocol: write, then rename
    listed.write_text(
        "无锡市2025年第三批场景机会清单（发布日期：2025年9月1日）\n"
        "场景名称,技术方向,预计投资（万元）,联系电话\n"
        "隧道巡检,具身智能+5G,约500,13800138000\n"
        "湖面保洁,无人船,,13900139000\n",
        encoding="utf-8",
    )
    listed.rename(channel / "list.csv")
    events = write_csv(
        channel / "events.csv",
        [
            event("合肥", "H-9", "opportunity", "enter", "2025-09-01"),  # not 无锡's
            event("无锡", "W-9", "需求征集", "enter", "2025-09-01"),  # unknown stage
        ],
    )
    dags_test(home, "scenetrack_ingest")
    assert (home.home / "processed" / "无锡" / "list.csv").exists() and not events.exists()
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        listed_rows = con.execute(
            "select city_code, batch, planned_investment_yuan from raw.events "
            "where source_file_name = 'list.csv' order by source_line"
        ).fetchall()
        waiting = con.execute(
            "select source_line, reason from raw.quarantine "
            "where source_file_name = 'events.csv' order by 1"
        ).fetchall()
    finally:
        con.close()
    assert listed_rows == [
        ("320200", "2025年第3批", Decimal("5000000.00")),
        ("320200", "2025年第3批", None),
    ]
    assert waiting == [(2, "city_mismatch"), (3, "unknown_stage")]
    dags_test(home, "scenetrack_replay", {"reason": "unknown_stage"})  # skipped: nothing loads
    log = (home.logs_dir / "dag-scenetrack_replay.log").read_text()
    assert "unchanged" in log and "nothing loaded: 1 row(s) still wait" in log
