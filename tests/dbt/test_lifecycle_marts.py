"""The lifecycle and scorecard on a hand-made case whose answers are worked out below."""

from __future__ import annotations

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
    build(home)
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
