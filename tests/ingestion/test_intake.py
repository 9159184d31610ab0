"""Real-world intake: what city clerks send, read, normalised and accounted for to the row.

Each test builds its corpus file and states the exact accounting: rows read, loaded and
quarantined, and the reason of every quarantined row by line.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import openpyxl
import pytest

from ingestion.load import ingest_file
from ingestion.reading import Limits
from scenetrack.cli import main
from scenetrack.pipeline import ingest_paths
from scenetrack.warehouse import connect_work
from tests.conftest import EVENT_COLUMNS, event, write_csv
from tests.ingestion.corpus import (
    lying_zip,
    set_cached_values,
    write_text,
    write_xlsx,
    zip_bomb,
)


def _q(home, sql: str, params=None):
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _quarantine(home, file_name: str):
    return _q(
        home,
        "select source_line, column_name, raw_value, reason from raw.quarantine "
        "where source_file_name = ? order by source_line, column_name, reason",
        [file_name],
    )


def _accounted(r) -> None:
    assert r.status == "loaded", r.reason
    assert r.rows_read == r.rows_loaded + r.rows_quarantined


# --------------------------------------------------------------------------- encodings


ZH_HEADER = (
    "城市,项目编号,场景名称,所属领域,技术领域,需求方,承接企业,"
    "阶段,事件,日期,合作金额（万元）,填报日期"
)


def test_gbk_csv_with_chinese_headers(home, tmp_path) -> None:
    text = (
        ZH_HEADER + "\r\n"
        "合肥市,HF-1,智能工厂,产业,人工智能,市数据局,,场景机会,进入,2025年3月1日,,2025-03-05\r\n"
        "合肥,HF-2,物流配送,消费,低空经济,,华低空科技,试点,进入,2025/4/1,,\r\n"
        "Hefei,HF-3,医护协同,社会,机器人,,,落地,进入,2025.5.13,４０００,\r\n"
        "Suzhou,SZ-1,园区巡检,产业,人工智能,,,场景机会,进入,2025-01-01,,\r\n"
        "合肥,HF-4,政务服务,城市,智慧政务,,,验证,失败,2025-13-01,,\r\n"
        "合肥,HF-5,水务调度,城市,智慧水务,,,应用,进入,2025-06-01,很多,\r\n"
    )
    f = write_text(tmp_path / "合肥台账.csv", text, "gbk")
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.encoding, r.format, r.layout) == ("gb18030", "csv", "events")
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (6, 3, 3)
    assert _quarantine(home, f.name) == [
        (5, "city", "Suzhou", "unknown_city"),
        (6, "event_date", "2025-13-01", "bad_date"),
        (7, "amount", "很多", "bad_amount"),
    ]
    assert _q(
        home,
        "select source_line, city_code, stage_code, event_date::varchar, amount_yuan, "
        "reported_at::varchar, domain_raw, technology_raw from raw.events order by 1",
    ) == [  # domain and technology as written (codes are dbt staging's)
        (2, "340100", "opportunity", "2025-03-01", None, "2025-03-05", "产业", "人工智能"),
        (3, "340100", "validation", "2025-04-01", None, None, "消费", "低空经济"),
        (4, "340100", "application", "2025-05-13", Decimal("40000000.00"), None, "社会", "机器人"),
    ]


def test_gb18030_only_characters_are_read(home, tmp_path) -> None:
    name = "䶮智能工厂"  # U+4DAE is in GB18030 but not in GBK
    with pytest.raises(UnicodeEncodeError):
        name.encode("gbk")
    text = (
        "城市,项目编号,项目名称,阶段,事件类型,事件日期\n"
        f"宿州,SZ-1,{name},opportunity,enter,2025-02-01\n"
        "Suzhou-Anhui,SZ-2,x,opportunity,enter,2025-02-02\n"
    )
    f = write_text(tmp_path / "suzhou.csv", text, "gb18030")
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.encoding, r.rows_read, r.rows_loaded) == ("gb18030", 2, 2)
    assert _q(home, "select city_code, project_name from raw.events order by source_line") == [
        ("341300", name),
        ("341300", "x"),
    ]


def test_bom_semicolons_title_row_quoted_newlines_and_header_unit(home, tmp_path) -> None:
    text = (
        "\ufeff2025年无锡市场景项目事件表;;;;;;\n"  # line 1: title
        "城市;项目编号;场景名称;阶段;事件;日期;合作金额(亿元)\n"  # line 2: header
        '无锡;W1;"智能\n工厂";opportunity;enter;2025-01-10;\n'  # lines 3-4
        "无锡;W2;矿区运输;application;enter;2025-05-13;1.2\n"  # line 5
        '无锡;W3;"多行\n\n名称";opportunity;enter;2014-01-01;\n'  # lines 6-8
        "无锡;W4;x;scale_up;enter;2025-07-01;3000万元\n"  # line 9
    )
    f = write_text(tmp_path / "wuxi.csv", text)
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.encoding, r.header_line) == ("utf-8-sig", 2)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (4, 3, 1)
    assert _quarantine(home, f.name) == [(6, "event_date", "2014-01-01", "date_out_of_range")]
    assert _q(home, "select source_line, project_name, amount_yuan from raw.events order by 1") == [
        (3, "智能\n工厂", None),
        (5, "矿区运输", Decimal("120000000.00")),  # bare number in the header's 亿元
        (9, "x", Decimal("30000000.00")),  # an explicit unit wins over the header's
    ]


def test_tabs_blank_lines_short_and_long_rows_keep_exact_lines(home, tmp_path) -> None:
    text = (
        "city\tproject_id\tstage\tevent_type\tevent_date\tamount\n"  # 1
        "合肥\tT1\topportunity\tenter\t2025-01-01\t\n"  # 2
        "\n"  # 3 blank line: not a row
        "合肥\tT2\topportunity\tenter\t2025-01-02\t4000万元\tstray\n"  # 4 one field too many
        '合肥\t"T3\nx"\topportunity\tenter\t2025-01-03\t\n'  # 5-6
        "\t\t\t\t\t\n"  # 7 blank row: not a row
        "合肥\tT4\topportunity\tenter\t2025-01-04\n"  # 8 one field short: padded
        "\n\n"  # 9-10 trailing blank lines
    )
    f = write_text(tmp_path / "posted.tsv", text)
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (4, 3, 1)
    assert _quarantine(home, f.name) == [
        (4, None, "合肥\tT2\topportunity\tenter\t2025-01-02\t4000万元\tstray", "extra_fields")
    ]
    assert _q(home, "select source_line, project_id from raw.events order by 1") == [
        (2, "T1"),
        (5, "T3\nx"),
        (8, "T4"),
    ]


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("amount", "yuan"),
    [
        ("4000万元", "40000000.00"),
        ("4000万", "40000000.00"),
        ("1.2亿", "120000000.00"),
        ("1.2亿元", "120000000.00"),
        ("350,000元", "350000.00"),
        ("350000", "350000.00"),
        ("人民币 12.5 万元", "125000.00"),
        ("￥1,000", "1000.00"),
        ("４０００万元", "40000000.00"),
    ],
)
def test_each_amount_form(home, tmp_path, amount: str, yuan: str) -> None:
    f = write_csv(
        tmp_path / "a.csv", [event("合肥", "P1", "application", "enter", "2025-05-13", amount)]
    )
    r = ingest_paths(home, [f])[0]
    assert (r.rows_loaded, r.rows_quarantined) == (1, 0)
    assert _q(home, "select amount_yuan::varchar, amount_raw from raw.events") == [(yuan, amount)]


@pytest.mark.parametrize(
    ("header", "value", "yuan"),
    [
        ("合作金额（元）", "350000", "350000.00"),
        ("合作金额(万元)", "12.5", "125000.00"),
        ("合作金额（亿元）", "1.2", "120000000.00"),
        ("金额（单位：万元）", "7", "70000.00"),
        ("合作金额", "350000", "350000.00"),
        ("合作金额（万元）", "1.2亿", "120000000.00"),
    ],
)
def test_each_header_unit(home, tmp_path, header: str, value: str, yuan: str) -> None:
    text = f"城市,项目编号,阶段,事件,日期,{header}\n合肥,P1,应用,进入,2025-05-13,{value}\n"
    r = ingest_paths(home, [write_text(tmp_path / "u.csv", text)])[0]
    assert (r.rows_loaded, r.rows_quarantined) == (1, 0)
    assert _q(home, "select amount_yuan::varchar from raw.events") == [(yuan,)]


@pytest.mark.parametrize(
    ("written", "day", "precision"),
    [
        ("2025-05-13", "2025-05-13", "day"),
        ("2025/5/13", "2025-05-13", "day"),
        ("2025.5.13", "2025-05-13", "day"),
        ("2025年5月13日", "2025-05-13", "day"),
        ("２０２５年５月１３日", "2025-05-13", "day"),
        ("20250513", "2025-05-13", "day"),
        ("45790", "2025-05-13", "day"),  # Excel serial number
        ("2025/5/13 10:30", "2025-05-13", "day"),
        ("2025年5月", "2025-05-01", "month"),
        ("2025-05", "2025-05-01", "month"),
    ],
)
def test_each_date_form(home, tmp_path, written: str, day: str, precision: str) -> None:
    f = write_csv(tmp_path / "d.csv", [event("合肥", "P1", "opportunity", "enter", written)])
    r = ingest_paths(home, [f])[0]
    assert (r.rows_loaded, r.rows_quarantined) == (1, 0)
    assert _q(home, "select event_date::varchar, event_date_precision from raw.events") == [
        (day, precision)
    ]


def test_city_names_resolve_and_ambiguous_ones_do_not(home, tmp_path) -> None:
    names = [
        ("合肥", "340100"),
        ("合肥市", "340100"),
        ("Hefei", "340100"),
        ("Hefei City", "340100"),
        ("安徽省合肥市", "340100"),
        ("Suzhou-Anhui", "341300"),
        ("Suzhou (Jiangsu)", "320500"),
        ("江苏省苏州市", "320500"),
        ("Fuzhou, Fujian", "350100"),
        ("襄樊", "420600"),
        ("Suzhou", None),  # 苏州 or 宿州: never guessed
        ("Fuzhou", None),  # 福州 or 抚州
        ("Taizhou", None),
    ]
    rows = [
        event(n, f"P{i}", "opportunity", "enter", "2025-01-01") for i, (n, _) in enumerate(names)
    ]
    r = ingest_paths(home, [write_csv(tmp_path / "c.csv", rows)])[0]
    _accounted(r)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (13, 10, 3)
    got = dict(_q(home, "select city_raw, city_code from raw.events"))
    assert got == {n: c for n, c in names if c}
    assert _q(home, "select raw_value, reason from raw.quarantine order by source_line") == [
        ("Suzhou", "unknown_city"),
        ("Fuzhou", "unknown_city"),
        ("Taizhou", "unknown_city"),
    ]


# --------------------------------------------------------------------------- XLSX


def _ledger_workbook(path: Path) -> Path:
    title = "2025年无锡市场景项目台账"
    head1 = ["序号", "城市", "项目编号", "场景名称", "所属领域", "阶段日期", None, None, None]
    head1 += ["终止情况", None, "合作金额\n（万元）"]
    head2 = [None] * 5 + [
        "发布日期",
        "验证日期",
        "应用日期",
        "推广日期",
        "终止日期",
        "终止原因",
        None,
    ]
    d = dt.datetime
    rows = [
        [title],  # row 1 (merged A1:L1)
        ["填报单位：无锡市数据局"],  # row 2: a second title row
        head1,  # row 3: group header, merged cells
        head2,  # row 4: the header
        [
            1,
            "无锡市",
            "WX-001",
            "智能工厂",
            "产业",
            d(2025, 1, 10),
            d(2025, 3, 1),
            45790,
            None,
            None,
            None,
            4000,
        ],
        [
            2,
            "无锡",
            "WX-002",
            "矿区运输",
            "产业",
            "2025年2月",
            "２０２５年３月１日",
            None,
            None,
            "2025-06-01",
            "验证未通过",
            None,
        ],
        [
            3,
            "Wuxi",
            "WX-003",
            "城市治理",
            "城市",
            "2025-02-01",
            None,
            None,
            None,
            "2025-04-01",
            "需求取消",
            None,
        ],
        [
            4,
            "无锡",
            "WX-004",
            "干线运输",
            "产业",
            "2025-01-05",
            "2025-02-05",
            "2025-06-01",
            "2025-09-01",
            None,
            None,
            "1.2亿",
        ],
        [
            5,
            "无锡",
            "WX-005",
            "园区巡检",
            "产业",
            "2025-01-05",
            "2025-02-30",
            None,
            None,
            None,
            None,
            None,
        ],
        [6, "无锡", None, "社区养老", "社会", "2025-01-05", None, None, None, None, None, None],
        [7, "无锡", "WX-007", "文旅消费", "消费", None, None, None, None, None, None, 500],
        [
            8,
            "无锡",
            "WX-008",
            "政务服务",
            "城市",
            "2025-03-01",
            None,
            None,
            None,
            None,
            "资金未到位",
            None,
        ],
        ["合计", None, None, None, None, None, None, None, None, None, None, "=SUM(L5:L12)"],
        [None] * 12,
        ["", " ", None],
    ]
    merges = ["A1:L1", "A3:A4", "B3:B4", "C3:C4", "D3:D4", "E3:E4", "F3:I3", "J3:K3", "L3:L4"]
    return write_xlsx(path, {"台账": rows}, {"台账": merges})


def test_xlsx_ledger_with_titles_merged_headers_becomes_events(home, tmp_path) -> None:
    f = _ledger_workbook(tmp_path / "无锡台账.xlsx")
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.format, r.layout, r.sheet, r.header_line) == ("xlsx", "register", "台账", 4)
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined, r.events_loaded) == (9, 4, 5, 12)
    assert r.ignored_columns == ["序号"]
    assert _quarantine(home, f.name) == [
        (9, "validation_date", "2025-02-30", "bad_date"),
        (10, "project_id", None, "missing_required"),
        (11, "opportunity_date", None, "missing_required"),
        (12, "end_date", None, "missing_required"),
        # the 合计 row (a formula without a cached value): its city comes from the title
        # (无锡市…台账), and each of its failing columns is listed
        (13, "opportunity_date", None, "missing_required"),
        (13, "project_id", None, "missing_required"),
    ]
    assert _q(
        home,
        "select source_line, project_id, stage_code, event_type, event_date::varchar, "
        "event_date_precision, amount_yuan::varchar from raw.events "
        "order by source_line, event_date, event_type",
    ) == [
        (5, "WX-001", "opportunity", "enter", "2025-01-10", "day", None),
        (5, "WX-001", "validation", "enter", "2025-03-01", "day", None),
        (5, "WX-001", "application", "enter", "2025-05-13", "day", "40000000.00"),
        (6, "WX-002", "opportunity", "enter", "2025-02-01", "month", None),
        (6, "WX-002", "validation", "enter", "2025-03-01", "day", None),
        (6, "WX-002", "validation", "fail", "2025-06-01", "day", None),  # 未通过 -> fail
        (7, "WX-003", "opportunity", "enter", "2025-02-01", "day", None),
        (7, "WX-003", "opportunity", "withdraw", "2025-04-01", "day", None),  # default
        (8, "WX-004", "opportunity", "enter", "2025-01-05", "day", None),
        (8, "WX-004", "validation", "enter", "2025-02-05", "day", None),
        (8, "WX-004", "application", "enter", "2025-06-01", "day", "120000000.00"),
        (8, "WX-004", "scale_up", "enter", "2025-09-01", "day", None),
    ]
    assert set(_q(home, "select distinct city_code from raw.events")) == {("320200",)}


def test_ledger_termination_type_column_decides_fail_or_withdraw(home, tmp_path) -> None:
    text = (
        "城市,项目编号,发布日期,验证日期,终止日期,终止类型,终止原因\n"
        "合肥,L1,2025-01-01,2025-02-01,2025-03-01,撤回,验证失败\n"  # type wins over reason
        "合肥,L2,2025-01-01,2025-02-01,2025-03-01,失败,\n"
        "合肥,L3,2025-01-01,,2025-03-01,,\n"  # default: withdraw
        "合肥,L4,2025-01-01,,2025-03-01,暂停,\n"  # unknown type
    )
    r = ingest_paths(home, [write_text(tmp_path / "l.csv", text)])[0]
    _accounted(r)
    assert (r.layout, r.rows_read, r.rows_loaded, r.events_loaded) == ("register", 4, 3, 8)
    assert _quarantine(home, "l.csv") == [(5, "end_type", "暂停", "unknown_end_type")]
    ends = _q(
        home,
        "select project_id, stage_code, event_type from raw.events "
        "where event_type <> 'enter' order by 1",
    )
    assert ends == [
        ("L1", "validation", "withdraw"),
        ("L2", "validation", "fail"),
        ("L3", "opportunity", "withdraw"),
    ]


def test_a_negated_failure_in_the_reason_is_a_withdrawal(home, tmp_path) -> None:
    text = (
        "城市,项目编号,发布日期,验证日期,终止日期,终止原因\n"
        "合肥,N1,2025-01-01,2025-02-01,2025-03-01,项目未失败，企业主动撤回\n"
        "合肥,N2,2025-01-01,2025-02-01,2025-03-01,验证失败\n"
    )
    r = ingest_paths(home, [write_text(tmp_path / "n.csv", text)])[0]
    _accounted(r)
    ends = _q(home, "select project_id, event_type from raw.events where event_type <> 'enter'")
    assert sorted(ends) == [("N1", "withdraw"), ("N2", "fail")]
    # the clerk's words are kept on the termination event, and only there
    reasons = _q(home, "select project_id, event_type, end_reason from raw.events order by 1, 2")
    assert reasons == [
        ("N1", "enter", None),
        ("N1", "enter", None),
        ("N1", "withdraw", "项目未失败，企业主动撤回"),
        ("N2", "enter", None),
        ("N2", "enter", None),
        ("N2", "fail", "验证失败"),
    ]


def test_lax_amounts_are_quarantined_not_guessed(home, tmp_path) -> None:
    rows = [
        event("合肥", "A1", "application", "enter", "2025-05-13", "1,5万"),
        event("合肥", "A2", "application", "enter", "2025-05-13", "0.005元"),
        event("合肥", "A3", "application", "enter", "2025-05-13", "1.23456789万"),
        event("合肥", "A4", "application", "enter", "2025-05-13", "1,500万"),
    ]
    r = ingest_paths(home, [write_csv(tmp_path / "amounts.csv", rows)])[0]
    _accounted(r)
    assert (r.rows_loaded, r.quarantine_by_reason) == (1, {"bad_amount": 3})
    assert _quarantine(home, "amounts.csv") == [
        (2, "amount", "1,5万", "bad_amount"),
        (3, "amount", "0.005元", "bad_amount"),
        (4, "amount", "1.23456789万", "bad_amount"),
    ]
    assert _q(home, "select project_id, amount_yuan::varchar from raw.events") == [
        ("A4", "15000000.00")
    ]


def test_the_long_field_limit_is_an_excel_cell(home, tmp_path) -> None:
    rows = [
        event("合肥", "L1", "opportunity", "enter", "2025-03-01") | {"project_name": "长" * 32767},
        event("合肥", "L2", "opportunity", "enter", "2025-03-01") | {"project_name": "长" * 32768},
    ]
    r = ingest_paths(home, [write_csv(tmp_path / "long.csv", rows)])[0]
    _accounted(r)
    assert (r.rows_loaded, r.quarantine_by_reason) == (1, {"value_too_long": 1})
    [(line, column, value, reason)] = _quarantine(home, "long.csv")
    assert (line, column, len(value), reason) == (3, "project_name", 32768, "value_too_long")
    assert _q(home, "select project_id, length(project_name) from raw.events") == [("L1", 32767)]
    sheet = openpyxl.load_workbook(r.receipt_xlsx).worksheets[-1]
    assert max(len(str(c.value or "")) for row in sheet.iter_rows() for c in row) == 32767


def test_xlsx_formulas_give_cached_values_and_are_never_evaluated(home, tmp_path) -> None:
    rows = [
        ["城市", "项目编号", "阶段", "事件", "日期", "合作金额（万元）"],
        ["合肥", "F1", "应用", "进入", "=DATE(2030,1,1)", "=2000*2"],  # row 2: cached values
        ["=A2", "F2", "应用", "进入", "2025-05-14", None],  # row 3: formula, nothing cached
    ]
    f = write_xlsx(tmp_path / "formulas.xlsx", {"说明": [["请填写第二个工作表"]], "数据": rows})
    set_cached_values(
        f,
        "xl/worksheets/sheet2.xml",
        {"E2": ("n", "45790"), "F2": ("n", "2500")},  # not what the formulas would compute
    )
    wb = openpyxl.load_workbook(f)  # the formulas are still in the file
    assert wb["数据"]["E2"].value == "=DATE(2030,1,1)"

    first = ingest_paths(home, [f])[0]  # first sheet: the instructions
    assert (first.status, first.reason.split(":")[0]) == ("rejected", "unknown_layout")
    missing = ingest_paths(home, [f], sheet="Sheet9")[0]
    assert missing.reason.startswith("sheet_not_found") and "数据" in missing.reason

    r = ingest_paths(home, [f], sheet="数据")[0]  # a rejected file may be retried
    _accounted(r)
    assert (r.sheet, r.rows_read, r.rows_loaded, r.rows_quarantined) == ("数据", 2, 1, 1)
    assert _q(home, "select event_date::varchar, amount_yuan::varchar from raw.events") == [
        ("2025-05-13", "25000000.00")
    ]
    assert _quarantine(home, f.name) == [(3, "city", None, "missing_required")]
    assert _q(home, "select status, times_seen from raw.file_ledger") == [("loaded", 3)]


def test_xlsx_trailing_blank_rows_and_columns_and_a_gap_are_skipped(home, tmp_path) -> None:
    rows = [
        [],
        [],
        [*EVENT_COLUMNS, None, None],
        ["合肥", "X1", "", "", "", "", "", "opportunity", "enter", dt.date(2025, 5, 13), 4000.5],
        [None] * 14,
        ["合肥", "X2", "", "", "", "", "", "opportunity", "enter", dt.datetime(2025, 5, 14, 9, 30)],
    ] + [[None, ""]] * 20
    f = write_xlsx(tmp_path / "gaps.xlsx", {"Sheet1": rows})
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.header_line, r.rows_read, r.rows_loaded) == (3, 2, 2)
    assert _q(
        home,
        "select source_line, event_date::varchar, amount_yuan::varchar from raw.events order by 1",
    ) == [(4, "2025-05-13", "4000.50"), (6, "2025-05-14", None)]


# --------------------------------------------------------------------------- JSON Lines


def test_jsonl_bad_lines_are_quarantined_not_the_file(home, tmp_path) -> None:
    lines = [
        json.dumps(event("合肥", "J1", "opportunity", "enter", "2025-05-01"), ensure_ascii=False),
        '{"city": "合肥", "project_id": ',
        "[1, 2]",
        "",
        json.dumps(
            {
                "城市": "合肥",
                "项目编号": "J2",
                "阶段": "验证",
                "事件": "进入",
                "日期": 45790,
                "amount": 4000000,
            },
            ensure_ascii=False,
        ),
        json.dumps({"city": "合肥", "project_id": "J3", "stage": "验证", "event_type": "enter"}),
    ]
    f = write_text(tmp_path / "posted.jsonl", "\n".join(lines) + "\n")
    r = ingest_paths(home, [f])[0]
    _accounted(r)
    assert (r.format, r.rows_read, r.rows_loaded, r.rows_quarantined) == ("jsonl", 5, 2, 3)
    assert _quarantine(home, f.name) == [
        (2, None, '{"city": "合肥", "project_id":', "bad_json"),
        (3, None, "[1, 2]", "bad_json"),
        (6, "event_date", None, "missing_required"),
    ]
    assert _q(
        home,
        "select source_line, project_id, event_date::varchar, amount_yuan::varchar "
        "from raw.events order by 1",
    ) == [(1, "J1", "2025-05-01", None), (5, "J2", "2025-05-13", "4000000.00")]


# --------------------------------------------------------------------------- nothing lost


def test_duplicates_and_corrections(home, tmp_path) -> None:
    first = write_csv(
        tmp_path / "march.csv",
        [event("合肥", "P1", "validation", "enter", "2025-03-01", reported="2025-03-05")],
    )
    renamed = tmp_path / "march-again.csv"
    renamed.write_bytes(first.read_bytes())
    correction = write_csv(
        tmp_path / "april.csv",
        [event("合肥市", "P1", "试点", "进入", "2025-02-25", reported="2025-04-02")],
    )
    r1, r2, r3 = ingest_paths(home, [first, renamed, correction])
    assert (r1.status, r2.status, r3.status) == ("loaded", "duplicate", "loaded")
    assert (r2.rows_read, r2.rows_loaded, r2.rows_duplicate) == (1, 0, 1)
    # raw keeps both reports; the later report (reported_at) is the one staging keeps
    assert _q(
        home,
        "select source_file_name, event_date::varchar, reported_at::varchar from raw.events "
        "where city_code = '340100' and project_id = 'P1' and stage_code = 'validation' "
        "and event_type = 'enter' order by reported_at desc, loaded_at desc",
    ) == [("april.csv", "2025-02-25", "2025-04-02"), ("march.csv", "2025-03-01", "2025-03-05")]
    assert _q(home, "select file_name, times_seen from raw.file_ledger order by 1") == [
        ("april.csv", 1),
        ("march.csv", 2),
    ]


def test_unreadable_files_are_rejected_by_name_and_the_rest_still_loads(
    home, tmp_path, capsys, monkeypatch
) -> None:
    def never(*a, **k):  # openpyxl must not open a rejected archive
        raise AssertionError("openpyxl opened an archive that should have been rejected")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    empty = write_text(tmp_path / "empty.xlsx", "")
    pdf = tmp_path / "report.xlsx"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    bomb = zip_bomb(tmp_path / "bomb.xlsx")
    liar = lying_zip(tmp_path / "liar.xlsx")
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)
    blank = write_text(tmp_path / "blank.csv", "\n\n  \n")
    unknown = write_text(tmp_path / "notes.jsonl", '{"colour": "red"}\n')
    good = write_csv(
        tmp_path / "good.csv", [event("无锡", "W1", "opportunity", "enter", "2025-05-13")]
    )
    files = [empty, pdf, bomb, liar, xls, blank, unknown, good]
    code = main(["ingest", "--home", str(home.home), *map(str, files)])
    out, err = capsys.readouterr()
    assert code == 1
    reasons = dict(
        _q(home, "select file_name, nullif(split_part(reason, ':', 1), '') from raw.file_ledger")
    )
    assert reasons == {
        "empty.xlsx": "empty_file",
        "report.xlsx": "not_a_table",
        "bomb.xlsx": "zip_bomb",
        "liar.xlsx": "xlsx_too_large",
        "old.xls": "unsupported_format",
        "blank.csv": "empty_file",
        "notes.jsonl": "unknown_layout",
        "good.csv": None,
    }
    # stderr also carries the progress lines (timestamped); the errors are the other lines
    error_lines = [ln for ln in err.strip().splitlines() if ln.startswith("error: ")]
    assert len(error_lines) == 7
    for f in files[:-1]:
        assert sum(f.name in line for line in error_lines) == 1
    assert "loaded    good.csv: read 1, loaded 1" in out
    assert "receipts (JSON + XLSX): " in out
    assert _q(home, "select count(*) from raw.events") == [(1,)]


def test_zip_that_is_no_workbook_is_rejected(home, tmp_path) -> None:
    import zipfile

    f = tmp_path / "photos.xlsx"
    with zipfile.ZipFile(f, "w") as zf:
        zf.writestr("a.txt", "hello")
    r = ingest_paths(home, [f])[0]
    assert (r.status, r.reason_code) == ("rejected", "not_a_spreadsheet")


def test_limits_on_rows_and_columns(home, tmp_path) -> None:
    rows = [event("合肥", f"P{i}", "opportunity", "enter", "2025-01-01") for i in range(3)]
    csv_file = write_csv(tmp_path / "three.csv", rows)
    xlsx_file = write_xlsx(
        tmp_path / "three.xlsx",
        {"s": [EVENT_COLUMNS] + [[r[c] for c in EVENT_COLUMNS] for r in rows]},
    )
    con = connect_work(home)
    try:
        few_rows = Limits(max_rows=2)
        assert (
            ingest_file(con, csv_file, home.archive_dir, limits=few_rows).reason_code
            == "too_many_rows"
        )
        assert (
            ingest_file(con, xlsx_file, home.archive_dir, limits=few_rows).reason_code
            == "too_many_rows"
        )
        narrow = Limits(max_columns=5)
        assert (
            ingest_file(con, csv_file, home.archive_dir, limits=narrow).reason_code
            == "too_many_columns"
        )
        assert (
            ingest_file(con, xlsx_file, home.archive_dir, limits=narrow).reason_code
            == "too_many_columns"
        )
        ok = ingest_file(con, csv_file, home.archive_dir)  # within the default limits: retried
        assert (ok.status, ok.rows_loaded) == ("loaded", 3)
    finally:
        con.close()


# --------------------------------------------------------------------------- receipts


def test_receipts_in_json_and_xlsx_list_every_quarantined_row(home, tmp_path) -> None:
    rows = [
        event("合肥", "P1", "opportunity", "enter", "2025-01-10"),
        event('=HYPERLINK("http://evil.example","x")', "P2", "opportunity", "enter", "2025-01-10"),
        event("合肥", "P3", "opportunity", "enter", "someday"),
    ]
    text = "城市,项目编号,阶段,事件,日期,备注\n" + "".join(
        f'"{r["city"].replace(chr(34), chr(34) * 2)}",{r["project_id"]},{r["stage"]},'
        f"{r['event_type']},{r['event_date']},x\n"
        for r in rows
    )
    f = write_text(tmp_path / "receipt-me.csv", text)
    r = ingest_paths(home, [f])[0]
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (3, 1, 2)
    doc = json.loads(Path(r.receipt_json).read_text(encoding="utf-8"))
    assert Path(r.receipt_json).parent.parent == home.home / "receipts"
    assert doc["receipt"]["rows_read"] == 3 and doc["receipt"]["accounting_ok"] is True
    assert doc["receipt"]["ignored_columns"] == ["备注"]
    assert [(q["line"], q["header"], q["column"], q["reason"]) for q in doc["quarantined"]] == [
        (3, "城市", "city", "unknown_city"),
        (4, "日期", "event_date", "bad_date"),
    ]
    assert doc["quarantined"][1]["explanation_zh"].startswith("日期无法识别")
    assert doc["quarantined"][1]["explanation_en"].startswith("Date not recognised")

    wb = openpyxl.load_workbook(r.receipt_xlsx)
    assert wb.sheetnames == ["回执 Receipt", "隔离行 Quarantined"]
    qs = wb["隔离行 Quarantined"]
    header = [c.value for c in qs[1]]
    assert header[0] == "行号 Line" and "原始值 Value" in header
    body = [[c.value for c in row] for row in qs.iter_rows(min_row=2)]
    assert [row[0] for row in body] == [3, 4]
    cell = qs.cell(row=2, column=4)
    assert cell.value == '=HYPERLINK("http://evil.example","x")' and cell.data_type == "s"
    summary = {row[1].value: row[2].value for row in wb["回执 Receipt"].iter_rows(min_row=2)}
    assert summary["Rows read"] == 3 and summary["Rows quarantined"] == 2


def test_a_rejected_file_gets_a_receipt_explaining_why(home, tmp_path) -> None:
    r = ingest_paths(home, [write_text(tmp_path / "empty.csv", "")])[0]
    doc = json.loads(Path(r.receipt_json).read_text(encoding="utf-8"))
    assert doc["receipt"]["status"] == "rejected"
    assert doc["receipt"]["reason_explanation_zh"] == "文件为空或只有空行。"
    assert Path(r.receipt_xlsx).is_file()


# --------------------------------------------------------------------------- generator


def test_generated_ledgers_carry_the_same_events_as_the_canonical_files(tmp_path) -> None:
    from ingestion.generate import generate
    from scenetrack.config import Paths

    plain = generate(tmp_path / "plain", cities=5, seed=3)
    files = generate(tmp_path / "both", cities=5, seed=3, register_formats=("xlsx", "gbk"))
    canonical, registers = files[: len(plain)], files[len(plain) :]
    assert [f.read_bytes() for f in canonical] == [f.read_bytes() for f in plain]
    assert len(registers) == 10

    key = (
        "select distinct city_code, project_id, stage_code, event_type, event_date, amount_yuan "
        "from raw.events"
    )
    homes = {}
    for name, batch in {
        "canonical": [f for f in plain if f.name.startswith("events_") and "corr" not in f.name],
        "xlsx": [f for f in registers if f.suffix == ".xlsx"],
        "gbk": [f for f in registers if f.suffix == ".csv"],
    }.items():
        home = Paths(tmp_path / f"home-{name}").ensure()
        receipts = ingest_paths(home, batch)
        assert all(r.status == "loaded" and r.rows_quarantined == 0 for r in receipts)
        homes[name] = set(_q(home, key))
    assert homes["xlsx"] == homes["canonical"]
    assert homes["gbk"] == homes["canonical"]


def test_macro_workbook_is_read_as_data_only_via_the_cli_sheet_option(home, tmp_path, capsys):
    import zipfile

    rows = [
        ["城市", "项目编号", "阶段", "事件", "日期"],
        ["合肥", "M1", "试点", "进入", "2025-05-13"],
    ]
    f = write_xlsx(tmp_path / "with-macros.xlsm", {"封面": [["说明"]], "事件": rows})
    with zipfile.ZipFile(f, "a") as zf:  # a VBA project rides along; it is never run
        zf.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0 pretend VBA")
    code = main(["ingest", "--home", str(home.home), "--sheet", "事件", str(f), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    (r,) = out["receipts"]
    assert (r["status"], r["sheet"], r["rows_read"], r["rows_loaded"]) == ("loaded", "事件", 1, 1)
    assert any("macros present" in note for note in r["notes"])
    assert Path(out["receipts_dir"]).parent == home.home / "receipts"
