"""Amount and date parsing, checked against hand-worked values and properties."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion import normalise as n

_CON: list[duckdb.DuckDBPyConnection] = []


def _eval(expr_builder, text: str | None):
    """Evaluate one SQL expression over ``x = text`` (one in-memory connection for the module)."""
    if not _CON:
        _CON.append(duckdb.connect())
    return (
        _CON[0]
        .execute(f"select {expr_builder('x')} from (select ?::varchar as x)", [text])
        .fetchone()[0]
    )


@pytest.mark.parametrize(
    ("text", "yuan"),
    [
        ("4000万元", Decimal("40000000.00")),
        ("4000万", Decimal("40000000.00")),
        ("1.2亿", Decimal("120000000.00")),
        ("1.2亿元", Decimal("120000000.00")),
        ("350000", Decimal("350000.00")),
        ("350,000元", Decimal("350000.00")),
        ("人民币 12.5 万元", Decimal("125000.00")),
        ("４０００万元", Decimal("40000000.00")),  # full-width digits
        ("0.01元", Decimal("0.01")),
        ("", None),
        ("abc", None),
        ("-5万元", None),
    ],
)
def test_amounts_parse_to_exact_yuan(text: str, yuan: Decimal | None) -> None:
    assert _eval(n.amount_yuan, text) == yuan


@pytest.mark.parametrize(
    ("text", "yuan"),
    [
        # thousands separators only in groups of three (issue 17, finding 9)
        ("1,5万", None),  # was read as 150,000
        ("1,500万", Decimal("15000000.00")),
        ("1,000,000", Decimal("1000000.00")),
        ("1,0000", None),
        ("12,34,567元", None),
        ("1,500.5元", Decimal("1500.50")),
        # more decimals than fen are not rounded away
        ("0.005元", None),  # was rounded to 0.01
        ("1.23456789万", None),  # 12345.6789 yuan, was rounded
        ("1.234567万", Decimal("12345.67")),  # exactly to the fen
        ("1.2345万", Decimal("12345.00")),
        ("0.12345678亿", Decimal("12345678.00")),
        ("1.500元", Decimal("1.50")),  # trailing zeros are no fractions of a fen
        ("¥1,000", Decimal("1000.00")),  # U+00A5
        ("12万元整", None),
    ],
)
def test_separators_and_fractions_of_a_fen(text: str, yuan: Decimal | None) -> None:
    assert _eval(n.amount_yuan, text) == yuan


@pytest.mark.parametrize(
    ("text", "multiplier", "yuan"),
    [
        ("12.345", 10_000, Decimal("123450.00")),  # header 合作金额（万元）
        ("0.123456", 10_000, Decimal("1234.56")),
        ("0.1234567", 10_000, None),
        ("0.001", 1, None),
    ],
)
def test_fractions_of_a_fen_under_a_header_unit(text: str, multiplier: int, yuan) -> None:
    assert _eval(lambda x: n.amount_yuan(x, multiplier), text) == yuan


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("项目未失败，企业主动撤回", "withdraw"),  # was classified as a failure
        ("并非失败，政策调整", "withdraw"),
        ("没有失败，需求取消", "withdraw"),
        ("not failed, withdrawn by the supplier", "withdraw"),
        ("试点失败", "fail"),
        ("验证未通过", "fail"),
        ("技术不通过", "fail"),
        ("非常失败", "fail"),  # 非 is no negation here
        ("Pilot FAILED", "fail"),
        ("企业主动撤回", "withdraw"),
        (None, "withdraw"),
    ],
)
def test_termination_reasons_read_negation(reason: str | None, kind: str) -> None:
    assert _eval(n.termination_type_of_reason, reason) == kind


@pytest.mark.parametrize(
    ("text", "expected", "precision"),
    [
        ("2025-05-13", date(2025, 5, 13), "day"),
        ("2025/5/13", date(2025, 5, 13), "day"),
        ("2025.5.13", date(2025, 5, 13), "day"),
        ("2025年5月13日", date(2025, 5, 13), "day"),
        ("２０２５年５月１３日", date(2025, 5, 13), "day"),
        ("2025年5月", date(2025, 5, 1), "month"),
        ("13/05/2025", None, "month"),
    ],
)
def test_dates_parse_with_their_precision(text: str, expected: date | None, precision: str) -> None:
    assert _eval(n.date_value, text) == expected
    if expected is not None:
        assert _eval(n.date_precision, text) == precision


def test_dates_before_2015_or_in_the_future_are_out_of_range() -> None:
    assert _eval(n.date_in_range, "2014-12-31") is False
    assert _eval(n.date_in_range, "2015-01-01") is True
    assert _eval(n.date_in_range, "2999-01-01") is False


@settings(max_examples=60, deadline=None)
@given(wan=st.integers(min_value=0, max_value=10**9), unit=st.sampled_from(["万元", "万"]))
def test_any_whole_wan_amount_is_exact(wan: int, unit: str) -> None:
    assert _eval(n.amount_yuan, f"{wan:,}{unit}") == Decimal(wan * 10000)


@settings(max_examples=60, deadline=None)
@given(d=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)))
def test_any_chinese_written_date_round_trips(d: date) -> None:
    assert _eval(n.date_value, f"{d.year}年{d.month}月{d.day}日") == d
    assert _eval(n.date_value, f"{d.year}/{d.month}/{d.day}") == d


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("45790", date(2025, 5, 13)),
        ("45790.75", date(2025, 5, 13)),  # a serial with a time of day
        ("４５７９０", date(2025, 5, 13)),
        ("20250513", date(2025, 5, 13)),
        ("2025-05-13 09:30", date(2025, 5, 13)),
        ("2025/5/13 09:30:00", date(2025, 5, 13)),
        ("\u30002025-05-13\n", date(2025, 5, 13)),  # ideographic space, line break
        ("4579", None),  # not five digits: not a serial
        ("457900", None),
    ],
)
def test_excel_serials_compact_and_timed_dates(text: str, expected: date | None) -> None:
    assert _eval(n.date_value, text) == expected
    if expected is not None:
        assert _eval(n.date_precision, text) == "day"


@pytest.mark.parametrize(
    ("text", "multiplier", "yuan"),
    [
        ("12.5", 10_000, Decimal("125000.00")),  # header 合作金额（万元）
        ("1.2", 100_000_000, Decimal("120000000.00")),  # header 合作金额（亿元）
        ("300", 1, Decimal("300.00")),
        ("3万元", 100_000_000, Decimal("30000.00")),  # a written unit wins over the header's
        ("￥1,000", 1, Decimal("1000.00")),
        ("RMB 5万", 1, Decimal("50000.00")),
    ],
)
def test_header_unit_applies_to_bare_numbers_only(
    text: str, multiplier: int, yuan: Decimal
) -> None:
    assert _eval(lambda x: n.amount_yuan(x, multiplier), text) == yuan


FULL = str.maketrans("0123456789.,", "０１２３４５６７８９．，")


@settings(max_examples=60, deadline=None)
@given(
    yuan_cents=st.integers(min_value=0, max_value=10**13),
    unit=st.sampled_from([("", 1), ("元", 1), ("万元", 10_000), ("万", 10_000), ("亿", 10**8)]),
    fullwidth=st.booleans(),
    header_multiplier=st.sampled_from([1, 10_000, 10**8]),
)
def test_any_amount_in_any_unit_is_exact(yuan_cents, unit, fullwidth, header_multiplier) -> None:
    suffix, mult = unit
    value = Decimal(yuan_cents) / 100
    text = f"{value:,.2f}{suffix}"
    if fullwidth:
        text = text.translate(FULL)
    expected = value * (mult if suffix else header_multiplier)
    got = _eval(lambda x: n.amount_yuan(x, header_multiplier), text)
    if expected >= Decimal(10) ** 16:  # beyond DECIMAL(18, 2): not a believable amount
        assert got is None
    else:
        assert got == expected.quantize(Decimal("0.01"))


@settings(max_examples=60, deadline=None)
@given(d=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_any_excel_serial_is_the_day_excel_shows(d: date) -> None:
    serial = (d - date(1899, 12, 30)).days
    assert _eval(n.date_value, str(serial)) == d
    assert _eval(n.date_value, d.strftime("%Y%m%d")) == d
    assert _eval(n.date_value, f"{d.year}年{d.month}月") == date(d.year, d.month, 1)
    assert _eval(n.date_precision, f"{d.year}年{d.month}月") == "month"
