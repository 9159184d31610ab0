"""City pages cap their stalled and terminated lists, say "N of M" and where the rest is.

The fixture adds to Wuxi (320200) of the hand-made warehouse, whose city page then holds more
rows than the cap (``CITY_WATCHLIST_ROWS`` = 100; the figures below are worked by hand for it):

stalled (threshold, days in stage -> days overdue)
    ``320200:TOP``    validation  180, 500 -> 320   the most overdue
    ``320200:TIE-B``  validation  180, 390 -> 210   tie on overdue: more days in stage first
    ``320200:TIE-A``  opportunity  90, 300 -> 210
    ``320200:S001`` … ``S100``  opportunity 90, 100+i -> 10+i (11 … 110)
    103 rows: shown TOP, TIE-B, TIE-A, S100, S099, …, S004; not shown S001, S002, S003.
terminated (ended on)
    ``320200:P2`` (withdrawn, already there) 2025-05-01, the latest
    ``320200:E001`` … ``E101``  failed, 2024-01-01 + i days (E101: 2024-04-11)
    102 rows: shown P2, E101, E100, …, E003; not shown E001, E002.
Nationally (cap 50) there are 1 + 103 = 104 stalled projects; Hefei's page (1 stalled, 1
ended) is not capped.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.report.build import CITY_WATCHLIST_ROWS, WATCHLIST_ROWS, lang_dir
from tests.report.pages import read_page

LANGS = ("zh", "en")

STALLED_FILLER = 100  # S001 … S100
ENDED_FILLER = 101  # E001 … E101

FULL_STALLED = {
    "zh": "完整清单：已发布数据表 mart_stalled_projects where city_code = '320200'"
    "（BI 工具可直接查询）、其 Parquet 副本 published/parquet/mart_stalled_projects.parquet，"
    "或用 scenetrack export --format csv --mart mart_stalled_projects 导出。",
    "en": "The full list: the published table mart_stalled_projects where city_code = '320200' "
    "(what BI tools read), its Parquet copy published/parquet/mart_stalled_projects.parquet, "
    "or scenetrack export --format csv --mart mart_stalled_projects.",
}
FULL_TERMINATED = {
    "zh": "完整清单：已发布数据表 fct_project_lifecycle where status <> 'active' and "
    "city_code = '320200'（BI 工具可直接查询）、其 Parquet 副本 "
    "published/parquet/fct_project_lifecycle.parquet，"
    "或用 scenetrack export --format csv --mart fct_project_lifecycle 导出。",
    "en": "The full list: the published table fct_project_lifecycle where status <> 'active' "
    "and city_code = '320200' (what BI tools read), its Parquet copy "
    "published/parquet/fct_project_lifecycle.parquet, or scenetrack export --format csv "
    "--mart fct_project_lifecycle.",
}


def _add_rows(p: Paths) -> None:
    stalled = [
        ("320200:TOP", "validation", 180, 500),
        ("320200:TIE-A", "opportunity", 90, 300),
        ("320200:TIE-B", "validation", 180, 390),
    ] + [(f"320200:S{i:03d}", "opportunity", 90, 100 + i) for i in range(1, STALLED_FILLER + 1)]
    ended = [
        (f"320200:E{i:03d}", date(2024, 1, 1) + timedelta(days=i))
        for i in range(1, ENDED_FILLER + 1)
    ]
    con = duckdb.connect(str(p.published_db))
    try:
        con.executemany(
            "insert into mart_stalled_projects (project_key, city_code, city_name_zh, "
            "city_name_en, project_name, domain_code, current_stage, current_stage_entered_on, "
            "days_in_current_stage, stalled_after_days, reference_date) "
            "values (?, '320200', '无锡', 'Wuxi', ?, 'city', ?, "
            "date '2025-12-01' - cast(? as integer), ?, ?, date '2025-12-01')",
            [[k, f"项目 {k}", stage, days, days, limit] for k, stage, limit, days in stalled],
        )
        con.executemany(
            "insert into fct_project_lifecycle (project_key, city_code, project_id, "
            "project_name, domain_code, current_stage, status, terminated_on) "
            "values (?, '320200', ?, ?, 'city', 'validation', 'terminated_failed', ?)",
            [[k, k.split(":")[1], f"项目 {k}", on] for k, on in ended],
        )
        con.execute("checkpoint")
    finally:
        con.close()


@pytest.fixture(scope="module")
def capped(_published_template, tmp_path_factory) -> Paths:
    """The hand-made home plus Wuxi's extra rows, the report built in both languages."""
    from scenetrack.report import build_evaluator_outputs

    home = tmp_path_factory.mktemp("report-capped") / "home"
    shutil.copytree(_published_template, home)
    p = Paths(home)
    _add_rows(p)
    build_evaluator_outputs(p, dbt_docs=False)
    return p


def test_the_figures_here_are_worked_for_a_cap_of_100() -> None:
    assert CITY_WATCHLIST_ROWS == 100
    assert WATCHLIST_ROWS == 50


@pytest.mark.parametrize("lang", LANGS)
def test_city_stalled_list_is_capped_most_overdue_first(capped: Paths, lang: str) -> None:
    page = read_page(lang_dir(capped, lang) / "city" / "320200.html")
    rows = page.tables["stalled"]
    keys = [r["_key"] for r in rows]
    assert len(keys) == 100
    assert keys[:5] == ["320200:TOP", "320200:TIE-B", "320200:TIE-A", "320200:S100", "320200:S099"]
    assert keys[-1] == "320200:S004"
    assert not {"320200:S001", "320200:S002", "320200:S003"} & set(keys)
    assert [r["days_overdue"][0] for r in rows[:4]] == ["320", "210", "210", "110"]
    assert rows[-1]["days_overdue"][0] == "14"
    note = {
        "zh": "显示逾期最久的 100 个，共 103 个。",
        "en": "Showing the 100 most overdue of 103.",
    }[lang]
    assert page.notes["stalled"] == note
    assert page.full_lists["stalled"] == FULL_STALLED[lang]


@pytest.mark.parametrize("lang", LANGS)
def test_city_terminated_list_is_capped_latest_first(capped: Paths, lang: str) -> None:
    page = read_page(lang_dir(capped, lang) / "city" / "320200.html")
    rows = page.tables["terminated"]
    keys = [r["_key"] for r in rows]
    assert len(keys) == 100
    assert keys[:3] == ["320200:P2", "320200:E101", "320200:E100"]
    assert keys[-1] == "320200:E003"
    assert not {"320200:E001", "320200:E002"} & set(keys)
    assert [r["terminated_on"][0] for r in rows[:3]] == ["2025-05-01", "2024-04-11", "2024-04-10"]
    note = {
        "zh": "显示最近的 100 个，共 102 个。",
        "en": "Showing the latest 100 of 102.",
    }[lang]
    assert page.notes["terminated"] == note
    assert page.full_lists["terminated"] == FULL_TERMINATED[lang]


@pytest.mark.parametrize("lang", LANGS)
def test_a_city_under_the_cap_lists_all_and_says_nothing(capped: Paths, lang: str) -> None:
    page = read_page(lang_dir(capped, lang) / "city" / "340100.html")
    assert [r["_key"] for r in page.tables["stalled"]] == ["340100:P3"]
    assert [r["_key"] for r in page.tables["terminated"]] == ["340100:P2"]
    assert "stalled" not in page.notes and "terminated" not in page.notes
    assert page.full_lists == {}


@pytest.mark.parametrize("lang", LANGS)
def test_national_list_keeps_its_own_cap_and_names_the_full_table(capped: Paths, lang: str) -> None:
    page = read_page(lang_dir(capped, lang) / "index.html")
    keys = [r["_key"] for r in page.tables["stalled"]]
    assert len(keys) == 50 and keys[0] == "320200:TOP"
    assert (
        page.notes["stalled"]
        == {
            "zh": "显示逾期最久的 50 个，共 104 个。",
            "en": "Showing the 50 most overdue of 104.",
        }[lang]
    )
    assert (
        page.full_lists["stalled"]
        == {
            "zh": "完整清单：已发布数据表 mart_stalled_projects（BI 工具可直接查询）、"
            "其 Parquet 副本 published/parquet/mart_stalled_projects.parquet，"
            "或用 scenetrack export --format csv --mart mart_stalled_projects 导出。",
            "en": "The full list: the published table mart_stalled_projects (what BI tools read), "
            "its Parquet copy published/parquet/mart_stalled_projects.parquet, "
            "or scenetrack export --format csv --mart mart_stalled_projects.",
        }[lang]
    )
