"""A city's published lists through the marts: batches, planned investment, several
technologies per project, wordings left unclassified, and contacts nowhere downstream.

The expected figures are worked out by hand from the lists below.
"""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.export import export
from tests.conftest import fetch
from tests.ingestion.corpus import write_text
from tests.ingestion.test_lists import WUXI, WUXI_LIST, derived

IDS = [derived("SN-", WUXI, n) for n in ("智慧路灯", "无人机巡检", "医疗影像辅助诊断")]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Paths:
    """The 无锡 list (3 rows load), then a ledger that quotes two of its derived ids, a
    capability list, one `run` (build, gate, publish)."""
    tmp: Path = tmp_path_factory.mktemp("lists")
    mp = pytest.MonkeyPatch()
    mp.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    p = Paths(tmp / "home").ensure()
    listed = write_text(tmp / "无锡第二批.csv", WUXI_LIST)
    ledger = write_text(  # the city reports progress quoting the ids its receipt gave
        tmp / "无锡台账.csv",
        "城市,项目编号,验证日期,应用日期,终止日期,终止原因,合作金额\n"
        f"无锡,{IDS[0]},2025-07-20,2025-09-01,,,500万元\n"
        f"无锡,{IDS[1]},2025-08-01,,2025-10-01,验证未通过,\n",
    )
    caps = write_text(
        tmp / "无锡能力清单.csv",
        "无锡市场景能力清单（2025年6月）\n企业名称,能力名称,技术领域,邮箱\n"
        "某某物联,城市物联感知,物联网+5G,x@y.cn\n",
    )
    receipts = pipeline.ingest_paths(p, [listed, ledger, caps])
    assert [r.rows_loaded for r in receipts] == [3, 2, 1]
    pipeline.run(p)
    yield p
    mp.undo()


def test_the_lifecycle_keeps_the_lists_words_batch_and_investment(home: Paths) -> None:
    """The ledger's later reports name no domain or technology: the list's words stay."""
    rows = fetch(
        home.published_db,
        "select project_id, domain_text, domain_code, technology_text, technology_code, "
        "opportunity_batch, planned_investment_yuan, planned_investment_is_approximate, "
        "cooperation_amount_yuan, current_stage, status from fct_project_lifecycle "
        "order by project_id",
    )
    expected = {
        IDS[0]: ("城市治理", "city", "物联网+AI", "unclassified", "2025年第2批",
                 Decimal("3000000.00"), True, Decimal("5000000.00"), "application", "active"),
        IDS[1]: ("海洋开发", "unclassified", "无人机", "low_altitude", "2025年第2批", None,
                 False, None, "validation", "terminated_failed"),
        IDS[2]: ("医疗健康", "society", "人工智能、机器人", "ai", "2025年第2批",
                 Decimal("150000000.00"), False, None, "opportunity", "active"),
    }  # fmt: skip
    assert rows == sorted((k, *v) for k, v in expected.items())


def test_each_technology_a_project_names_is_a_bridge_row(home: Paths) -> None:
    assert fetch(
        home.published_db,
        "select project_key, technology_position, technology_text, technology_code, "
        "is_primary from bridge_project_technologies order by 1, 2",
    ) == sorted(
        [
            (f"{WUXI}:{IDS[0]}", 1, "物联网", "unclassified", True),
            (f"{WUXI}:{IDS[0]}", 2, "AI", "ai", False),
            (f"{WUXI}:{IDS[1]}", 1, "无人机", "low_altitude", True),
            (f"{WUXI}:{IDS[2]}", 1, "人工智能", "ai", True),
            (f"{WUXI}:{IDS[2]}", 2, "机器人", "robotics", False),
        ]
    )


def test_how_the_batch_did(home: Paths) -> None:
    assert fetch(home.published_db,
        "select city_code, city_name_zh, opportunity_batch, first_published_on::varchar, "
        "opportunities_published, projects_reached_validation, projects_reached_application, "
        "projects_reached_scale_up, projects_failed, projects_withdrawn, "
        "round(conversion_opportunity_to_validation, 6), planned_investment_yuan, "
        "opportunities_with_planned_investment, opportunities_with_approximate_investment, "
        "cooperation_amount_yuan from mart_opportunity_batches",
    ) == [
        (WUXI, "无锡", "2025年第2批", "2025-06-18", 3, 2, 1, 0, 1, 0, round(2 / 3, 6),
         Decimal("153000000.00"), 2, 1, Decimal("5000000.00")),
    ]  # fmt: skip


def test_the_activity_view_slices_by_batch_and_carries_the_planned_investment(
    home: Paths,
) -> None:
    """2025, batch 第2批: 3 opportunities published (planned 300万 + 1.5亿, the third 面议),
    2 validations, 1 of them failed there, 1 application signing 500万 (a stage's amount is
    that of the projects entering it: the 500万 project entered all three)."""
    assert fetch(
        home.published_db,
        "select batch_code, stage_code, sum(projects_entered), sum(projects_failed), "
        "sum(cooperation_amount_yuan), sum(planned_investment_yuan) from mart_stage_activity "
        "where period_type = 'year' group by all order by min(stage_order)",
    ) == [
        ("2025年第2批", "opportunity", 3, 0, Decimal("5000000.00"), Decimal("153000000.00")),
        ("2025年第2批", "validation", 2, 1, Decimal("5000000.00"), Decimal("0.00")),
        ("2025年第2批", "application", 1, 0, Decimal("5000000.00"), Decimal("0.00")),
    ]


def test_wordings_no_alias_knows_are_listed_per_city(home: Paths) -> None:
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        rows = con.execute(
            "select reported_in, city_code, column_name, value_text, row_count "
            "from intermediate.int_values_left_unclassified order by 1, 3, 4"
        ).fetchall()
    finally:
        con.close()
    assert rows == [
        ("capabilities", WUXI, "technology", "物联网", 1),
        ("events", WUXI, "domain", "海洋开发", 1),
        ("events", WUXI, "technology", "物联网", 1),
    ]


def test_contacts_reach_neither_the_published_file_nor_an_export(home: Paths, tmp_path) -> None:
    con = duckdb.connect(str(home.published_db), read_only=True)
    try:
        tables = [r[0] for r in con.execute("show tables").fetchall()]
        for t in tables:
            text = str(con.execute(f'select * from "{t}"').fetchall())
            for personal in ("13800138000", "张三", "x@y.cn", "联系"):
                assert personal not in text, (t, personal)
    finally:
        con.close()
    out = export(home, "csv", None, tmp_path / "csv")
    for f in out.files:
        with Path(f).open(encoding="utf-8-sig") as fh:
            text = " ".join(" ".join(row) for row in csv.reader(fh))
        assert "13800138000" not in text and "张三" not in text and "x@y.cn" not in text


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_published_column_has_a_readable_header(home: Paths, lang: str) -> None:
    """`export --labels` names every column of every published table (lists' columns too)."""
    from scenetrack.report.labels import column_words, labels

    words = labels(lang) | column_words(lang)
    columns = fetch(
        home.published_db,
        "select distinct column_name from duckdb_columns() where not internal "
        "and schema_name = 'main' and table_name <> 'publish_info'",
    )
    missing = sorted(c for (c,) in columns if c not in words)
    assert missing == [], " ".join(missing)
