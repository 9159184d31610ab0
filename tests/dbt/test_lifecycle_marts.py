"""The lifecycle and scorecard on a hand-made case whose answers are worked out below."""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

import duckdb
import pytest

from scenetrack.pipeline import build, ingest_paths
from tests.conftest import event, write_csv


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Two submissions from two cities; the second corrects one date of the first."""
    from scenetrack.config import Paths

    tmp = tmp_path_factory.mktemp("lifecycle")
    home = Paths(tmp / "home").ensure()
    first = write_csv(
        tmp / "first.csv",
        [
            # P1: full lifecycle; amount re-stated at scale-up (the latest stated amount counts)
            event("合肥", "P1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
            event("合肥", "P1", "validation", "enter", "2025-02-09", reported="2025-02-10"),
            event("合肥", "P1", "application", "enter", "2025-04-10", "500万元", "2025-04-11"),
            event("合肥", "P1", "scale_up", "enter", "2025-10-07", "1.2亿", "2025-10-08"),
            # P2: failed in validation (容错: recorded, not erased)
            event("合肥市", "P2", "opportunity", "enter", "2025-03-01", reported="2025-03-02"),
            event("合肥市", "P2", "validation", "enter", "2025-04-01", reported="2025-04-02"),
            event("合肥市", "P2", "validation", "fail", "2025-06-01", reported="2025-06-02"),
            # P3: withdrawn at opportunity, 2024 cohort
            event("Hefei", "P3", "opportunity", "enter", "2024-11-20", reported="2024-11-21"),
            event("Hefei", "P3", "opportunity", "withdraw", "2024-12-20", reported="2024-12-21"),
            # P4: validation first reported as 2025-03-15 ...
            event("合肥", "P4", "opportunity", "enter", "2025-02-01", reported="2025-02-02"),
            event("合肥", "P4", "validation", "enter", "2025-03-15", reported="2025-03-16"),
            # W1: reported straight at application, never published as an opportunity
            event("无锡", "W1", "application", "enter", "2025-05-01", "4000万元", "2025-05-02"),
            # W2: validation dated before its opportunity (a regression, flagged not dropped)
            event("无锡", "W2", "opportunity", "enter", "2025-06-01", reported="2025-06-02"),
            event("无锡", "W2", "validation", "enter", "2025-05-20", reported="2025-06-03"),
        ],
    )
    # ... and corrected a month later to 2025-03-05: the later report wins
    second = write_csv(
        tmp / "second.csv",
        [
            event("合肥", "P4", "validation", "enter", "2025-03-05", reported="2025-04-20"),
        ],
    )
    ingest_paths(home, [first, second])
    os.environ["SCENETRACK_REFERENCE_DATE"] = "2025-12-31"  # the evaluation date is pinned
    try:
        build(home)
    finally:
        del os.environ["SCENETRACK_REFERENCE_DATE"]
    con = duckdb.connect(str(home.work_db), read_only=True)
    yield con
    con.close()


def _row(con, sql: str) -> dict:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone(), strict=True))


def test_full_lifecycle_project(built) -> None:
    p1 = _row(built, "select * from marts.fct_project_lifecycle where project_id = 'P1'")
    assert p1["current_stage"] == "scale_up" and p1["status"] == "active"
    assert p1["cooperation_amount_yuan"] == Decimal("120000000.00")
    assert (
        p1["days_opportunity_to_validation"],
        p1["days_validation_to_application"],
        p1["days_application_to_scale_up"],
    ) == (30, 60, 180)
    assert not (
        p1["has_skipped_stage"] or p1["has_stage_date_regression"] or p1["missing_opportunity"]
    )


def test_failure_withdrawal_correction_and_anomalies(built) -> None:
    rows = {
        r[0]: r[1:]
        for r in built.execute(
            "select project_id, current_stage, status, validation_entered_on, cohort_year, "
            "has_skipped_stage, has_stage_date_regression, missing_opportunity "
            "from marts.fct_project_lifecycle"
        ).fetchall()
    }
    assert rows["P2"][:2] == ("validation", "terminated_failed")
    assert rows["P3"][:2] == ("opportunity", "terminated_withdrawn") and rows["P3"][3] == 2024
    assert rows["P4"][2] == date(2025, 3, 5)  # the correction won
    assert rows["W1"][4:] == (True, False, True)  # skipped stages, no opportunity
    assert rows["W2"][4:] == (False, True, False)  # validation before opportunity
    assert len(rows) == 6


def test_stage_grain_has_one_current_stage_per_project(built) -> None:
    assert built.execute(
        "select count(*), count(distinct project_key), sum(is_current::int) "
        "from intermediate.int_project_stages_entered"
    ).fetchone() == (12, 6, 6)
    assert built.execute(
        "select exited_on from intermediate.int_project_stages_entered "
        "where project_stage_key = '340100:P2:validation'"
    ).fetchone() == (date(2025, 6, 1),)


def test_city_scorecard_all_time(built) -> None:
    hefei = _row(
        built,
        "select * from marts.mart_city_scorecard "
        "where city_code = '340100' and period_type = 'all'",
    )
    assert (
        hefei["opportunities_published"],
        hefei["projects_reached_validation"],
        hefei["projects_reached_application"],
        hefei["projects_reached_scale_up"],
        hefei["projects_failed"],
        hefei["projects_withdrawn"],
    ) == (4, 3, 1, 1, 1, 1)
    assert hefei["conversion_opportunity_to_validation"] == pytest.approx(3 / 4)
    assert hefei["conversion_validation_to_application"] == pytest.approx(1 / 3)
    assert hefei["conversion_application_to_scale_up"] == pytest.approx(1.0)
    assert hefei["cooperation_amount_yi"] == Decimal("1.2000")
    assert hefei["median_days_opportunity_to_validation"] == 31  # 30, 31, 32
    wuxi = _row(
        built,
        "select * from marts.mart_city_scorecard "
        "where city_code = '320200' and period_type = 'all'",
    )
    assert (
        wuxi["opportunities_published"],
        wuxi["projects_reached_validation"],
        wuxi["projects_reached_application"],
    ) == (1, 1, 1)
    assert wuxi["conversion_validation_to_application"] == 0.0  # W1 never validated
    assert wuxi["cooperation_amount_yuan"] == Decimal("40000000.00")
    assert wuxi["median_days_opportunity_to_validation"] == -12


def test_city_scorecard_by_cohort_year(built) -> None:
    got = built.execute(
        "select period_label, opportunities_published, projects_reached_validation, "
        "projects_withdrawn from marts.mart_city_scorecard "
        "where city_code = '340100' and period_type = 'year' order by 1"
    ).fetchall()
    assert got == [("2024", 1, 0, 1), ("2025", 3, 3, 0)]


def test_stage_transitions_with_days_taken(built) -> None:
    got = sorted(
        built.execute(
            "select project_key, from_stage, to_stage, days_taken, skipped_stages "
            "from marts.fct_stage_transitions"
        ).fetchall()
    )
    assert got == [
        ("320200:W2", "opportunity", "validation", -12, False),
        ("340100:P1", "application", "scale_up", 180, False),
        ("340100:P1", "opportunity", "validation", 30, False),
        ("340100:P1", "validation", "application", 60, False),
        ("340100:P2", "opportunity", "validation", 31, False),
        ("340100:P4", "opportunity", "validation", 32, False),
    ]


def test_national_funnel_counts_failures_where_they_happened(built) -> None:
    got = built.execute(
        "select stage_code, projects_reached, projects_failed_here, projects_withdrawn_here, "
        "conversion_from_previous_stage, conversion_from_opportunity from marts.mart_stage_funnel "
        "where breakdown = 'national' order by stage_order"
    ).fetchall()
    assert [r[:4] for r in got] == [
        ("opportunity", 5, 0, 1),  # P1 P2 P3 P4 W2; P3 withdrawn here
        ("validation", 4, 1, 0),  # P1 P2 P4 W2; P2 failed here
        ("application", 2, 0, 0),  # P1 W1
        ("scale_up", 1, 0, 0),  # P1
    ]
    assert [r[4] for r in got] == [
        None,
        pytest.approx(4 / 5),
        pytest.approx(2 / 4),
        pytest.approx(1 / 2),
    ]
    assert [r[5] for r in got] == [
        pytest.approx(1.0),
        pytest.approx(4 / 5),
        pytest.approx(2 / 5),
        pytest.approx(1 / 5),
    ]
    by_city = dict(
        built.execute(
            "select breakdown_value, projects_reached from marts.mart_stage_funnel "
            "where breakdown = 'city' and stage_code = 'application'"
        ).fetchall()
    )
    assert by_city == {"340100": 1, "320200": 1}


def test_stalled_watchlist_as_of_the_reference_date(built) -> None:
    # reference date 2025-12-31: P4 in validation since 03-05 (301 d > 180), W2 in validation
    # since 05-20 (225 d > 180); W1 in application 244 d < 365; P1 at scale-up never stalls.
    got = sorted(
        built.execute(
            "select project_key, current_stage, days_in_current_stage, stalled_after_days, "
            "reference_date from marts.mart_stalled_projects"
        ).fetchall()
    )
    assert got == [
        ("320200:W2", "validation", 225, 180, date(2025, 12, 31)),
        ("340100:P4", "validation", 301, 180, date(2025, 12, 31)),
    ]
    stalled = dict(
        built.execute(
            "select city_code, projects_stalled from marts.mart_city_scorecard "
            "where period_type = 'all'"
        ).fetchall()
    )
    assert stalled == {"340100": 1, "320200": 1}


def test_supply_demand_share_matched(built) -> None:
    got = sorted(
        built.execute(
            "select city_code, technology_code, opportunities_published, capabilities_published, "
            "opportunities_matched, share_opportunities_matched from marts.mart_supply_demand"
        ).fetchall()
    )
    assert got == [("320200", "ai", 1, 0, 1, 1.0), ("340100", "ai", 4, 0, 3, 0.75)]


def test_scorecard_quarter_and_month_periods(built) -> None:
    got = built.execute(
        "select period_type, period_label, period_start, opportunities_published "
        "from marts.mart_city_scorecard where city_code = '340100' "
        "and period_type in ('quarter', 'month') order by period_type, period_label"
    ).fetchall()
    assert got == [
        ("month", "2024-11", date(2024, 11, 1), 1),  # P3
        ("month", "2025-01", date(2025, 1, 1), 1),  # P1
        ("month", "2025-02", date(2025, 2, 1), 1),  # P4
        ("month", "2025-03", date(2025, 3, 1), 1),  # P2
        ("quarter", "2024-Q4", date(2024, 10, 1), 1),
        ("quarter", "2025-Q1", date(2025, 1, 1), 3),
    ]


def test_stage_activity_counts_entries_in_the_period_they_happened(built) -> None:
    """Worked out from the fixture above: entries, endings and amounts by period."""

    def entered(period_type: str, label: str, stage: str, col: str = "projects_entered"):
        return built.execute(
            f"select sum({col}) from marts.mart_stage_activity where period_type = ? "
            "and period_label = ? and stage_code = ?",
            [period_type, label, stage],
        ).fetchone()[0]

    # 2025 validations: P1 02-09, P2 04-01, P4 03-05 (the corrected date), W2 05-20
    assert entered("year", "2025", "validation") == 4
    assert entered("quarter", "2025-Q1", "validation") == 2  # P1, P4 (corrected into March)
    assert entered("month", "2025-03", "validation") == 1  # P4 on 03-05, not 03-15's report
    # applications: P1 2025-04-10 and W1 2025-05-01, both 2025-Q2, whatever their cohort
    assert entered("quarter", "2025-Q2", "application") == 2
    # the money signed in 2025-Q2: P1's latest stated 1.2亿 plus W1's 4000万
    amount = entered("quarter", "2025-Q2", "application", "cooperation_amount_yuan")
    assert amount == Decimal("160000000.00")
    # 容错: P2 failed in validation on 2025-06-01; P3 withdrawn at opportunity on 2024-12-20
    assert entered("quarter", "2025-Q2", "validation", "projects_failed") == 1
    assert entered("year", "2024", "opportunity", "projects_withdrawn") == 1
    assert entered("year", "2024", "opportunity") == 1  # P3's publication, 2024-11-20
    # every grain holds every entry once: the national funnel's reach per stage
    by_grain = built.execute(
        "select period_type, sum(projects_entered) from marts.mart_stage_activity "
        "group by 1 order by 1"
    ).fetchall()
    # P1 4 + P2 2 + P3 1 + P4 2 + W1 1 + W2 2 = 12 entries
    assert by_grain == [("month", 12), ("quarter", 12), ("year", 12)]


def test_termination_reasons_as_written_and_grouped(tmp_path) -> None:
    """A 台账 with 终止原因: the words reach mart_terminations as written, grouped by the first
    matching keyword by priority (funding before supplier before technical)."""
    from scenetrack.config import Paths

    home = Paths(tmp_path / "home").ensure()
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "城市,项目编号,发布日期,验证日期,终止日期,终止原因\n"
        "合肥,R1,2025-01-01,2025-02-01,2025-03-01,资金不到位，企业退出\n"
        "合肥,R2,2025-01-01,2025-02-01,2025-04-01,验证失败：识别精度未达标\n"
        "合肥,R3,2025-01-01,,2025-03-01,项目未失败，企业主动撤回\n"
        "合肥,R4,2025-01-01,,2025-03-01,\n"
        "合肥,R5,2025-01-01,,2025-03-01,场地另作他用\n"
        "合肥,R6,2025-01-01,2025-02-01,,\n",
        encoding="utf-8",
    )
    ingest_paths(home, [ledger])
    os.environ["SCENETRACK_REFERENCE_DATE"] = "2025-12-31"
    try:
        build(home)
    finally:
        del os.environ["SCENETRACK_REFERENCE_DATE"]
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        rows = con.execute(
            "select project_key, stage_code, status, reason_text, reason_group "
            "from marts.mart_terminations order by 1"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        ("340100:R1", "validation", "terminated_withdrawn", "资金不到位，企业退出", "funding"),
        ("340100:R2", "validation", "terminated_failed", "验证失败：识别精度未达标", "technical"),
        (
            "340100:R3",
            "opportunity",
            "terminated_withdrawn",
            "项目未失败，企业主动撤回",
            "supplier",
        ),
        ("340100:R4", "opportunity", "terminated_withdrawn", None, "unstated"),
        ("340100:R5", "opportunity", "terminated_withdrawn", "场地另作他用", "other"),
    ]  # R6 is active: not a termination
