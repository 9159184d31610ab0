"""Vectorised value normalisation, as DuckDB SQL expressions over string columns.

Everything here runs inside one SQL statement per file: no Python loop touches a row.
Each builder takes a SQL expression of the raw text and returns a SQL expression.
"""

from __future__ import annotations

FULLWIDTH = "０１２３４５６７８９．，－／"
HALFWIDTH = "0123456789.,-/"

# Amount units; a bare number takes the unit of its header (canonical ``amount`` is in yuan).
AMOUNT_PATTERN = r"^([0-9]+(?:\.[0-9]+)?)(元|万元|万|亿元|亿)?$"
DAY_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%Y年%m月%d日",
    "%Y%m%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
)
MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y年%m月")
EARLIEST_DATE = "2015-01-01"
# Excel's day 0 in the 1900 date system (Excel counts a phantom 1900-02-29, hence the 30th).
EXCEL_EPOCH = "1899-12-30"
# An Excel serial day written as a number: five digits (1927-2173), optional time fraction.
EXCEL_SERIAL_PATTERN = r"^[0-9]{5}(\.[0-9]+)?$"
# Whitespace trimmed from every value: ASCII blanks and the ideographic space U+3000.
BLANKS = " \t\r\n\u3000"


def clean_text(expr: str) -> str:
    """Trimmed text (ASCII and ideographic spaces, line breaks), empty string as NULL."""
    return f"nullif(trim({expr}, '{BLANKS}'), '')"


def halfwidth(expr: str) -> str:
    """Full-width digits and punctuation (as typed with a Chinese IME) turned half-width."""
    return f"translate({clean_text(expr)}, '{FULLWIDTH}', '{HALFWIDTH}')"


def amount_cleaned(expr: str) -> str:
    """Amount text without separators, spaces and currency words."""
    s = halfwidth(expr)
    for junk in (",", " ", "人民币", "¥", "￥", "RMB"):
        s = f"replace({s}, '{junk}', '')"
    return s


def amount_yuan(expr: str, bare_unit_multiplier: int = 1) -> str:
    """Exact yuan as DECIMAL(18,2); NULL when the text does not parse (see ``amount_ok``)."""
    s = amount_cleaned(expr)
    num = f"try_cast(regexp_extract({s}, '{AMOUNT_PATTERN}', 1) as decimal(38, 6))"
    unit = f"regexp_extract({s}, '{AMOUNT_PATTERN}', 2)"
    mult = (
        f"(case {unit} when '亿元' then 100000000 when '亿' then 100000000 "
        f"when '万元' then 10000 when '万' then 10000 when '元' then 1 "
        f"else {bare_unit_multiplier} end)"
    )
    return f"try_cast({num} * {mult} as decimal(18, 2))"


def amount_ok(expr: str) -> str:
    """True when the amount is absent or parses into a non-negative yuan value."""
    return f"({clean_text(expr)} is null or {amount_yuan(expr)} is not null)"


def _parse(expr: str, formats: tuple[str, ...]) -> str:
    s = halfwidth(expr)
    tries = ", ".join(f"try_strptime({s}, '{f}')" for f in formats)
    return f"cast(coalesce({tries}) as date)"


def excel_serial_date(expr: str) -> str:
    """An Excel serial day number (45790 -> 2025-05-13); the time fraction is dropped."""
    s = halfwidth(expr)
    return (
        f"(case when regexp_matches({s}, '{EXCEL_SERIAL_PATTERN}') "
        f"then date '{EXCEL_EPOCH}' + cast(floor(cast({s} as double)) as integer) end)"
    )


def _day(expr: str) -> str:
    return f"coalesce({excel_serial_date(expr)}, {_parse(expr, DAY_FORMATS)})"


def date_value(expr: str) -> str:
    """The date: a day, or the first of the month for month-precision dates (2025年5月).

    Day forms: ISO, 2025/5/13, 2025.5.13, 2025年5月13日, 20250513, with or without a time,
    and Excel serial day numbers (45790). Full-width digits are accepted everywhere.
    """
    return f"coalesce({_day(expr)}, {_parse(expr, MONTH_FORMATS)})"


def date_precision(expr: str) -> str:
    """'day' or 'month', so month-precision dates are never mistaken for the 1st."""
    return f"(case when {_day(expr)} is not null then 'day' else 'month' end)"


def date_in_range(expr: str) -> str:
    """Dates before 2015 or in the future are not believable reports."""
    d = date_value(expr)
    return f"({d} between date '{EARLIEST_DATE}' and current_date)"


def lookup_key(expr: str) -> str:
    """Key for alias look-ups: lower-case, trimmed, internal spaces removed."""
    return f"lower(replace({clean_text(expr)}, ' ', ''))"


# Characters that never tell two cities apart: spaces, hyphens, dots, commas, brackets, quotes.
CITY_PUNCT = r"[\s\-_.,，、()（）'’·]"


def city_key(expr: str) -> str:
    """City look-up key: 合肥市, 合肥, Hefei, "Hefei City" and "Suzhou (Anhui)" alike.

    Lower-case, without punctuation and spaces, without a trailing 市 or "city".
    """
    punct = CITY_PUNCT.replace("'", "''")
    key = f"lower(regexp_replace({clean_text(expr)}, '{punct}', '', 'g'))"
    return f"regexp_replace({key}, '(市|city)$', '')"
