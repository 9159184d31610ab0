"""The published lists' value rules (ingestion.normalise, docs/submission_contract.md) on
hand-worked values, one SQL expression at a time: batch labels, Chinese numerals, words that
give no figure, approximation markers, the name key and the derived id.
"""

from __future__ import annotations

import hashlib

import duckdb
import pytest

from ingestion import normalise as n


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    yield c
    c.close()


def value(con, sql: str, **columns: str | None):
    """``sql`` over one row whose VARCHAR columns are ``columns``."""
    names = ", ".join(f"?::varchar as {k}" for k in columns) or "1 as unused"
    return con.execute(f"select {sql} from (select {names})", list(columns.values())).fetchone()[0]


@pytest.mark.parametrize(
    ("number", "written"),
    [(1, "一"), (2, "二"), (9, "九"), (10, "十"), (11, "十一"), (12, "十二"), (20, "二十"),
     (23, "二十三"), (90, "九十"), (99, "九十九")],
)  # fmt: skip
def test_chinese_numerals_up_to_99(number: int, written: str) -> None:
    assert n.zh_numeral(number) == written


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("第2批", "2024年第2批"),  # the publication year when the text names none
        ("2025年第二批", "2025年第2批"),
        ("2025 年 第 12 批", "2025年第12批"),
        ("第一批", "2024年第1批"),
        ("第十一批", "2024年第11批"),
        ("第九十九批", "2024年第99批"),
        ("第10批", "2024年第10批"),  # a zero among the digits
        ("2020年第3批", "2020年第3批"),  # a zero in the year
        ("第3期第2批", "2024年第2批"),  # a phase number before the batch is not the batch
        ("第批 第2批", "2024年第2批"),  # a 第…批 without a number hides not the one after it
        ("第二十三批", "2024年第23批"),
        ("第两批", "2024年第2批"),  # 两 is 二
        ("第２批", "2024年第2批"),  # full-width digit
        ("首批", "2024年第1批"),
        ("2023年首批", "2023年第1批"),
        ("春季批次", "春季批次"),  # no batch number: kept as written
        ("第一百批", "第一百批"),  # beyond 99: no number we read, kept as written
        (None, None),
    ],
)
def test_a_batch_is_one_label(con, text: str | None, label: str | None) -> None:
    assert value(con, n.batch_label_of("b", "2024"), b=text) == label


def test_a_batch_without_any_year_is_the_batch_alone(con) -> None:
    assert value(con, n.batch_label_of("b", "cast(null as integer)"), b="第3批") == "第3批"


@pytest.mark.parametrize(
    ("text", "absent"),
    [("面议", True), ("待定", True), ("无", True), ("/", True), ("--", True), ("—", True),
     ("300万", False), ("无锡", False), ("面议价", False)],
)  # fmt: skip
def test_words_that_give_no_figure(con, text: str, absent: bool) -> None:
    assert value(con, n.no_figure_of("t"), t=text) is absent


@pytest.mark.parametrize(
    ("text", "exact"),
    [
        ("约300万", "300万"),
        ("大约 300万", "300万"),
        ("约计300万", "300万"),  # the longer marker first: not 约 + 计300万
        ("预计1.5亿", "1.5亿"),
        ("近50万元", "50万元"),
        ("300万左右", "300万"),
        ("300万 以上", "300万"),
        ("约300万上下", "300万"),  # both ends
        ("300万", "300万"),
        ("节约300万", "节约300万"),  # a marker only at the start
        ("左右300万", "左右300万"),  # a suffix only at the end
    ],
)
def test_an_approximation_marker_is_dropped(con, text: str, exact: str) -> None:
    assert value(con, n.approximate_stripped_of("t"), t=text) == exact


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("智慧工厂 （一期）", "智慧工厂一期"),
        ("智慧工厂(一期)", "智慧工厂一期"),
        ("ＡＩ巡检 Pro-2", "ai巡检pro2"),  # full-width letters, case, hyphen
        ("５Ｇ+园区", "5g园区"),  # full-width digit, a symbol
    ],
)
def test_the_name_key_ignores_width_case_spaces_and_punctuation(con, name: str, key: str) -> None:
    assert value(con, n.name_key_of("t"), t=name) == key


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12].upper()


def test_a_derived_id_is_the_prefix_and_12_hex_digits_of_city_and_name_keys(con) -> None:
    sql = n.derived_id(n.DERIVED_ID_PREFIX["project_id"], "c", ["a", "b"])
    got = value(con, sql, c="340100", a="智慧工厂 （一期）", b="ＡＢ")
    assert got == "SN-" + _sha12("340100|智慧工厂一期|ab")
    assert len(got) == 3 + 12
    # a missing name is an empty key, in its place
    assert value(con, sql, c="340100", a=None, b="ab") == "SN-" + _sha12("340100||ab")
    assert value(con, sql, c="340100", a="智慧工厂一期", b=None) == "SN-" + _sha12(
        "340100|智慧工厂一期|"
    )
    # no city, or no name at all: no id
    assert value(con, sql, c=None, a="智慧工厂", b="ab") is None
    assert value(con, sql, c="340100", a=None, b=None) is None
    capability = n.derived_id(n.DERIVED_ID_PREFIX["capability_id"], "c", ["a"])
    assert value(con, capability, c="320200", a="视觉检测") == "CN-" + _sha12("320200|视觉检测")
