"""The evaluator's cuts on the hand-made warehouse (tests/report/conftest.py), each figure
against SQL over the published marts or a value worked out by hand from the fixture:
activity per period with its changes, cohort maturity, benchmarks, attention, money,
suppliers, freshness, local time and the version shown."""

from __future__ import annotations

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.report import build_report, slices
from scenetrack.report.build import lang_dir
from tests.report.pages import read_page


def _one(p: Paths, sql: str, params: list | None = None):
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_activity_by_period_equals_the_mart(built_report, lang) -> None:
    p, pages = built_report
    page = read_page(pages[lang])
    for period_type in ("year", "quarter"):
        shown = {r["_key"]: r for r in page.tables[f"activity_{period_type}"]}
        rows = _one(
            p,
            "select period_label, stage_code, sum(projects_entered) from mart_stage_activity "
            "where period_type = ? group by all",
            [period_type],
        )
        for label, stage, n in rows:
            assert shown[label][f"entered_{stage}"][0] == str(n), (label, stage)
    q = {r["_key"]: r for r in page.tables["activity_quarter"]}
    # worked out from the fixture: applications W1 (2025-03-01), P1 (2025-04-01), none after
    assert q["2025-Q2"]["application_change_previous"][1] == "±0"
    assert q["2025-Q3"]["application_change_previous"][1] == "−1"
    assert q["2025-Q2"]["application_change_year"][1] == "-"  # no 2024-Q2 to compare with
    assert q["2025-Q2"]["projects_failed"][0] == "1"  # P2, 2025-06-01
    assert q["2025-Q2"]["amount_yi"][1] == "3.00"  # P1's 3亿 signed on 2025-04-01
    year = {r["_key"]: r for r in page.tables["activity_year"]}
    assert float(year["2025"]["amount_yi"][0]) == pytest.approx(4.2345678912)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_young_cohorts_are_too_early_to_judge(built_report, lang) -> None:
    p, pages = built_report
    page = read_page(pages[lang])
    html = pages[lang].read_text(encoding="utf-8")
    # p90 of days from publication to scale-up: P1's 234 alone; 2025-Q2 ended 2025-06-30,
    # 154 days before the as-of date 2025-12-01: too early for scale-up, not for the others
    (p90,) = _one(
        p,
        "select quantile_cont(datediff('day', opportunity_entered_on, scale_up_entered_on), 0.9) "
        "from fct_project_lifecycle",
    )[0]
    assert p90 == 234
    cohorts = {r["_key"]: r for r in page.tables["cohorts"]}
    early = {"zh": "尚早", "en": "too early"}[lang]
    assert cohorts["2025-Q2"]["conversion_scale_up"][1] == early
    assert cohorts["2025-Q2"]["conversion_validation"][1] != early
    assert cohorts["2025-Q1"]["conversion_scale_up"][1] != early
    assert 'data-key="2025-Q2" data-f-year="2025" data-too-early="scale_up"' in html
    assert "234" in page.notes["maturity"]


def test_benchmarks_rank_and_medians(published_home: Paths, monkeypatch) -> None:
    monkeypatch.setattr(slices, "RANK_MIN_PROJECTS", 1)
    build_report(published_home, "en")
    page = read_page(lang_dir(published_home, "en") / "city" / "340100.html")
    b = {r["_key"]: r for r in page.tables["benchmarks"]}
    col = "conversion_validation_to_application"
    values = _one(
        published_home,
        f"select city_code, {col}, region from mart_city_scorecard where period_type = 'all' "
        "and projects_reached_validation >= 1",
    )
    national = _one(
        published_home,
        f"select median({col}) from mart_city_scorecard "
        "where period_type = 'all' and projects_reached_validation >= 1",
    )[0][0]
    assert float(b[col]["national_median"][0]) == pytest.approx(national)  # 0.75
    assert float(b[col]["regional_median"][0]) == pytest.approx(0.5)  # Hefei alone, central
    better = sum(1 for _, v, _ in values if v > 0.5)
    assert b[col]["rank"][0] == str(better + 1) == "2"
    assert b[col]["ranked_cities"][0] == "2"


def test_too_few_projects_are_not_ranked(built_report) -> None:
    p, _ = built_report
    page = read_page(lang_dir(p, "en") / "city" / "340100.html")
    b = {r["_key"]: r for r in page.tables["benchmarks"]}
    assert slices.RANK_MIN_PROJECTS == 30  # the default; Hefei has 2 pilots
    assert b["conversion_validation_to_application"]["rank"] == ("", "too few projects")
    board = {
        r["_key"]: r
        for r in read_page(p.published_dir / "report" / "en" / "index.html").tables["leaderboard"]
    }
    assert board["340100"]["rank"][0] == ""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_attention_money_suppliers_freshness(built_report, lang) -> None:
    p, pages = built_report
    page = read_page(pages[lang])
    attention = {r["_key"]: r["reasons"][0] for r in page.tables["attention"]}
    # Hefei: a stalled project; Wuxi: last report 2025-06-01, 183 days before 2025-12-01
    assert attention == {"340100": "stalled", "320200": "silent"}
    fresh = {r["_key"]: (r["days_silent"][0], r["status"][0]) for r in page.tables["freshness"]}
    assert fresh == {"340100": ("11", "fresh"), "320200": ("183", "stale")}
    money = {r["_key"]: float(r["amount_yi"][0]) for r in page.tables["money_domain"]}
    assert money == pytest.approx({"industry:2025": 3.0, "city:2025": 1.2345678912})
    tech = {r["_key"]: r["projects"][0] for r in page.tables["money_technology"]}
    assert tech == {"ai:2025": "1", "drone:2025": "1"}
    # planned investment the lists stated (conftest.BATCHES), by the opportunities' year, kept
    # apart from the money signed: 合肥 P1 5000万 (industry, ai), P3 800万 (city, drone)
    planned = {r["_key"]: float(r["planned_yi"][0]) for r in page.tables["money_domain"]}
    assert planned == pytest.approx({"industry:2025": 0.5, "city:2025": 0.08})
    planned = {r["_key"]: float(r["planned_yi"][0]) for r in page.tables["money_technology"]}
    assert planned == pytest.approx({"ai:2025": 0.5, "drone:2025": 0.08})
    suppliers = {r["_key"]: r["projects_reached_application"][0] for r in page.tables["suppliers"]}
    expected = dict(
        _one(
            p,
            "select supplier, cast(count(application_entered_on) as varchar) "
            "from fct_project_lifecycle where supplier is not null group by 1",
        )
    )
    assert suppliers == expected == {"科大讯飞": "1", "顺丰": "1"}
    owners = {r["_key"]: r["projects_reached_application"][0] for r in page.tables["demand_owners"]}
    assert owners == dict(
        _one(
            p,
            "select demand_owner, cast(count(application_entered_on) as varchar) "
            "from fct_project_lifecycle where demand_owner is not null group by 1",
        )
    )
    assert owners["合肥市经信局"] == "1" and owners["合肥供电"] == "0"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_local_time_and_the_version_shown(built_report, lang) -> None:
    _, pages = built_report
    page = read_page(pages[lang])
    # published 2025-12-02 08:00 UTC: 16:00 in Asia/Shanghai, to the minute
    assert page.figures["published_at"][1] == "2025-12-02 16:00 (UTC+08:00)"
    value, text = page.figures["shows_version"]
    assert value == "2" and "v2" in text and "2025-12-01" in text
    assert "UTC)" not in page.text.replace("(UTC+08:00)", "")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reasons_grouped_and_as_written(built_report, lang) -> None:
    p, pages = built_report
    page = read_page(pages[lang])
    groups = {
        r["_key"]: (r["projects_failed"][0], r["projects_withdrawn"][0])
        for r in page.tables["reasons"]
    }
    expected = {
        g: (str(f), str(w))
        for g, f, w in _one(
            p,
            "select reason_group, count(*) filter (where status = 'terminated_failed'), "
            "count(*) filter (where status = 'terminated_withdrawn') from mart_terminations "
            "group by 1",
        )
    }
    assert groups == expected == {"technical": ("1", "0"), "unstated": ("0", "1")}
    ended = {r["_key"]: r["reason_text"] for r in page.tables["terminated"]}
    assert ended["340100:P2"] == ("验证失败：巡检识别率未达标", "验证失败：巡检识别率未达标")
    assert ended["320200:P2"][1] == {"zh": "未填写原因", "en": "No reason given"}[lang]
