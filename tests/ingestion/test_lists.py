"""Lists as cities publish them: title rows, no city column, batches, contacts, estimates.

Each test builds its list by hand and states the exact outcome: rows read, loaded and
quarantined, every quarantine entry, the ids derived (recomputed here from the documented rule,
not read back from the program) and what the receipt says.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from ingestion.context import Context
from scenetrack.pipeline import ingest_paths
from tests.ingestion.corpus import write_text, write_xlsx

WUXI, HEFEI, CHENGDU = "320200", "340100", "510100"
PHONES = ("13800138000", "13900139000", "0510-8888", "li@example.cn")


def name_key(name: str) -> str:
    """The documented name key, re-implemented: NFKC (half-width letters and digits),
    lower-case, without spaces, punctuation or symbols."""
    s = unicodedata.normalize("NFKC", name).lower()
    return "".join(c for c in s if not (c.isspace() or unicodedata.category(c)[0] in "PS"))


def derived(prefix: str, city: str, *names: str) -> str:
    key = "|".join([city, *(name_key(n) for n in names)])
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:12].upper()


def _q(home, sql: str, params=None) -> list[tuple]:
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _entries(home, name: str) -> list[tuple]:
    return _q(
        home,
        "select source_line, column_name, raw_value, reason from raw.quarantine "
        "where source_file_name = ? order by source_line, column_name, reason",
        [name],
    )


def _nowhere(home, *values: str) -> None:
    """None of ``values`` is stored in any text column of the work database."""
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        cols = con.execute(
            "select schema_name, table_name, column_name from duckdb_columns() "
            "where data_type = 'VARCHAR' and schema_name in ('raw', 'audit')"
        ).fetchall()
        for schema, table, column in cols:
            for v in values:
                n = con.execute(
                    f'select count(*) from {schema}."{table}" where "{column}" like ?',
                    [f"%{v}%"],
                ).fetchone()[0]
                assert n == 0, f"{v} stored in {schema}.{table}.{column}"
    finally:
        con.close()


WUXI_LIST = (
    "无锡市2025年第二批场景机会清单（发布日期：2025年6月18日）,,,,,,,,\n"
    "序号,场景名称,需求单位,所属领域,技术方向,场景简介,预计投资（万元）,联系人,联系电话\n"
    "1,智慧路灯,市城管局,城市治理,物联网+AI,路灯改造,约300,张三,13800138000\n"  # line 3
    "2,无人机巡检,市水利局,海洋开发,无人机,河道巡检,面议,李四,13900139000\n"  # 4
    "3,医疗影像辅助诊断,市一院,医疗健康,人工智能、机器人,影像,1.5亿元,王五,0510-8888\n"  # 5
    "4,,市教育局,教育,AI/大数据,没有名称,200,赵六,li@example.cn\n"  # 6: no name, no number
    "5,园区 安防（一期）,高新区,城市,,巡逻,三百万,钱七,\n"  # 7: unreadable amount
)


def test_an_opportunity_list_as_a_city_publishes_it(home, tmp_path) -> None:
    f = write_text(tmp_path / "无锡第二批.csv", WUXI_LIST)
    r = ingest_paths(home, [f])[0]
    assert (r.status, r.layout, r.header_line) == ("loaded", "opportunities", 2)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 3, 2)
    assert r.quarantine_by_reason == {"bad_amount": 1, "missing_required": 1}
    assert _entries(home, f.name) == [
        (6, "project_name", None, "missing_required"),  # neither a name nor a number
        (7, "planned_investment", "三百万", "bad_amount"),
    ]
    ids = [derived("SN-", WUXI, n) for n in ("智慧路灯", "无人机巡检", "医疗影像辅助诊断")]
    assert _q(
        home,
        "select source_line, city_code, city_raw, project_id, project_name, stage_code, "
        "event_type, event_date::varchar, event_date_precision, domain_raw, technology_raw, "
        "demand_owner, description, batch, batch_raw, planned_investment_yuan, "
        "planned_investment_raw, planned_investment_approximate, amount_yuan, "
        "project_id_derived from raw.events order by source_line",
    ) == [
        (3, WUXI, None, ids[0], "智慧路灯", "opportunity", "enter", "2025-06-18", "day",
         "城市治理", "物联网+AI", "市城管局", "路灯改造", "2025年第2批", "2025年第二批",
         Decimal("3000000.00"), "约300", True, None, True),
        (4, WUXI, None, ids[1], "无人机巡检", "opportunity", "enter", "2025-06-18", "day",
         "海洋开发", "无人机", "市水利局", "河道巡检", "2025年第2批", "2025年第二批",
         None, "面议", False, None, True),
        (5, WUXI, None, ids[2], "医疗影像辅助诊断", "opportunity", "enter", "2025-06-18",
         "day", "医疗健康", "人工智能、机器人", "市一院", "影像", "2025年第2批",
         "2025年第二批", Decimal("150000000.00"), "1.5亿元", False, None, True),
    ]  # fmt: skip
    # a list reports its rows when it is published (no 填报日期 column)
    assert _q(home, "select distinct reported_at::varchar from raw.events") == [("2025-06-18",)]
    # what the receipt says beyond the counts
    assert r.dropped_columns == ["联系人", "联系电话"]
    assert r.ignored_columns == ["序号"]
    assert r.inferred == {
        "city (title)": WUXI,
        "published date (title)": "2025-06-18",
        "batch (title)": "2025年第二批",
    }
    assert r.derived_ids == [
        {"line": 3, "name": "智慧路灯", "project_id": ids[0]},
        {"line": 4, "name": "无人机巡检", "project_id": ids[1]},
        {"line": 5, "name": "医疗影像辅助诊断", "project_id": ids[2]},
    ]
    # loaded rows' wordings no alias knows (海洋开发; 物联网 of 物联网+AI); 城市治理, 医疗健康,
    # 人工智能、机器人 are known; the quarantined rows' wordings are not counted
    assert r.unmapped_values == [
        {"column": "domain", "value": "海洋开发", "rows": 1},
        {"column": "technology", "value": "物联网", "rows": 1},
    ]
    doc = json.loads(Path(r.receipt_json).read_text(encoding="utf-8"))
    assert doc["receipt"]["derived_ids"] == r.derived_ids
    assert [q["reason"] for q in doc["quarantined"]] == ["missing_required", "bad_amount"]
    # contacts are personal data: never stored, not even in a quarantined row's entry
    _nowhere(home, *PHONES, "张三", "李四")


def test_the_same_list_again_keeps_its_ids_and_reworded_spacing_does_too(home, tmp_path) -> None:
    first = write_text(tmp_path / "a.csv", WUXI_LIST)
    again = write_text(  # the clerk retyped it: other spacing, full-width letters, reordered
        tmp_path / "b.csv",
        "无锡市2025年第二批场景机会清单（发布日期：2025年6月18日）\n"
        "场景名称,需求单位,所属领域\n"
        "园区安防 (一期),高新区,城市\n"
        " 智慧 路灯 ,市城管局,城市治理\n",
    )
    ingest_paths(home, [first, again])
    ids = _q(
        home,
        "select source_file_name, project_id from raw.events order by source_file_name, "
        "source_line",
    )
    assert ids == [
        ("a.csv", derived("SN-", WUXI, "智慧路灯")),
        ("a.csv", derived("SN-", WUXI, "无人机巡检")),
        ("a.csv", derived("SN-", WUXI, "医疗影像辅助诊断")),
        ("b.csv", derived("SN-", WUXI, "园区 安防（一期）")),  # a.csv's line 7, reworded
        ("b.csv", derived("SN-", WUXI, "智慧路灯")),  # the same scene: the same id
    ]
    assert ids[4][1] == ids[0][1]
    again_receipt = ingest_paths(home, [first])[0]
    assert again_receipt.status == "duplicate"


def test_every_failing_column_of_a_row_is_listed(home, tmp_path) -> None:
    text = (
        "城市,项目编号,阶段,事件,日期,合作金额\n"
        "Atlantis,X1,验证,进入,2025-13-01,很多\n"  # three problems
        "合肥,X2,dreaming,进入,2025-01-02,\n"  # one
        "合肥,X3,验证,进入,2025-01-03,100万\n"  # none
    )
    r = ingest_paths(home, [write_text(tmp_path / "e.csv", text)])[0]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (3, 1, 2)
    assert r.quarantine_by_reason == {
        "bad_amount": 1,
        "bad_date": 1,
        "unknown_city": 1,
        "unknown_stage": 1,
    }
    assert _entries(home, "e.csv") == [
        (2, "amount", "很多", "bad_amount"),
        (2, "city", "Atlantis", "unknown_city"),
        (2, "event_date", "2025-13-01", "bad_date"),
        (3, "stage", "dreaming", "unknown_stage"),
    ]


def test_city_sources_that_disagree_quarantine_the_row_never_guess(home, tmp_path) -> None:
    text = (
        "无锡市2025年第一批场景机会清单,,\n"
        "城市,场景名称,发布日期\n"
        "无锡,W一,2025-03-01\n"
        "合肥市,W二,2025-03-01\n"  # another city than the title's
        ",W三,2025-03-01\n"  # no city: the title's
    )
    f = write_text(tmp_path / "m.csv", text)
    r = ingest_paths(home, [f])[0]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (3, 2, 1)
    assert _entries(home, f.name) == [
        (4, "city", "城市列 column: 合肥市 / 标题 title: 无锡市 (320200)", "city_mismatch")
    ]
    assert _q(home, "select city_code from raw.quarantine") == [(HEFEI,)]
    assert _q(home, "select distinct city_code from raw.events") == [(WUXI,)]


def test_the_operators_city_and_date_fill_what_the_title_lacks(home, tmp_path) -> None:
    text = "场景名称,所属领域\n冷链仓储,商贸\n港口理货,交通\n"
    f = write_text(tmp_path / "plain.csv", text)
    [r] = ingest_paths(home, [f], context=Context(city="合肥", published_on="2025-05"))
    assert (r.rows_loaded, r.rows_quarantined) == (2, 0)
    assert r.inferred == {"city (--city)": HEFEI, "published date (--published-on)": "2025-05-01"}
    assert _q(
        home, "select distinct city_code, event_date::varchar, event_date_precision from raw.events"
    ) == [(HEFEI, "2025-05-01", "month")]
    assert _q(home, "select city_option, published_on_option from raw.file_ledger") == [
        ("合肥", "2025-05")
    ]
    # without a city from anywhere, every row says what is missing
    g = write_text(tmp_path / "nowhere.csv", text + "码头调度,交通\n")
    [r] = ingest_paths(home, [g])
    assert (r.rows_loaded, r.rows_quarantined) == (0, 3)
    assert r.quarantine_by_reason == {"missing_required": 3}
    assert {e[1] for e in _entries(home, g.name)} == {"city", "published_date"}


def test_an_operators_city_that_contradicts_the_title_quarantines_every_row(home, tmp_path) -> None:
    f = write_text(tmp_path / "t.csv", "合肥市场景机会清单（2025年5月）\n场景名称\n甲\n乙\n")
    [r] = ingest_paths(home, [f], context=Context(city="无锡"))
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (2, 0, 2)
    assert r.quarantine_by_reason == {"city_mismatch": 2}


def test_a_capability_list_infers_its_city_date_and_ids(home, tmp_path) -> None:
    f = write_xlsx(
        tmp_path / "caps.xlsx",
        {
            "能力清单": [
                ["合肥市场景能力清单（第三批）"],
                ["发布时间：2025年9月1日"],
                ["序号", "企业名称", "能力名称", "技术领域", "应用领域", "能力简介", "手机"],
                [1, "科大某飞", "语音大模型", "人工智能", "产业", "方言识别", "13800138000"],
                [2, "某某机器人", "巡检机器人", "具身智能+5G", "城市", "变电站巡检", None],
                [3, "某某量子", "量子加密通信", "量子计算", "数字经济", None, "13900139000"],
                [4, "某某科技", None, "人工智能", "产业", "没有能力名称", None],
            ]
        },
    )
    r = ingest_paths(home, [f])[0]
    assert (r.layout, r.rows_read, r.rows_loaded, r.rows_quarantined) == (
        "capabilities",
        4,
        3,
        1,
    )
    assert _entries(home, f.name) == [(7, "title", None, "missing_required")]
    assert r.dropped_columns == ["手机"]
    rows = _q(
        home,
        "select source_line, city_code, capability_id, supplier, title, technology_raw, "
        "domain_raw, description, batch, published_on::varchar, published_on_precision, "
        "capability_id_derived from raw.capabilities order by source_line",
    )
    assert rows == [
        (4, HEFEI, derived("CN-", HEFEI, "科大某飞", "语音大模型"), "科大某飞", "语音大模型",
         "人工智能", "产业", "方言识别", "2025年第3批", "2025-09-01", "day", True),
        (5, HEFEI, derived("CN-", HEFEI, "某某机器人", "巡检机器人"), "某某机器人",
         "巡检机器人", "具身智能+5G", "城市", "变电站巡检", "2025年第3批", "2025-09-01", "day",
         True),
        (6, HEFEI, derived("CN-", HEFEI, "某某量子", "量子加密通信"), "某某量子",
         "量子加密通信", "量子计算", "数字经济", None, "2025年第3批", "2025-09-01", "day",
         True),
    ]  # fmt: skip
    assert r.unmapped_values == [{"column": "domain", "value": "数字经济", "rows": 1}]
    _nowhere(home, *PHONES)


def test_a_list_never_seen_loads_every_row_on_first_try(home, tmp_path) -> None:
    """Written by hand for this test, unlike the issue's example: another city, an XLSX with
    two title rows (the date only in the second), the batch as 2025年度第三批, a unit in 亿元,
    full-width digits, estimates and words that give no figure, wordings no alias knows,
    several technologies per cell, a scene number on some rows only, contact columns."""
    rows = [
        ["成都市2025年度第三批城市机会清单"],
        ["（2025年9月）"],
        ["序号", "机会编号", "机会名称", "发布单位", "场景类别", "关键技术", "需求描述",
         "拟投资金额（亿元）", "联系人及电话", "电子邮箱"],
        [1, "CD-2025-301", "天府绿道无人配送", "市公园城市局", "文旅", "无人机＋人工智能",
         "绿道沿线配送", "约0.5", "周先生 028-1234", "a@cd.cn"],
        [2, None, "川西林盘数字化", "郫都区农业农村局", "乡村振兴", "物联网/大数据/区块链",
         "林盘监测", "０.２", "吴女士", None],
        [3, None, "大运场馆智慧运维", "市体育局", "公共服务", "数字孪生、AI",
         "场馆运维", "待定", None, "b@cd.cn"],
        [4, "CD-2025-304", "轨道交通巡检机器人", "成都轨道集团", "交通", "具身智能",
         "隧道巡检", "1.2亿元左右", "郑工", None],
    ]  # fmt: skip
    f = write_xlsx(tmp_path / "成都第三批.xlsx", {"Sheet1": rows}, {"Sheet1": ["A1:J1"]})
    r = ingest_paths(home, [f])[0]
    assert (r.status, r.layout, r.rows_read, r.rows_loaded, r.rows_quarantined) == (
        "loaded",
        "opportunities",
        4,
        4,
        0,
    )
    assert r.dropped_columns == ["联系人及电话", "电子邮箱"]
    assert _q(
        home,
        "select project_id, city_code, event_date::varchar, event_date_precision, batch, "
        "planned_investment_yuan, planned_investment_approximate from raw.events "
        "order by source_line",
    ) == [
        ("CD-2025-301", CHENGDU, "2025-09-01", "month", "2025年第3批",
         Decimal("50000000.00"), True),
        (derived("SN-", CHENGDU, "川西林盘数字化"), CHENGDU, "2025-09-01", "month",
         "2025年第3批", Decimal("20000000.00"), False),
        (derived("SN-", CHENGDU, "大运场馆智慧运维"), CHENGDU, "2025-09-01", "month",
         "2025年第3批", None, False),
        ("CD-2025-304", CHENGDU, "2025-09-01", "month", "2025年第3批",
         Decimal("120000000.00"), True),
    ]  # fmt: skip
    assert r.unmapped_values == [
        {"column": "domain", "value": "乡村振兴", "rows": 1},
        {"column": "technology", "value": "区块链", "rows": 1},
        {"column": "technology", "value": "大数据", "rows": 1},
        {"column": "technology", "value": "数字孪生", "rows": 1},
        {"column": "technology", "value": "物联网", "rows": 1},
    ]
    _nowhere(home, "028-1234", "a@cd.cn", "b@cd.cn", "周先生")


@pytest.mark.parametrize(
    ("title", "city", "date", "batch"),
    [
        ("无锡市2025年第二批场景机会清单（发布日期：2025年6月18日）", WUXI, "2025-06-18", "第二批"),
        ("江苏省无锡市场景清单（2025年6月）", WUXI, "2025-06-01", None),
        (
            "吉林省长春市2025年第2批清单 印发日期 2025/7/1 截止 2025-08-01",
            "220100",
            "2025-07-01",
            "2025年第2批",
        ),
        ("马鞍山市首批场景机会清单", "340500", None, "首批"),
        ("合肥—无锡合作场景清单 2025年5月", None, "2025-05-01", None),
    ],
)
def test_title_rows_say_city_date_and_batch_only_when_unambiguous(title, city, date, batch) -> None:
    from ingestion.context import read_titles

    facts = read_titles([title])
    assert facts.city_code == city
    assert (facts.date.iso if facts.date else None) == date
    assert (batch is None and facts.batch is None) or facts.batch.endswith(batch)
