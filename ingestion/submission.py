"""What every reader shares: the limits, the rejection, the submission and its table of rows.

:mod:`ingestion.reading` (CSV, JSON Lines) and :mod:`ingestion.xlsx` both build a
:class:`Submission` through :class:`Columns`; this module is below both of them, so neither
imports the other's internals (``reading`` only calls into ``xlsx`` to read a workbook).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingestion.headers import MAX_HEADER_SEARCH_ROWS, HeaderMatch, expected_header_text
from ingestion.headers import find_header as _find_header
from ingestion.layouts import Layout

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_ROWS = 5_000_000
MAX_COLUMNS = 256
MAX_PROBLEM_VALUE_CHARS = 500
PROBLEM_COLUMNS = ("__problem", "__problem_column", "__problem_value")


class RejectedFile(Exception):
    """The file cannot be read as a table at all; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What one submission may be; over a limit, the file is rejected before it is expanded."""

    max_bytes: int = MAX_FILE_BYTES
    max_rows: int = MAX_ROWS
    max_columns: int = MAX_COLUMNS
    max_xlsx_uncompressed: int = 1024 * 1024 * 1024
    max_xlsx_ratio: int = 200
    max_xlsx_members: int = 10_000
    # A file dropped in the landing folder may not be a symbolic link (a link to /etc/passwd
    # must never be read); a path an operator names on the command line may.
    follow_symlinks: bool = True


@dataclass
class Submission:
    """A file read into rows: format, header match and the table of strings."""

    path: Path
    sha256: str
    size: int
    format: str  # csv | xlsx | jsonl
    encoding: str | None
    match: HeaderMatch
    table: pa.Table
    sheet: str | None = None
    header_line: int | None = None
    notes: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)  # title rows above the header, as text
    context: Any = None  # ingestion.context.FileContext, once read (ingestion.load)

    @property
    def layout(self) -> Layout:
        return self.match.layout


def title_text(cells: Iterable[object]) -> str:
    """A title row as one line of text: its non-blank cells, in order."""
    return " ".join(" ".join(str(c).split()) for c in cells if c is not None and str(c).strip())


def cell_text(value: object) -> str:
    """A cell (XLSX) or JSON value as the text a clerk would have typed.

    Numbers keep their exact decimal digits (no float noise, no exponent), dates become ISO
    (a midnight datetime is a day), anything structured is kept as JSON text.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def is_blank(cells: Iterable[object]) -> bool:
    return all(c is None or str(c).strip() == "" for c in cells)


def truncate_problem_value(text: str) -> str:
    return text if len(text) <= MAX_PROBLEM_VALUE_CHARS else text[:MAX_PROBLEM_VALUE_CHARS] + "…"


@dataclass
class Columns:
    """Column-wise accumulation of rows (the readers append; no value is interpreted)."""

    match: HeaderMatch
    limits: Limits
    values: dict[str, list[str]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)
    problems: tuple[list, list, list] = field(default_factory=lambda: ([], [], []))

    def __post_init__(self) -> None:
        self.values = {c: [] for c in self.match.positions}

    def add(self, line: int, cells: list[object], problem: tuple | None = None) -> None:
        if len(self.lines) >= self.limits.max_rows:
            raise RejectedFile(
                "too_many_rows", f"the file has more than {self.limits.max_rows} rows"
            )
        self.lines.append(line)
        n = len(cells)
        for col, pos in self.match.positions.items():
            self.values[col].append(cell_text(cells[pos]) if pos < n else "")
        for lst, v in zip(self.problems, problem or (None, None, None), strict=True):
            lst.append(v)

    def table(self) -> pa.Table:
        arrays = {c: pa.array(v, type=pa.string()) for c, v in self.values.items()}
        arrays["__line"] = pa.array(self.lines, type=pa.int64())
        for name, lst in zip(PROBLEM_COLUMNS, self.problems, strict=True):
            arrays[name] = pa.array(lst, type=pa.string())
        return pa.table(arrays)


def find_header(
    rows: list[tuple[int, list[object]]], first_cells: list[object] | None = None
) -> tuple[int, HeaderMatch]:
    """(index into ``rows``, match); raise ``unknown_layout`` naming what was found."""
    found = _find_header([cells for _, cells in rows])
    if found is not None:
        return found
    seen = first_cells if first_cells is not None else (rows[0][1] if rows else [])
    shown = ", ".join(" ".join(str(c).split()) for c in seen if c is not None and str(c).strip())
    raise RejectedFile(
        "unknown_layout",
        f"no header row in the first {MAX_HEADER_SEARCH_ROWS} rows matches a known layout "
        f"(first row: {shown[:300] or 'blank'}); {expected_header_text()}",
    )
