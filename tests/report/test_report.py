"""The report shows exactly the marts' figures, in both languages, and links what it promises."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.report import build_report
from scenetrack.report.build import lang_dir
from tests.report.conftest import freshness_meta, start_writer
from tests.report.pages import read_page

LANGS = ("zh", "en")


def _marts(p: Paths, sql: str, params: list | None = None) -> list[dict]:
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        cur = con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _same(shown: str, expected) -> bool:
    """A ``data-value`` equals the mart value (numbers compared as numbers)."""
    if expected is None:
        return shown == ""
    if isinstance(expected, bool):
        return shown == ("true" if expected else "false")
    if isinstance(expected, int | float | Decimal):
        return shown != "" and float(shown) == pytest.approx(float(expected), rel=1e-12)
    if hasattr(expected, "isoformat"):
        return shown.startswith(expected.isoformat()[:10])
    return shown == str(expected)


@pytest.fixture
def pages(built_report) -> dict[str, Path]:
    """The report in both languages (built once; these tests only read it)."""
    return built_report[1]


@pytest.fixture
def built_home(built_report) -> Paths:
    return built_report[0]


def test_layout_and_assets(built_home: Paths, pages: dict[str, Path]) -> None:
    report = built_home.published_dir / "report"
    assert pages["zh"] == report / "index.html"
    assert pages["en"] == report / "en" / "index.html"
    js = report / "assets" / "plotly.min.js"
    assert js.stat().st_size > 1_000_000
    for lang in LANGS:
        for page in [pages[lang], *sorted((lang_dir(built_home, lang) / "city").glob("*"))]:
            html = page.read_text(encoding="utf-8")
            parsed = read_page(page)
            # local scripts only (one plotly.js, the vendored tables, the report's own),
            # referenced relatively; nothing from the network
            scripts = [(page.parent / src).resolve() for src in parsed.scripts_src]
            assert scripts[0] == js.resolve()
            assert all(f.parent == js.parent.resolve() and f.is_file() for f in scripts)
            assert {f.name for f in scripts} >= {"dataTables.min.js", "report.js"}
            assert "http://" not in html.replace("http://www.w3.org", "")
            assert "https://" not in html
            assert parsed.chart_divs and set(parsed.chart_divs) == set(parsed.charts)
    # one page per active city (Beijing has no activity: no page)
    assert sorted(f.name for f in (report / "city").glob("*.html")) == [
        "320200.html",
        "340100.html",
    ]


@pytest.mark.parametrize("lang", LANGS)
def test_national_figures_equal_the_marts(
    built_home: Paths, pages: dict[str, Path], lang: str
) -> None:
    page = read_page(pages[lang])
    p = built_home
    all_rows = _marts(p, "select * from mart_city_scorecard where period_type = 'all'")
    yuan = sum(r["cooperation_amount_yuan"] for r in all_rows)
    f = page.figures
    assert f["cities_active"] == ("2", "2")
    assert f["projects_total"] == ("5", "5")
    assert float(f["cooperation_amount_yi"][0]) == pytest.approx(float(yuan) / 1e8)
    assert f["cooperation_amount_yi"][1] == "4.23"  # 3.00 + 1.2345678912 亿元
    assert f["projects_stalled"] == ("1", "1")
    assert f["projects_failed"] == (str(sum(r["projects_failed"] for r in all_rows)), "1")
    assert f["projects_withdrawn"] == ("1", "1")
    assert f["version"] == ("2", "v2")
    assert f["gate_run_id"][0] == "run-2"

    # change against the previous publish (v1: Hefei only)
    d = page.deltas
    assert d["cities_active"] == ("1", "+1")
    assert d["projects_total"] == ("2", "+2")
    assert float(d["cooperation_amount_yi"][0]) == pytest.approx(1.2345678912)
    assert d["cooperation_amount_yi"][1] == "+1.23"
    assert d["projects_stalled"][1] == "±0"
    assert d["projects_withdrawn"][1] == "+1"

    national = _marts(
        p, "select * from mart_stage_funnel where breakdown = 'national' order by stage_order"
    )
    stages = {r["_key"]: r for r in page.tables["stages"]}
    funnel = {r["_key"]: r for r in page.tables["funnel_national"]}
    assert list(funnel) == [r["stage_code"] for r in national]
    for m in national:
        s = m["stage_code"]
        assert _same(stages[s]["projects_reached"][0], m["projects_reached"])
        for col in (
            "projects_reached",
            "conversion_from_previous_stage",
            "conversion_from_opportunity",
            "projects_failed_here",
            "projects_withdrawn_here",
        ):
            assert _same(funnel[s][col][0], m[col]), (s, col)
    assert stages["opportunity"]["projects_reached_change"][1] == "+2"  # 5 now, 3 in v1
    # active projects currently in each stage, counted from fct_project_lifecycle
    assert stages["opportunity"]["active_in_stage"][0] == "1"
    assert stages["scale_up"]["active_in_stage"][0] == "1"
    assert funnel["validation"]["conversion_from_previous_stage"][1] == "60.0%"

    # the funnel chart plots the same numbers
    chart = page.charts["funnel_national"]["data"][0]
    assert chart["x"] == [r["projects_reached"] for r in national]

    by_domain = {r["_key"]: r for r in page.tables["funnel_by_domain"]}
    for m in _marts(p, "select * from mart_stage_funnel where breakdown = 'domain'"):
        row = by_domain[m["breakdown_value"]]
        assert _same(row[f"reached_{m['stage_code']}"][0], m["projects_reached"])
        if m["stage_code"] != "opportunity":
            assert _same(
                row[f"conversion_{m['stage_code']}"][0], m["conversion_from_previous_stage"]
            )
    expected_domain = {"zh": "产业", "en": "Industry"}[lang]
    assert by_domain["industry"]["breakdown_value"][1] == expected_domain


@pytest.mark.parametrize("lang", LANGS)
def test_leaderboard_equals_the_scorecard(
    built_home: Paths, pages: dict[str, Path], lang: str
) -> None:
    page = read_page(pages[lang])
    rows = _marts(built_home, "select * from mart_city_scorecard where period_type = 'all'")
    board = {r["_key"]: r for r in page.tables["leaderboard"]}
    assert set(board) == {r["city_code"] for r in rows}
    assert list(board) == ["340100", "320200"]  # most projects reaching application first
    for m in rows:
        shown = board[m["city_code"]]
        name = m["city_name_zh"] if lang == "zh" else m["city_name_en"]
        assert shown["city"][1] == name
        for col, cell in shown.items():
            if col in ("_key", "city", "region", "rank"):
                continue
            value = cell[0]
            assert _same(value, m[col]), (m["city_code"], col, value, m[col])
    hefei = board["340100"]
    assert hefei["conversion_opportunity_to_validation"][1] == "66.7%"
    assert hefei["median_days_opportunity_to_validation"][1] == "41.5"
    assert hefei["cooperation_amount_yi"][1] == "3.00"
    assert board["320200"]["median_days_application_to_scale_up"] == ("", "-")


@pytest.mark.parametrize("lang", LANGS)
def test_watchlist_failures_durations(built_home: Paths, pages: dict[str, Path], lang: str) -> None:
    page = read_page(pages[lang])
    stalled = _marts(built_home, "select * from mart_stalled_projects")
    shown = page.tables["stalled"]
    assert [r["_key"] for r in shown] == [r["project_key"] for r in stalled]
    assert shown[0]["days_in_current_stage"][0] == "275"
    assert shown[0]["days_overdue"][0] == "185"  # 275 - 90, a difference of two mart columns

    ended = _marts(
        built_home,
        "select * from fct_project_lifecycle where status <> 'active' order by project_key",
    )
    terminated = sorted(page.tables["terminated"], key=lambda r: r["_key"])
    assert [r["_key"] for r in terminated] == [r["project_key"] for r in ended]
    assert [r["status"][0] for r in terminated] == [r["status"] for r in ended]
    fail_chart = page.charts["failures_by_stage"]["data"]
    assert fail_chart[0]["y"] == [0, 1, 0, 0] and fail_chart[1]["y"] == [1, 0, 0, 0]

    transitions = _marts(
        built_home,
        "select from_stage, to_stage, count(*) as n, min(days_taken) as lo, "
        "max(days_taken) as hi from fct_stage_transitions group by all",
    )
    table = {r["_key"]: r for r in page.tables["transitions"]}
    for t in transitions:
        row = table[f"{t['from_stage']}>{t['to_stage']}"]
        assert row["transitions"][0] == str(t["n"])
        assert row["min_days"][0] == str(t["lo"]) and row["max_days"][0] == str(t["hi"])
    boxes = page.charts["durations"]["data"]
    assert sorted(sum((b["y"] for b in boxes), [])) == sorted(
        r["days_taken"] for r in _marts(built_home, "select days_taken from fct_stage_transitions")
    )


@pytest.mark.parametrize("lang", LANGS)
def test_data_quality_panel(built_home: Paths, pages: dict[str, Path], lang: str) -> None:
    page = read_page(pages[lang])
    f = page.figures
    assert f["gate_status"][0] == "passed"
    assert f["gate_checks"][0] == "2" and f["gate_warnings"][0] == "1"
    assert f["gate_failures"][0] == "0"
    problems = page.tables["gate_problems"]
    assert [(r["suite"][0], r["severity"][0]) for r in problems] == [("source_freshness", "warn")]
    # the check's "why" shown in the page's language (the suite's notes / notes_zh); the cell's
    # value stays what the gate stored
    why = freshness_meta()["notes_zh" if lang == "zh" else "notes"]
    assert problems[0]["notes"] == (freshness_meta()["notes"], why)
    assert f["quarantine_total"][0] == "3"
    q = {r["_key"]: r for r in page.tables["quarantine"]}
    assert q["340100"]["rows_quarantined"][0] == "2"
    assert q["unattributed"]["rows_quarantined"][0] == "1"  # the multi-city file: not attributed
    # Data Docs linked relatively and there
    href = page.links["data_docs"]
    assert not href.startswith(("/", "file:"))
    assert (pages[lang].parent / href).resolve() == (
        built_home.gate_dir / "data_docs" / "index.html"
    ).resolve()
    assert "dbt_docs" not in page.links  # not generated in this home


@pytest.mark.parametrize("lang", LANGS)
def test_city_page(built_home: Paths, pages: dict[str, Path], lang: str) -> None:
    page_path = lang_dir(built_home, lang) / "city" / "340100.html"
    page = read_page(page_path)
    (m,) = _marts(
        built_home,
        "select * from mart_city_scorecard where city_code = '340100' and period_type = 'all'",
    )
    for col in (
        "opportunities_published",
        "projects_reached_application",
        "conversion_validation_to_application",
        "cooperation_amount_yi",
        "median_days_validation_to_application",
        "projects_failed",
    ):
        assert _same(page.figures[col][0], m[col]), col
    assert page.figures["city_rows_quarantined"][0] == "2"
    funnel = _marts(
        built_home,
        "select * from mart_stage_funnel where breakdown = 'city' and breakdown_value = '340100' "
        "order by stage_order",
    )
    assert page.charts["city_funnel"]["data"][0]["x"] == [r["projects_reached"] for r in funnel]
    assert [r["_key"] for r in page.tables["stalled"]] == ["340100:P3"]
    assert [r["_key"] for r in page.tables["terminated"]] == ["340100:P2"]
    assert [r["_key"] for r in page.tables["quarters"]] == ["2025-Q1"]
    sd = {r["_key"]: r for r in page.tables["supply_demand"]}
    assert sd["ai"]["capabilities_published"][0] == "3"
    assert sd["drone"]["share_opportunities_matched"][1] == "0.0%"
    heading = {"zh": "合肥 (340100)", "en": "Hefei (340100)"}[lang]
    assert heading in page.text
    # language switch points at the same city in the other language
    other = "../en/city/340100.html" if lang == "zh" else "../../city/340100.html"
    assert f'href="{other}"' in page_path.read_text(encoding="utf-8")


def test_languages_differ(pages: dict[str, Path]) -> None:
    zh, en = (read_page(pages[lang]).text for lang in LANGS)
    assert "全国总览" in zh and "城市排行" in zh and "容错" in zh
    assert "National overview" in en and "City leaderboard" in en
    assert "全国总览" not in en


def test_no_previous_version(published_home: Paths) -> None:
    (published_home.published_dir / "versions" / "v0001.duckdb").unlink()
    page = read_page(build_report(published_home, "en"))
    assert page.deltas == {}
    assert "No previous published version" in page.text


def test_quality_unavailable_while_a_writer_holds_the_work_db(published_home: Paths) -> None:
    """Another process writing the work DB: the panel says "unavailable", the report builds."""
    holder = start_writer(published_home.work_db)
    try:
        page = read_page(build_report(published_home, "zh"))
    finally:
        holder.communicate("done\n", timeout=30)
    assert page.figures["gate_status"][0] == "unavailable"
    assert "quarantine" not in page.tables
    assert page.figures["cities_active"][0] == "2"  # the marts still read fine


def test_nothing_published(home: Paths) -> None:
    with pytest.raises(RuntimeError, match="nothing is published"):
        build_report(home)


def test_cli_report(published_home: Paths) -> None:
    from scenetrack.cli import main

    assert main(["report", "--home", str(published_home.home), "--lang", "en"]) == 0
    assert (published_home.published_dir / "report" / "en" / "index.html").exists()


def test_build_evaluator_outputs_without_dbt(published_home: Paths) -> None:
    from scenetrack.report import build_evaluator_outputs

    out = build_evaluator_outputs(published_home, dbt_docs=False)
    assert set(out.reports) == {"zh", "en"}
    assert all(p.exists() for p in out.reports.values())


def test_page_reads_only_published(published_home: Paths) -> None:
    """A page is unchanged by edits to the work DB's marts: only the published file counts."""
    before = read_page(build_report(published_home, "zh")).figures["projects_total"]
    con = duckdb.connect(str(published_home.work_db))
    con.execute("create schema if not exists marts")
    con.execute("create table marts.fct_project_lifecycle as select 1 as project_key")
    con.close()
    assert read_page(build_report(published_home, "zh")).figures["projects_total"] == before
