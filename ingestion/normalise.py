"""Vectorised value normalisation, as DuckDB SQL expressions over string columns.

Everything here runs inside one SQL statement per file: no Python loop touches a row.
Each builder takes a SQL expression of the raw text and returns a SQL expression.
"""

from __future__ import annotations

FULLWIDTH = "０１２３４５６７８９．，－／"
HALFWIDTH = "0123456789.,-/"

# An amount: whole digits, or digits in groups of three between commas (1,500,000); an
# optional fraction; an optional unit (a bare number takes the unit of its header; the
# canonical ``amount`` column is in yuan). A comma anywhere else (1,5万) is no amount.
AMOUNT_PATTERN = r"^([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?[ ]*(元|万元|万|亿元|亿)?$"
# How many places each unit moves the decimal point: 1.2345万 is 12345 yuan.
UNIT_DECIMALS = {"元": 0, "万元": 4, "万": 4, "亿元": 8, "亿": 8}
# Yuan are counted to the fen: an amount with more decimals of yuan (0.005元, 1.23456789万)
# is quarantined as bad_amount, never rounded.
YUAN_DECIMALS = 2
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


_EDGE_BLANK = f"^[{BLANKS}]|[{BLANKS}]$"
# Currency words dropped before an amount is read: 人民币, RMB, the yen/yuan sign (U+00A5)
# and its full-width form (U+FFE5).
_AMOUNT_CURRENCY = "人民币|RMB|\u00a5|\uffe5"


def _list(formats: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{f}'" for f in formats) + "]"


# Each value is normalised in stages, so that :mod:`ingestion.load` computes every stage once
# per column (a CTE level each): clean text -> half-width text -> parsed value. The ``*_of``
# builders take the output of the previous stage; the public builders compose them from raw.


def clean_text(expr: str) -> str:
    """Trimmed text (ASCII and ideographic spaces, line breaks), empty string as NULL."""
    trimmed = (
        f"case when regexp_matches({expr}, '{_EDGE_BLANK}') "
        f"then trim({expr}, '{BLANKS}') else {expr} end"
    )
    return f"nullif({trimmed}, '')"


def halfwidth_of(clean: str) -> str:
    """Clean text with full-width digits and punctuation (a Chinese IME's) made half-width."""
    return (
        f"(case when strlen({clean}) = length({clean}) then {clean} "
        f"else translate({clean}, '{FULLWIDTH}', '{HALFWIDTH}') end)"
    )


_LET_DEPTH = [0]


def _let(expr: str, body) -> str:
    """``body(v)`` with ``v`` bound once to ``expr`` (a one-element list lambda), so composed
    builders do not repeat their input. :mod:`ingestion.load` uses CTE stages instead."""
    _LET_DEPTH[0] += 1
    try:
        v = f"v{_LET_DEPTH[0]}"
        return f"list_transform([{expr}], lambda {v}: {body(v)})[1]"
    finally:
        _LET_DEPTH[0] -= 1


def halfwidth(expr: str) -> str:
    """Full-width digits and punctuation (as typed with a Chinese IME) turned half-width."""
    return _let(_let(expr, clean_text), halfwidth_of)


def amount_parts_of(hw: str) -> str:
    """STRUCT(whole, fraction, unit) of half-width amount text; every part is '' when the
    text is no amount (see :data:`AMOUNT_PATTERN`)."""
    s = f"trim(regexp_replace({hw}, '{_AMOUNT_CURRENCY}', '', 'g'))"
    return f"regexp_extract({s}, '{AMOUNT_PATTERN}', ['whole', 'fraction', 'unit'])"


def _decimals_of(multiplier: int) -> int:
    """The places a header's unit multiplier moves the decimal point (10000 -> 4)."""
    places = len(str(multiplier)) - 1
    if multiplier < 1 or 10**places != multiplier:
        raise ValueError(f"a unit multiplier is a power of ten, not {multiplier}")
    return places


def amount_from_parts(parts: str, bare_unit_multiplier: int) -> str:
    """Exact yuan from :func:`amount_parts_of` (a bare number takes the header's unit); NULL
    when the text is no amount or names fractions of a fen (more than
    :data:`YUAN_DECIMALS` decimals once the unit is applied)."""
    units = " ".join(f"when '{u}' then {d}" for u, d in UNIT_DECIMALS.items())
    places = f"(case ({parts}).unit {units} else {_decimals_of(bare_unit_multiplier)} end)"
    multipliers = " ".join(f"when '{u}' then {10**d}" for u, d in UNIT_DECIMALS.items())
    number = (
        f"replace(({parts}).whole, ',', '') || coalesce('.' || nullif(({parts}).fraction, ''), '')"
    )
    multiplier = f"(case ({parts}).unit {multipliers} else {bare_unit_multiplier} end)"
    value = (
        f"try_cast(try_cast(nullif({number}, '') as decimal(38, 10)) * {multiplier} "
        "as decimal(18, 2))"
    )
    fen_exact = f"length(rtrim(({parts}).fraction, '0')) <= {places} + {YUAN_DECIMALS}"
    return f"(case when {fen_exact} then {value} end)"


def amount_of(hw: str, bare_unit_multiplier: int) -> str:
    """Exact yuan from half-width amount text (see :func:`amount_yuan`)."""
    return _let(amount_parts_of(hw), lambda p: amount_from_parts(p, bare_unit_multiplier))


def amount_yuan(expr: str, bare_unit_multiplier: int = 1) -> str:
    """Exact yuan as DECIMAL(18,2); NULL when the text does not parse (see ``amount_ok``).

    Units: 元, 万元/万, 亿元/亿; commas, spaces, 人民币, ¥ and RMB are ignored; a bare number
    is multiplied by ``bare_unit_multiplier`` (the unit of its header, yuan by default).
    """
    return amount_of(halfwidth(expr), bare_unit_multiplier)


def amount_ok(expr: str) -> str:
    """True when the amount is absent or parses into a non-negative yuan value."""
    return f"({clean_text(expr)} is null or {amount_yuan(expr)} is not null)"


def excel_serial_of(hw: str) -> str:
    """An Excel serial day number (45790 -> 2025-05-13); the time fraction is dropped."""
    return (
        f"(case when regexp_matches({hw}, '{EXCEL_SERIAL_PATTERN}') "
        f"then date '{EXCEL_EPOCH}' + cast(floor(cast({hw} as double)) as integer) end)"
    )


def day_of(hw: str) -> str:
    """A day-precision date from half-width text, or NULL."""
    return (
        f"coalesce({excel_serial_of(hw)}, cast(try_strptime({hw}, {_list(DAY_FORMATS)}) as date))"
    )


def month_of(hw: str) -> str:
    """The first of the month from month-precision text (2025年5月), or NULL."""
    return f"cast(try_strptime({hw}, {_list(MONTH_FORMATS)}) as date)"


def date_of(day: str, hw: str) -> str:
    """The date from an already parsed day (or NULL) and the half-width text."""
    return f"(case when {day} is not null then {day} else {month_of(hw)} end)"


def precision_of(day: str) -> str:
    """'day' or 'month' from an already parsed day."""
    return f"(case when {day} is not null then 'day' else 'month' end)"


def in_range_of(value: str) -> str:
    """Dates before 2015 or in the future are not believable reports."""
    return f"({value} between date '{EARLIEST_DATE}' and current_date)"


def excel_serial_date(expr: str) -> str:
    """An Excel serial day number (45790 -> 2025-05-13); the time fraction is dropped."""
    return _let(halfwidth(expr), excel_serial_of)


def date_value(expr: str) -> str:
    """The date: a day, or the first of the month for month-precision dates (2025年5月).

    Day forms: ISO, 2025/5/13, 2025.5.13, 2025年5月13日, 20250513, with or without a time,
    and Excel serial day numbers (45790). Full-width digits are accepted everywhere.
    """
    return _let(halfwidth(expr), lambda hw: _let(day_of(hw), lambda d: date_of(d, hw)))


def date_precision(expr: str) -> str:
    """'day' or 'month', so month-precision dates are never mistaken for the 1st."""
    return _let(halfwidth(expr), lambda hw: _let(day_of(hw), precision_of))


def date_in_range(expr: str) -> str:
    """Dates before 2015 or in the future are not believable reports."""
    return _let(date_value(expr), in_range_of)


def lookup_key_of(clean: str) -> str:
    """:func:`lookup_key` of text already cleaned (:func:`clean_text`)."""
    return f"lower(replace({clean}, ' ', ''))"


def lookup_key(expr: str) -> str:
    """Key for alias look-ups: lower-case, trimmed, internal spaces removed."""
    return lookup_key_of(clean_text(expr))


# Characters that never tell two cities apart: spaces, hyphens, dots, commas, brackets, quotes.
CITY_PUNCT = r"[\s\-_.,，、()（）'’·]"


def city_key(expr: str) -> str:
    """City look-up key: 合肥市, 合肥, Hefei, "Hefei City" and "Suzhou (Anhui)" alike.

    Lower-case, without punctuation and spaces, without a trailing 市 or "city".
    """
    return city_key_of(clean_text(expr))


def city_key_of(clean: str) -> str:
    """:func:`city_key` of text already cleaned (:func:`clean_text`)."""
    punct = CITY_PUNCT.replace("'", "''")
    key = f"lower(regexp_replace({clean}, '{punct}', '', 'g'))"
    return f"regexp_replace({key}, '(市|city)$', '')"


# 终止原因 words that make a termination a failure; any other reason is a withdrawal.
FAIL_WORDS = ("失败", "未通过", "不通过", "fail")
# A failure word that is itself negated (项目未失败, 并非失败, not failed, no failure) says the
# project did NOT fail: it is taken out before the failure words are looked for.
NEGATED_FAILURE = r"(未曾|并未|未|没有|没|不是|并非|非|无|not|no)[ ]*(失败|fail)"


def termination_type_of_reason(reason: str) -> str:
    """'fail' when the termination reason names a failure that is not negated, else
    'withdraw' (the documented default for a reason without 终止类型)."""
    text = f"regexp_replace(lower(coalesce({reason}, '')), '{NEGATED_FAILURE}', '', 'g')"
    fail = "|".join(FAIL_WORDS)
    return f"(case when regexp_matches({text}, '{fail}') then 'fail' else 'withdraw' end)"


# ---------------------------------------------------------------------------------------
# Published lists: planned investment, batches, derived ids (docs/submission_contract.md).

# Planned investment (预计投资) is often an estimate: 约300万, 300万左右. The marker is dropped,
# the amount read as usual and flagged approximate. Words that give no figure (面议, 待定 …)
# are no amount: the value is empty, not an error.
APPROXIMATE_PREFIX = ("约", "大约", "约计", "预计", "估计", "估算", "概算", "近")
APPROXIMATE_SUFFIX = ("左右", "上下", "以上")
NO_FIGURE = ("面议", "待定", "另议", "暂无", "无", "/", "-", "—", "--")
_APPROX_RE = (
    "^(" + "|".join(sorted(APPROXIMATE_PREFIX, key=len, reverse=True)) + ")[ ]*"
    "|[ ]*(" + "|".join(APPROXIMATE_SUFFIX) + ")$"
)


def approximate_stripped_of(hw: str) -> str:
    """Half-width amount text without its approximation marker (约300万 -> 300万)."""
    return f"regexp_replace({hw}, '{_APPROX_RE}', '', 'g')"


def no_figure_of(hw: str) -> str:
    """True when the text is a word that gives no amount (面议, 待定, /)."""
    words = ", ".join(f"'{w}'" for w in NO_FIGURE)
    return f"({hw} in ({words}))"


_ZH_DIGITS = "零一二三四五六七八九"


def zh_numeral(n: int) -> str:
    """1..99 as written in Chinese (二, 十二, 二十, 二十三)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else _ZH_DIGITS[tens] + "十")
    return head + (_ZH_DIGITS[ones] if ones else "")


def batch_label_of(text: str, year_fallback: str) -> str:
    """The batch as one label, ``2025年第2批``: the number (Arabic or Chinese, 首批 is 1) and
    the year the text names, else ``year_fallback`` (the publication year); text without a
    batch number is kept as written."""
    number = f"regexp_extract({text}, '第[ ]*([0-9０-９一二三四五六七八九十两〇零]+)[ ]*批', 1)"
    zh = " ".join(f"when '{zh_numeral(i)}' then {i}" for i in range(1, 100))
    value = (
        f"(case when {text} like '%首批%' then 1 "
        f"when regexp_matches({number}, '^[0-9０-９]+$') "
        f"then try_cast(translate({number}, '０１２３４５６７８９', '0123456789') as integer) "
        f"else (case replace({number}, '两', '二') {zh} end) end)"
    )
    year = f"nullif(regexp_extract({text}, '(20[0-9]{{2}})[ ]*年', 1), '')"
    return (
        f"(case when {text} is null then null when {value} is null then {text} "
        f"else coalesce(coalesce({year}, cast({year_fallback} as varchar)) || '年', '') "
        f"|| '第' || cast({value} as varchar) || '批' end)"
    )


# Full-width ASCII (Ａ-Ｚ, ａ-ｚ, ０-９) as an IME types it, for the name key below.
_FULLWIDTH_ASCII = (
    "".join(chr(c) for c in range(0xFF10, 0xFF1A))
    + "".join(chr(c) for c in range(0xFF21, 0xFF3B))
    + "".join(chr(c) for c in range(0xFF41, 0xFF5B))
)
_ASCII = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def name_key_of(expr: str) -> str:
    """A name as compared when an id is derived from it: full-width letters and digits made
    half-width, lower-case, without spaces, punctuation or symbols (``智慧工厂 （一期）`` and
    ``智慧工厂(一期)`` are one name)."""
    hw = f"translate({expr}, '{_FULLWIDTH_ASCII}', '{_ASCII}')"
    return f"lower(regexp_replace({hw}, '[\\s\\p{{P}}\\p{{S}}]', '', 'g'))"


# Prefixes of derived ids: a scene (opportunity) and a capability.
DERIVED_ID_PREFIX = {"project_id": "SN-", "capability_id": "CN-"}
DERIVED_ID_HEX = 12


def derived_id(prefix: str, city_code: str, names: list[str]) -> str:
    """A stable id for a list row without one: ``SN-`` and the first 12 hex digits of the
    SHA-256 of ``<city code>|<name key>[|<name key>…]`` (the same list sent again gives the
    same ids). NULL when the city or every name is missing."""
    keys = " || '|' || ".join(f"coalesce({name_key_of(n)}, '')" for n in names)
    present = " or ".join(f"{n} is not null" for n in names)
    return (
        f"(case when {city_code} is not null and ({present}) then "
        f"'{prefix}' || upper(substr(sha256({city_code} || '|' || {keys}), 1, {DERIVED_ID_HEX})) "
        "end)"
    )
