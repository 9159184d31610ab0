"""The report shows the batches of the cities' opportunity lists and, in its data-quality
panel, the wordings that loaded as unclassified, per city (issue 18). Figures are the rows
written below, as the pages must show them."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.report import build_evaluator_outputs
from tests.report.pages import read_page

LANGS = ("zh", "en")


@pytest.fixture(scope="module")
def pages(_published_template: Path, tmp_path_factory) -> dict[str, Path]:
    home = tmp_path_factory.mktemp("lists-report") / "home"
    shutil.copytree(_published_template, home)
    p = Paths(home)
    con = duckdb.connect(str(p.published_db))
    try:
        con.execute(
            "create table mart_opportunity_batches (city_code varchar, city_name_zh varchar, "
            "city_name_en varchar, opportunity_batch varchar, first_published_on date, "
            "opportunities_published bigint, projects_reached_validation bigint, "
            "projects_reached_application bigint, projects_reached_scale_up bigint, "
            "projects_failed bigint, projects_withdrawn bigint, "
            "conversion_opportunity_to_validation double, planned_investment_yuan decimal(20,2), "
            "opportunities_with_planned_investment bigint, "
            "opportunities_with_approximate_investment bigint, "
            "cooperation_amount_yuan decimal(20,2))"
        )
        con.executemany(
            "insert into mart_opportunity_batches values "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    "320200",
                    "无锡",
                    "Wuxi",
                    "2025年第2批",
                    date(2025, 6, 18),
                    3,
                    2,
                    1,
                    0,
                    1,
                    0,
                    2 / 3,
                    Decimal("153000000.00"),
                    2,
                    1,
                    Decimal("5000000.00"),
                ],
                [
                    "320200",
                    "无锡",
                    "Wuxi",
                    "2025年第1批",
                    date(2025, 3, 3),
                    1,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0.0,
                    None,
                    0,
                    0,
                    Decimal("0.00"),
                ],
            ],  # fmt: skip
        )
    finally:
        con.close()
    con = duckdb.connect(str(p.work_db))
    try:
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_values_left_unclassified as select * from (values "
            "('events', '320200', 'technology', '物联网', 5), "
            "('capabilities', '320200', 'technology', '物联网', 2), "
            "('events', '340100', 'domain', '海洋开发', 1)) "
            "as t(reported_in, city_code, column_name, value_text, row_count)"
        )
    finally:
        con.close()
    return build_evaluator_outputs(p, dbt_docs=False).reports


@pytest.mark.parametrize("lang", LANGS)
def test_batches_table(pages, lang: str) -> None:
    page = read_page(pages[lang])
    rows = {r["_key"]: r for r in page.tables["opportunity_batches"]}
    assert list(rows) == ["320200:2025年第1批", "320200:2025年第2批"]  # first published first
    second = rows["320200:2025年第2批"]
    assert second["opportunities_published"][0] == "3"
    assert second["projects_reached_validation"][0] == "2"
    assert second["planned_investment_yi"][0] == "1.53"
    assert second["cooperation_amount_yi"][0] == "0.05"
    assert rows["320200:2025年第1批"]["planned_investment_yi"][0] == ""  # none stated


@pytest.mark.parametrize("lang", LANGS)
def test_unclassified_wordings_per_city_in_the_quality_panel(pages, lang: str) -> None:
    page = read_page(pages[lang])
    rows = [(r["_key"], r["row_count"][0]) for r in page.tables["unmapped_values"]]
    # summed over events and capabilities, most rows first
    assert rows == [("320200:technology:物联网", "7"), ("340100:domain:海洋开发", "1")]
