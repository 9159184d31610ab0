"""Edges of reading, header recognition and dates that mutation testing found unwatched
(issue 24): each test states what a clerk's file may look like and what the intake does.
"""

from __future__ import annotations

import codecs
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest

from ingestion import normalise as n
from ingestion.headers import (
    expected_header_text,
    find_header,
    header_key,
    header_with_merges,
    match_header,
    split_unit,
)
from ingestion.reading import SNIFF_BYTES, RejectedFile, detect_encoding, read_submission
from scenetrack.pipeline import ingest_paths
from tests.conftest import EVENT_COLUMNS
from tests.ingestion.corpus import write_text


def _eval(builder, text: str | None):
    con = duckdb.connect()
    try:
        return con.execute(
            f"select {builder('x')} from (select ?::varchar as x)", [text]
        ).fetchone()[0]
    finally:
        con.close()


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("2025-05-13T09:30:00", date(2025, 5, 13), "day"),  # ISO with a T
        ("2025/5", date(2025, 5, 1), "month"),
        ("２０２５／５／１３", date(2025, 5, 13), "day"),  # full-width slash
        ("２０２５－０５－１３", date(2025, 5, 13), "day"),  # full-width hyphen
        ("\t2025-05-13\r\n", date(2025, 5, 13), "day"),  # a tab before, CR LF after
        ("2025年5月13日\n", date(2025, 5, 13), "day"),
    ],
)
def test_more_date_forms(text: str, expected: date, precision: str) -> None:
    assert _eval(n.date_value, text) == expected
    assert _eval(n.date_precision, text) == precision


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("\t合肥\t", "合肥"),
        ("\r\n合肥\r\n", "合肥"),
        ("\u3000合肥 ", "合肥"),
        ("合 肥", "合 肥"),  # inside a value nothing is trimmed
        ("\t\n\u3000 ", None),  # blanks only: empty
    ],
)
def test_tabs_line_breaks_and_ideographic_spaces_are_trimmed(text: str, clean) -> None:
    assert _eval(n.clean_text, text) == clean


@pytest.mark.parametrize(
    ("text", "yuan"),
    [
        ("1234,567元", None),  # at most three digits before the first separator
        ("12,3456元", None),  # groups of exactly three after it
        (".5元", None),  # a number needs whole digits
        ("1.元", None),  # and a point needs decimals after it
        ("100000000亿元", None),  # 1e16 yuan: beyond DECIMAL(18, 2)
        ("99999999亿元", Decimal("9999999900000000.00")),
    ],
)
def test_amount_shapes_that_are_no_amount(text: str, yuan) -> None:
    assert _eval(n.amount_yuan, text) == yuan


@pytest.mark.parametrize(
    ("text", "ok"),
    [("4000万元", True), ("", True), (None, True), ("  ", True), ("abc", False), ("1,5万", False)],
)
def test_an_amount_is_ok_when_absent_or_readable(text, ok: bool) -> None:
    assert _eval(n.amount_ok, text) is ok


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("45790", date(2025, 5, 13)),
        ("４５７９０", date(2025, 5, 13)),
        (" 45790 ", date(2025, 5, 13)),
        ("45790.0", date(2025, 5, 13)),  # a time fraction with a zero
        ("45790.", None),  # a point needs digits after it
        ("2025-05-13", None),
    ],
)
def test_an_excel_serial_day_on_its_own(text: str, day) -> None:
    assert _eval(n.excel_serial_date, text) == day


@pytest.mark.parametrize(
    ("text", "key"),
    [(" Scale Up ", "scaleup"), ("\t规模化 应用\n", "规模化应用"), ("", None), (None, None)],
)
def test_an_alias_lookup_key(text, key) -> None:
    assert _eval(n.lookup_key, text) == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Xi'an", "xian"),
        ("Xiamen City", "xiamen"),
        ("合肥市", "合肥"),
        ("Suzhou (Anhui)", "suzhouanhui"),
        ("市中区", "市中区"),  # 市 only goes at the end
    ],
)
def test_a_city_key_drops_punctuation_and_the_word_city(text: str, key: str) -> None:
    assert _eval(n.city_key, text) == key


@pytest.mark.parametrize("multiplier", [0, 3, 300, 12_000])
def test_a_header_unit_must_be_a_power_of_ten(multiplier: int) -> None:
    with pytest.raises(ValueError) as bad:
        n.amount_yuan("x", multiplier)
    assert str(bad.value) == f"a unit multiplier is a power of ten, not {multiplier}"


def test_today_is_in_range_and_tomorrow_is_not() -> None:
    con = duckdb.connect()
    try:
        today = con.execute("select current_date").fetchone()[0]
    finally:
        con.close()
    assert _eval(n.date_in_range, today.isoformat()) is True
    assert _eval(n.date_in_range, (today + timedelta(days=1)).isoformat()) is False


# --------------------------------------------------------------------------- headers


def test_a_blank_cell_before_the_required_columns() -> None:
    m = match_header(["", None, "城市", "项目编号", "阶段", "事件", "日期"])
    assert m is not None and m.layout.name == "events"
    assert (m.positions["city"], m.positions["event_date"]) == (2, 6)


@pytest.mark.parametrize("blank", [None, ""])  # XLSX gives None, CSV gives ""
def test_a_two_row_merged_header_at_the_very_top(blank) -> None:
    rows = [
        ["城市", "项目编号", "阶段日期", blank, blank],
        [blank, blank, "发布日期", "验证日期", "应用日期"],
        ["合肥", "L1", "2025-01-01", "2025-02-01", ""],
    ]
    found = find_header(rows)
    assert found is not None
    i, m = found
    assert (i, m.layout.name) == (1, "register")
    assert m.positions == {
        "city": 0,
        "project_id": 1,
        "opportunity_date": 2,
        "validation_date": 3,
        "application_date": 4,
    }


def test_a_header_key_ignores_case_width_blanks_and_markers() -> None:
    assert header_key(None) == ""
    assert header_key(" *项目\n编号※ ") == "项目编号"
    assert header_key("ＣＩＴＹ") == "city"  # full-width letters (NFKC)


def test_the_header_as_written_is_kept_for_the_receipt() -> None:
    m = match_header(["城市", "项目\n编号", "阶段", "事件", "日期", "备  注"])
    assert m is not None
    assert m.written["project_id"] == "项目 编号"  # line breaks and runs of blanks: one space
    assert m.ignored == ("备 注",)


def test_a_header_matching_as_it_is_is_not_merged_with_the_row_above() -> None:
    rows = [["项目编号"], ["", "城市", "阶段", "事件", "日期", "项目编号"]]
    found = find_header(rows)
    assert found is not None and found[1].positions["project_id"] == 5


def test_a_full_header_text_that_is_an_alias_itself(monkeypatch) -> None:
    """An alias may carry a bracket that looks like a unit: the whole text is looked up too."""
    import ingestion.headers as h

    every = (*h.aliases(), h.Alias("all", "project_name", "备忘(元)"))
    monkeypatch.setattr(h, "aliases", lambda: every)
    h.alias_map.cache_clear()
    try:
        m = match_header(["城市", "项目编号", "阶段", "事件", "日期", "备忘（元）"])
        assert m is not None and m.positions["project_name"] == 5
    finally:
        h.alias_map.cache_clear()


def test_the_unknown_layout_message_names_a_column_without_a_chinese_name(monkeypatch) -> None:
    import ingestion.headers as h

    kept = tuple(a for a in h.aliases() if a.column != "event_date" or a.alias.isascii())
    monkeypatch.setattr(h, "aliases", lambda: kept)
    assert "event_type (事件), event_date; opportunities" in expected_header_text()


def test_an_upper_header_row_shorter_than_the_lower_one() -> None:
    assert header_with_merges([["城市", "x"], ["", "", "项目编号"]], 1) == ["城市", "x", "项目编号"]
    assert header_with_merges([["城市"], ["", ""]], 1) == ["城市", ""]  # j == len(above)
    rows = [["城市"], ["", "项目编号", "", "发布日期"]]  # a blank cell past the upper row's end
    assert header_with_merges(rows, 1) == ["城市", "项目编号", "", "发布日期"]
    found = find_header(rows)  # merged: 城市, 项目编号, 发布日期 -- a list with a city column
    assert found is not None and (found[0], found[1].layout.name) == (1, "opportunities")
    assert found[1].positions == {"city": 0, "project_id": 1, "published_date": 3}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("金额(单位亿元)", ("金额", "亿元")),  # no colon after 单位
        ("金额（单位：亿元）", ("金额", "亿元")),
        ("合作金额(万)", ("合作金额", "万")),
        ("合作金额（元）", ("合作金额", "元")),
        ("合作金额", ("合作金额", None)),
        ("金额(美元)", ("金额(美元)", None)),  # not a unit of ours: part of the name
    ],
)
def test_a_unit_in_an_amount_header(header: str, expected) -> None:
    assert split_unit(header) == expected


def test_the_unknown_layout_message_names_what_each_layout_needs() -> None:
    # the city may come from the title rows, the channel or --city (issue 18): no layout
    # needs a city column
    assert expected_header_text() == (
        "events needs project_id (项目编号), stage (阶段), event_type (事件), "
        "event_date (日期); opportunities needs project_id (场景编号) or project_name "
        "(场景名称); register needs project_id (项目编号), opportunity_date (发布日期) or "
        "validation_date (验证日期) or application_date (应用日期) or scale_up_date (推广日期); "
        "capabilities needs capability_id (能力编号) or title (能力名称)"
    )


# --------------------------------------------------------------------------- reading

HEADER = ",".join(EVENT_COLUMNS) + "\n"
ROW = "合肥,P{i},智能巡检,industry,ai,市数据局,,opportunity,enter,2025-03-01,,\n"


def test_a_utf16_file_with_its_bom_is_read(home, tmp_path) -> None:
    text = HEADER + ROW.format(i=1) + ROW.format(i=2)
    f = tmp_path / "unicode.csv"
    f.write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    [r] = ingest_paths(home, [f])
    assert (r.status, r.encoding, r.rows_loaded) == ("loaded", "utf-16", 2)


def test_bytes_neither_utf8_nor_gb18030_are_a_bad_encoding(home, tmp_path) -> None:
    with pytest.raises(RejectedFile) as bad:
        detect_encoding(b"city,project_id\n\x80\x80\x80\n")
    assert bad.value.reason == "bad_encoding"
    f = tmp_path / "garbled.csv"
    f.write_bytes(HEADER.encode() + b"\x80\x80\x80,x\n")
    [r] = ingest_paths(home, [f])
    assert (r.status, r.reason_code) == ("rejected", "bad_encoding")


def test_a_character_cut_at_the_sniffing_boundary_is_still_utf8(home, tmp_path) -> None:
    rows = [HEADER]
    while len("".join(rows).encode()) < SNIFF_BYTES - 200:
        rows.append(ROW.format(i=len(rows)))
    prefix = ("".join(rows) + "合肥,P0,").encode()
    # ASCII padding so that the first 场 (3 bytes in UTF-8) starts one byte before the end of
    # the sniffed prefix: the prefix ends inside a character
    padding = "a" * (SNIFF_BYTES - 1 - len(prefix))
    body = prefix.decode() + padding + "场场场,industry,ai,x,,opportunity,enter,2025-03-01,,\n"
    assert body.encode()[SNIFF_BYTES - 1 : SNIFF_BYTES + 2] == "场".encode()
    f = write_text(tmp_path / "long.csv", body)
    assert read_submission(f, "sha", f.stat().st_size).encoding == "utf-8"
    [r] = ingest_paths(home, [f])
    assert (r.encoding, r.rows_loaded, r.rows_quarantined) == ("utf-8", len(rows), 0)


def test_json_lines_starting_with_blank_lines(home, tmp_path) -> None:
    line = (
        '{"city": "合肥", "project_id": "J1", "stage": "opportunity", "event_type": "enter", '
        '"event_date": "2025-03-01"}'
    )
    f = write_text(tmp_path / "events.jsonl", "\n\n" + line + "\n")
    [r] = ingest_paths(home, [f])
    assert (r.format, r.rows_read, r.rows_loaded) == ("jsonl", 1, 1)
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        assert con.execute("select source_line, project_id from raw.events").fetchall() == [
            (3, "J1")
        ]
    finally:
        con.close()
