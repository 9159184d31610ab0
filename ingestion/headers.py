"""Header recognition: clerks' column names (English or Chinese) onto canonical columns.

The alias table lives in one data file, ``header_aliases.csv`` (layout, column, alias; layout
``all`` applies to every layout that has the column). It is also the published contract:
``docs/submission_contract.md`` is rendered from it by :mod:`ingestion.contract`.

Rows of layout ``personal`` name contact columns (联系人, 联系电话, 邮箱, 手机 …): personal
data, which the readers never copy out of the file. They are *dropped*: named in the receipt,
never stored in raw, the quarantine, the marts or anything published.

A header name is compared after NFKC normalisation (full-width letters, digits and brackets
become half-width), lower-casing and removing all whitespace (line breaks inside wrapped
header cells included) and required-field markers (``*``). An amount header may carry its
unit in brackets, full- or half-width: ``合作金额（万元）``, ``合作金额(元)``,
``金额（单位：亿元）``; the unit then applies to bare numbers in that column.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ingestion.layouts import LAYOUTS, Layout

ALIASES_FILE = Path(__file__).with_name("header_aliases.csv")
UNIT_MULTIPLIERS = {"元": 1, "万元": 10_000, "万": 10_000, "亿元": 100_000_000, "亿": 100_000_000}
_UNIT_RE = re.compile(r"^(?P<base>.+?)\((?:单位:?)?(?P<unit>元|万元|万|亿元|亿)\)$")
# Column kinds whose bare numbers take the unit a header names (合作金额（万元）, 预计投资（万元）).
AMOUNT_KINDS = frozenset({"amount", "planned_amount"})
# How many non-blank rows at the top of a file may hold titles before the header.
MAX_HEADER_SEARCH_ROWS = 10


def header_key(text: object) -> str:
    """Comparable form of a header cell: NFKC, lower-case, no whitespace, no ``*`` markers."""
    s = unicodedata.normalize("NFKC", "" if text is None else str(text)).lower()
    s = re.sub(r"\s+", "", s)
    return s.strip("*※")


def split_unit(text: object) -> tuple[str, str | None]:
    """(header key without its unit, unit or None): ``合作金额（万元）`` -> (合作金额, 万元)."""
    key = header_key(text)
    m = _UNIT_RE.match(key)
    if m:
        return m.group("base"), m.group("unit")
    return key, None


@dataclass(frozen=True)
class Alias:
    layout: str
    column: str
    alias: str


@cache
def aliases() -> tuple[Alias, ...]:
    """Every row of ``header_aliases.csv``, in file order."""
    with ALIASES_FILE.open(encoding="utf-8", newline="") as f:
        return tuple(Alias(r["layout"], r["column"], r["alias"]) for r in csv.DictReader(f))


PERSONAL = "personal"
"""The ``layout`` of header_aliases.csv rows that name personal-data (contact) columns."""


@cache
def personal_keys() -> frozenset[str]:
    """Header keys of contact columns (personal data): dropped, never read."""
    return frozenset(header_key(a.alias) for a in aliases() if a.layout == PERSONAL)


@cache
def _excluded_map(layout_name: str) -> dict[str, str]:
    """header key -> column, for the columns of other layouts that ``layout_name`` excludes."""
    layout = next(lay for lay in LAYOUTS if lay.name == layout_name)
    out: dict[str, str] = {}
    for other in LAYOUTS:
        if other is layout:
            continue
        for key, col in alias_map(other.name).items():
            if col in layout.excludes:
                out.setdefault(key, col)
    return out


@cache
def alias_map(layout_name: str) -> dict[str, str]:
    """header key -> canonical column, for one layout (its own rows plus ``all`` rows)."""
    layout = next(lay for lay in LAYOUTS if lay.name == layout_name)
    out: dict[str, str] = {c: c for c in layout.column_names}
    for a in aliases():
        if a.layout in ("all", layout_name) and a.column in layout.column_names:
            key = header_key(a.alias)
            if out.setdefault(key, a.column) != a.column:
                raise ValueError(f"header alias {a.alias!r} names two {layout_name} columns")
    return out


@dataclass(frozen=True)
class HeaderMatch:
    """A header row recognised as a layout.

    ``positions``: canonical column -> index of its cell in the row (the first cell wins when
    two cells name the same column). ``written``: canonical column -> the header text as the
    file wrote it (for receipts). ``units``: amount column -> multiplier for bare numbers.
    ``ignored``: header texts that name no column of the layout (kept out of the load).
    ``dropped``: header texts of contact columns (personal data), never read.
    """

    layout: Layout
    positions: dict[str, int]
    written: dict[str, str]
    units: dict[str, int] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    dropped_positions: tuple[int, ...] = ()


def match_header(cells: list[object]) -> HeaderMatch | None:
    """The first layout (in :data:`ingestion.layouts.LAYOUTS` order) this header satisfies:
    it carries the layout's required columns (those the context cannot give) and none of the
    columns the layout excludes."""
    personal = personal_keys()
    for layout in LAYOUTS:
        amap = alias_map(layout.name)
        excluded = _excluded_map(layout.name)
        positions: dict[str, int] = {}
        written: dict[str, str] = {}
        units: dict[str, int] = {}
        ignored: list[str] = []
        dropped: list[tuple[int, str]] = []
        excluding = False
        for i, cell in enumerate(cells):
            text = "" if cell is None else " ".join(str(cell).split())
            if not text:
                continue
            key, unit = split_unit(cell)
            col = amap.get(key) or amap.get(header_key(cell))
            if col is None and header_key(cell) in personal:
                dropped.append((i, text))
                continue
            if col is None and (key in excluded or header_key(cell) in excluded):
                excluding = True
                break
            if col is None or col in positions:
                ignored.append(text)
                continue
            positions[col] = i
            written[col] = text
            if unit is not None and layout.column(col).kind in AMOUNT_KINDS:
                units[col] = UNIT_MULTIPLIERS[unit]
        if excluding:
            continue
        if all(c in positions for c in layout.required_in_header) and (
            not layout.required_any or any(c in positions for c in layout.required_any)
        ):
            return HeaderMatch(
                layout,
                positions,
                written,
                units,
                tuple(ignored),
                tuple(t for _, t in dropped),
                tuple(i for i, _ in dropped),
            )
    return None


def header_with_merges(rows: list[list[object]], i: int) -> list[object]:
    """Row ``i`` as a header, an empty cell taking the value of the cell above it.

    A header cell merged over two rows (城市 spanning rows 2-3 above a row of stage dates)
    keeps its value in the upper row only; the lower row is the real header.
    """
    row = list(rows[i])
    if i == 0:
        return row
    above = rows[i - 1]
    for j, cell in enumerate(row):
        if (cell is None or str(cell).strip() == "") and j < len(above):
            row[j] = above[j]
    return row


def find_header(rows: list[list[object]]) -> tuple[int, HeaderMatch] | None:
    """(index into ``rows``, match) of the first row that is a recognised header.

    ``rows`` are the first non-blank rows of the file (titles such as
    ``2025年无锡市场景项目台账`` may come first). Each row is tried as-is and with merged
    cells from the row above filled in; the reading that names more columns wins (as-is on a
    tie). A match is then checked against the next row: the upper row of a two-row header
    (``城市 | 项目编号 | 阶段日期`` over ``发布日期 | 验证日期``) can pass for a short list
    header on its own, and the lower row, merged, names more columns.
    """
    last = min(len(rows), MAX_HEADER_SEARCH_ROWS)
    for i in range(last):
        m = _best_reading(rows, i)
        if m is None:
            continue
        below = _best_reading(rows, i + 1) if i + 1 < last else None
        if below is not None and len(below.positions) > len(m.positions):
            return i + 1, below
        return i, m
    return None


def _best_reading(rows: list[list[object]], i: int) -> HeaderMatch | None:
    """Row ``i`` read as-is or with the merged cells of the row above, whichever names more
    columns (as-is on a tie; None when neither is a header)."""
    as_is = match_header(rows[i])
    merged = match_header(header_with_merges(rows, i)) if i > 0 else None
    if merged is not None and (as_is is None or len(merged.positions) > len(as_is.positions)):
        return merged
    return as_is


def expected_header_text() -> str:
    """What the recognised layouts need, for an ``unknown_layout`` rejection message."""
    parts = []
    for layout in LAYOUTS:
        zh: dict[str, str] = {}
        for a in aliases():
            if a.layout in ("all", layout.name) and not a.alias.isascii():
                zh.setdefault(a.column, a.alias)

        def shown(c: str, zh: dict[str, str] = zh) -> str:
            return f"{c} ({zh[c]})" if c in zh else c

        need = [shown(c) for c in layout.required_in_header]
        if layout.required_any:
            need.append(" or ".join(shown(c) for c in layout.required_any))
        parts.append(f"{layout.name} needs " + ", ".join(need))
    return "; ".join(parts)
