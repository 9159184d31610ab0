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
    stage_activity,
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


@pytest.mark.parametrize("period_type, grain", [("year", "Y"), ("quarter", "Q"), ("month", "M")])
def test_stage_activity_equals_independent_recomputation(demo, period_type, grain) -> None:
    """The activity view: projects entering (failing, withdrawn in) each stage per period."""
    home, _ = demo
    expected = stage_activity(_event_files(home), grain)
    expected.index = expected.index.set_levels(
        [str(q).replace("Q", "-Q") for q in expected.index.levels[0]], level=0
    )
    got = _published(
        home,
        "select period_label as period, city_code, domain_code, technology_code, stage_code, "
        "sum(projects_entered) as projects_entered, sum(projects_failed) as projects_failed, "
        "sum(projects_withdrawn) as projects_withdrawn from mart_stage_activity "
        f"where period_type = '{period_type}' group by all",  # over list batches
    ).set_index(list(expected.index.names))
    got = got.astype(int).sort_index()
    assert len(got) > 100
    pd.testing.assert_frame_equal(got, expected.sort_index(), check_like=True)


def test_demo_gate_measures_freshness_as_of_the_datas_date(demo) -> None:
    """The demo's data is as of 2025-12-31 (SCENETRACK_REFERENCE_DATE): its cities reported
    within the freshness window of that date, so the gate warns about none of them."""
    home, _ = demo
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        failing = con.execute(
            "select suite, expectation, observed_value from audit.gate_results "
            "where run_id = (select run_id from audit.gate_results order by run_at desc limit 1) "
            "and not success"
        ).fetchall()
    finally:
        con.close()
    assert [f for f in failing if f[0] == "source_freshness"] == []


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


# Last: it adds a version, holds back a file and leaves a blocked gate run behind.
def test_a_breaking_submission_is_held_back_and_a_failure_of_everyone_blocks(
    demo, tmp_path, capsys, monkeypatch
) -> None:
    """A 99999亿元 row from 合肥: 合肥's newest file is held back (per-city holdback) and the
    others publish. A failure no city owns (the volume guard, with no drop allowed after the
    operator holds 无锡) blocks the publish through Airflow and the CLI alike, bytes kept."""
    home, _ = demo
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")  # as the demo evaluates
    version_before = json.loads(
        (home.published_dir / "publish_log.jsonl").read_text().splitlines()[-1]
    )["version"]
    hefei_before = _published(
        home, "select count(*) as n from fct_project_lifecycle where city_code = '340100'"
    ).n[0]
    bad = write_csv(
        tmp_path / "absurd_amount.csv",
        [event("合肥", "X-1", "application", "enter", "2025-06-01", "99999亿元", "2025-06-02")],
    )
    (home.home / "landing" / bad.name).write_bytes(bad.read_bytes())
    dags_test(home, "scenetrack_ingest")  # loads: the amount is a well-formed number
    dags_test(home, "scenetrack_transform")  # held back, gated again, published
    task_log = (home.logs_dir / "dag-scenetrack_transform.log").read_text()
    assert "Held back (1 submission(s)" in task_log and "absurd_amount.csv" in task_log
    assert "amount_yuan" in task_log
    log = [
        json.loads(ln) for ln in (home.published_dir / "publish_log.jsonl").read_text().splitlines()
    ]
    assert log[-1]["version"] == version_before + 1
    assert (
        _published(
            home, "select count(*) as n from fct_project_lifecycle where project_id = 'X-1'"
        ).n[0]
        == 0
    )
    assert (
        _published(
            home, "select count(*) as n from fct_project_lifecycle where city_code = '340100'"
        ).n[0]
        == hefei_before
    )
    assert cli.main(["status", "--home", str(home.home), "--json"]) == 0
    held = json.loads(capsys.readouterr().out)["held"]
    assert [(h["city_code"], h["file_name"]) for h in held] == [("340100", "absurd_amount.csv")]

    before = hashlib.sha256(home.published_db.read_bytes()).hexdigest()
    monkeypatch.setenv("SCENETRACK_VOLUME_MAX_DROP", "0")  # not one row of a fact may go
    assert cli.main(["hold", "--city", "无锡", "--home", str(home.home)]) == 0
    held_wuxi = capsys.readouterr().out  # every file 无锡 sent
    assert held_wuxi.startswith("held ") and " submission(s) of 320200" in held_wuxi
    try:
        with pytest.raises(AirflowRunError):
            dags_test(home, "scenetrack_transform")  # the gate fails the quality_gate task
        task_log = (home.logs_dir / "dag-scenetrack_transform.log").read_text()
        assert "GateBlockedError" in task_log and "SCENETRACK_VOLUME_MAX_DROP=0" in task_log
        assert hashlib.sha256(home.published_db.read_bytes()).hexdigest() == before
        assert cli.main(["status", "--home", str(home.home), "--json"]) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["last_gate"]["passed"] is False
        assert s["published"]["version"] == version_before + 1
    finally:
        assert cli.main(["release", "--city", "无锡", "--home", str(home.home)]) == 0


def _event_files(home: Paths):
    return sorted(
        (home.home / "samples").glob("events_*.csv"),
        key=lambda f: (f.name == "events_corrections.csv", f.name),
    )
