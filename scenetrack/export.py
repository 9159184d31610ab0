"""Exports of the published marts for people who open files, not databases.

``scenetrack export --format csv|xlsx|parquet [--mart NAME ...] [--out DIR]``

- **CSV**: UTF-8 *with* a byte-order mark (``utf-8-sig``), so Excel on a Chinese Windows reads
  城市 as 城市 and not as mojibake (without a BOM it assumes the ANSI code page, GBK). Written
  by DuckDB (``COPY ... (FORMAT csv)``): ISO dates, exact decimals, empty cells for NULL.
- **XLSX**: one workbook per mart; numbers are numbers (decimals too), dates are Excel dates,
  booleans are booleans, conversions and shares carry a percent format; the header row is
  frozen and carries each column's description (from dbt, via the published column comments)
  as a cell comment; a second sheet ``columns`` lists name, type and description.
- **Parquet**: DuckDB ``COPY ... (FORMAT parquet)``, so the file has the mart's own schema
  (DECIMAL(18,2) stays decimal, DATE stays date).

Values are made safe for spreadsheets (OWASP, "CSV injection"): a text value that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to Excel, so the CSV writes
it behind a ``'`` and the XLSX writes it as a text cell with Excel's own quote-prefix flag
(every text value is a text cell there); invisible control characters (C0 but tab and line
breaks, illegal in XLSX) are removed from both.

Every export reads the **published** warehouse only, through one read-only connection for all
marts of a run, so a run's files all come from the same version even if a publish swaps the
file meanwhile (the open connection keeps reading the old inode). Each file is written under a
temporary name and renamed into place.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ingestion.reading import CONTROL_CHARACTERS as CONTROL_CHARACTERS_PATTERN
from scenetrack import progress
from scenetrack.config import Paths

FORMATS = ("csv", "xlsx", "parquet")
# A text cell starting with one of these is a formula to Excel and LibreOffice (OWASP):
# = + - @, a tab, a carriage return. One pattern for the SQL of the CSV and the XLSX cells.
FORMULA_PREFIX = r"^[=+\-@\t\r]"
_FORMULA = re.compile(FORMULA_PREFIX)
# The same characters the intake removes (ingestion.reading.CONTROL_CHARACTERS).
CONTROL_CHARACTERS = re.compile(CONTROL_CHARACTERS_PATTERN)
XLSX_MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
META_TABLES = ("publish_info",)
"""Published tables that are not marts: exported only when asked for by name."""

XLSX_MAX_ROWS = 1_048_575  # Excel's row limit minus the header

LABELS = ("zh", "en")
# Code columns and the published label table that names their values (zh and en).
CODE_LABELS: dict[str, tuple[str, str]] = {
    "stage_code": ("dim_stage", "stage_code"),
    "current_stage": ("dim_stage", "stage_code"),
    "from_stage": ("dim_stage", "stage_code"),
    "to_stage": ("dim_stage", "stage_code"),
    "status": ("dim_status", "status_code"),
    "region": ("dim_region", "region_code"),
    "domain_code": ("dim_domain", "domain_code"),
    "technology_code": ("dim_technology", "technology_code"),
}
PERIOD_SHEETS = ("all", "year", "quarter", "month")
"""A table with a ``period_type`` column goes to XLSX as one sheet per grain, in this order."""


@dataclass(frozen=True)
class Column:
    """One exported column: its name in the mart, its header, its SQL, type and description."""

    name: str
    header: str
    sql: str
    dtype: str
    comment: str | None


def _export_columns(
    con: duckdb.DuckDBPyConnection, table: str, labels: str | None, csv: bool
) -> list[Column]:
    """The columns of ``table`` as exported: with ``labels`` (zh or en), headers are the
    report's words for the column (its name where the report has none) and code columns show
    the names from the published label tables (the code where a value has no label)."""
    words: dict[str, str] = {}
    if labels:
        from scenetrack.report.labels import column_words
        from scenetrack.report.labels import labels as report_labels

        words = report_labels(labels) | column_words(labels)
    present = set(published_tables(con))
    out = []
    for name, dtype, comment in _columns(con, table):
        sql = f't."{name}"'
        label_table = CODE_LABELS.get(name)
        if labels and label_table and label_table[0] in present and table != label_table[0]:
            lt, key = label_table
            sql = (
                f'coalesce((select l.name_{labels} from main."{lt}" as l '
                f'where l."{key}" = t."{name}"), {sql})'
            )
        if csv and dtype == "VARCHAR":  # the XLSX writer makes text inert cell by cell
            sql = _safe_text_expr(sql)
        header = words.get(name, name) if labels else name
        out.append(Column(name, header, sql, dtype, comment))
    return out


def _sheets(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, list]]:
    """(sheet name, where clause, parameters) per sheet: one per period grain when the table
    has ``period_type``, else one sheet named after the table."""
    names = [c for c, _, _ in _columns(con, table)]
    if "period_type" not in names:
        return [(table[:31], "true", [])]
    have = {
        v for (v,) in con.execute(f'select distinct period_type from main."{table}"').fetchall()
    }
    return [(g, "t.period_type = ?", [g]) for g in PERIOD_SHEETS if g in have]


def _order_by(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A stable, readable row order: city, then period (all-time first), then the breakdown,
    stage and row key the table has."""
    names = [c for c, _, _ in _columns(con, table)]
    keys = [
        c
        for c in (
            "city_code",
            "period_start",
            "period_label",
            "breakdown",
            "breakdown_value",
            "stage_order",
            "project_key",
            "transition_key",
        )
        if c in names
    ]
    return " order by " + ", ".join(f't."{c}" nulls first' for c in keys) if keys else ""


@dataclass(frozen=True)
class ExportResult:
    version: int | None
    format: str
    files: list[Path]


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def published_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables of the published file (schema ``main``), sorted by name."""
    return [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' "
            "and database_name = current_database() order by table_name"
        ).fetchall()
    ]


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, str | None]]:
    """(name, DuckDB type, description) of each column, in table order."""
    return con.execute(
        "select column_name, data_type, comment from duckdb_columns() "
        "where schema_name = 'main' and table_name = ? and database_name = current_database() "
        "order by column_index",
        [table],
    ).fetchall()


def _safe_text_expr(expr: str) -> str:
    """SQL of a text value as a spreadsheet may show it: control characters removed, a
    formula prefix neutralised with a leading ``'`` (what a CSV needs; the XLSX writer keeps
    the value and sets Excel's quote-prefix flag instead)."""
    clean = f"regexp_replace({expr}, '{CONTROL_CHARACTERS_PATTERN}', '', 'g')"
    quote = "''''"  # the SQL literal of one apostrophe
    return (
        f"case when regexp_matches({clean}, '{FORMULA_PREFIX}') then {quote} || {clean} "
        f"else {clean} end"
    )


def _safe_text_sql(column: str) -> str:
    """:func:`_safe_text_expr` of a column, named after it."""
    return _safe_text_expr(f'"{column}"') + f' as "{column}"'


def write_csv(
    con: duckdb.DuckDBPyConnection, table: str, dest: Path, labels: str | None = None
) -> None:
    """``table`` as CSV in UTF-8 with BOM (header row, comma, ``"`` quoting, NULL empty),
    text values made safe (:func:`_safe_text_sql`); ``labels``: readable headers and names."""
    raw = _tmp(dest)
    tmp = _tmp(dest)
    cols = _export_columns(con, table, labels, csv=True)
    select = ", ".join(f'{c.sql} as "{c.header}"' for c in cols)
    try:
        con.execute(
            f'copy (select {select} from main."{table}" as t{_order_by(con, table)}) to ? '
            "(format csv, header true)",
            [str(raw)],
        )
        with tmp.open("wb") as out, raw.open("rb") as src:
            out.write(b"\xef\xbb\xbf")
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, dest)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def write_parquet(
    con: duckdb.DuckDBPyConnection, table: str, dest: Path, labels: str | None = None
) -> None:
    """``table`` as Parquet with its own column types (and names: ``labels`` is for people,
    Parquet is for tools)."""
    tmp = _tmp(dest)
    try:
        con.execute(
            f'copy (select * from main."{table}" as t{_order_by(con, table)}) to ? '
            "(format parquet)",
            [str(tmp)],
        )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _number_format(name: str, dtype: str) -> str | None:
    t = dtype.upper()
    if t == "DATE":
        return "yyyy-mm-dd"
    if t.startswith("TIMESTAMP"):
        return "yyyy-mm-dd hh:mm:ss"
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        scale = int(m.group(2))
        return "#,##0" + ("." + "0" * scale if scale else "")
    if t in ("DOUBLE", "FLOAT", "REAL") and name.startswith(("conversion_", "share_")):
        return "0.0%"
    return None


def _cell_value(v):
    if isinstance(v, str):
        return CONTROL_CHARACTERS.sub("", v)[:XLSX_MAX_CELL_CHARS]
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, datetime) and v.tzinfo is not None:  # Excel has no time zones
        return v.replace(tzinfo=None)
    return v


def write_xlsx(
    con: duckdb.DuckDBPyConnection, table: str, dest: Path, labels: str | None = None
) -> None:
    """``table`` as typed XLSX sheets (one per period grain when it has ``period_type``) with
    a frozen, commented header row; ``labels``: readable headers and names."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    cols = _export_columns(con, table, labels, csv=False)
    n = con.execute(f'select count(*) from main."{table}"').fetchone()[0]
    if n > XLSX_MAX_ROWS:
        raise RuntimeError(f"{table} has {n:,} rows, more than an Excel sheet holds; use parquet")
    wb = Workbook()
    wb.remove(wb.active)
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDE6F0")
    formats = [_number_format(c.name, c.dtype) for c in cols]
    select = ", ".join(c.sql for c in cols)
    for sheet, where, params in _sheets(con, table):
        ws = wb.create_sheet(sheet)
        for j, c in enumerate(cols, start=1):
            cell = ws.cell(row=1, column=j, value=c.header)
            cell.font = header_font
            cell.fill = header_fill
            cell.alignment = Alignment(vertical="top")
            if c.comment:
                cell.comment = Comment(
                    f"{c.name}: {c.comment}\n({c.dtype})", "scenetrack", width=300, height=90
                )
        cur = con.execute(
            f'select {select} from main."{table}" as t where {where}{_order_by(con, table)}',
            params,
        )
        widths = [max(10, len(c.header) + 2) for c in cols]
        i = 1
        while batch := cur.fetchmany(10_000):
            for row in batch:
                i += 1
                for j, v in enumerate(row, start=1):
                    value = _cell_value(v)
                    cell = ws.cell(row=i, column=j, value=value)
                    if isinstance(value, str):  # text stays text, never a formula
                        cell.data_type = "s"
                        if _FORMULA.match(value):
                            cell.quotePrefix = True
                    fmt = formats[j - 1]
                    if fmt and v is not None:
                        cell.number_format = fmt
                    if isinstance(v, str) and i < 200:
                        w = sum(2 if ord(ch) > 0x2E80 else 1 for ch in v) + 2
                        widths[j - 1] = max(widths[j - 1], min(w, 60))
        for j, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(j)].width = w
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = ws.dimensions

    about = wb.create_sheet("columns")
    about.append(["column", "header", "type", "description"])
    for c in about[1]:
        c.font = header_font
        c.fill = header_fill
    for c in cols:
        about.append([c.name, c.header, c.dtype, c.comment or ""])
    about.freeze_panes = "A2"
    about.column_dimensions["A"].width = 40
    about.column_dimensions["B"].width = 30
    about.column_dimensions["C"].width = 16
    about.column_dimensions["D"].width = 100

    tmp = _tmp(dest)
    try:
        wb.save(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


WRITERS = {"csv": write_csv, "xlsx": write_xlsx, "parquet": write_parquet}


def default_out_dir(p: Paths, fmt: str) -> Path:
    """``<home>/published/exports/<format>``."""
    return p.published_dir / "exports" / fmt


def city_view(p: Paths, city: str) -> duckdb.DuckDBPyConnection:
    """An in-memory database holding what one city may see of the published file
    (:mod:`scenetrack.city_access`): its own rows of every table with per-city figures, the
    national aggregates and the reference lists, with the column comments. A published table
    the rule does not name is left out (fail closed)."""
    from scenetrack.city_access import check_city_code, city_filter

    code = check_city_code(city)
    con = duckdb.connect()
    try:
        con.execute(f"attach '{p.published_db}' as pub (read_only)")
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'pub' "
                "and schema_name = 'main' order by table_name"
            ).fetchall()
        ]
        kept = set()
        for t in names:
            rule = city_filter(t, f"'{code}'")
            if rule is not None:
                con.execute(f'create table main."{t}" as select * from pub.main."{t}" where {rule}')
                kept.add(t)
        for t, c, text in con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = 'pub' and comment is not null"
        ).fetchall():
            if t in kept:
                quoted = "'" + text.replace("'", "''") + "'"
                con.execute(f'comment on column main."{t}"."{c}" is {quoted}')
        con.execute("detach pub")
    except BaseException:
        con.close()
        raise
    return con


def export(
    p: Paths,
    fmt: str,
    marts: list[str] | None = None,
    out_dir: Path | None = None,
    city: str | None = None,
    labels: str | None = None,
) -> ExportResult:
    """Write the published ``marts`` (default: every published table but ``publish_info``)
    in ``fmt`` into ``out_dir`` (default ``<home>/published/exports/<fmt>``), one file each,
    named ``<mart>.<fmt>``.

    ``city``: only what that city may see (:func:`city_view`), for sharing a city's own
    figures with it; default folder ``<home>/published/exports/<fmt>/city_<code>``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if labels is not None and labels not in LABELS:
        raise ValueError(f"labels must be one of {LABELS}, got {labels!r}")
    if not p.published_db.exists():
        raise RuntimeError(f"nothing is published yet ({p.published_db} does not exist)")
    out = Path(out_dir) if out_dir else default_out_dir(p, fmt)
    if city and not out_dir:
        out = out / f"city_{city}"
    out.mkdir(parents=True, exist_ok=True)
    con = city_view(p, city) if city else duckdb.connect(str(p.published_db), read_only=True)
    try:
        available = published_tables(con)
        if marts:
            unknown = [m for m in marts if m not in available]
            if unknown:
                raise RuntimeError(
                    f"not a published table: {', '.join(unknown)}; "
                    f"published: {', '.join(available)}"
                )
            chosen = list(dict.fromkeys(marts))
        else:
            chosen = [t for t in available if t not in META_TABLES]
        version = None
        if "publish_info" in available:
            row = con.execute("select max(version) from main.publish_info").fetchone()
            version = row[0] if row else None
        files = []
        for t in progress.track(chosen, f"export {fmt}", "tables", note=str):
            dest = out / f"{t}.{fmt}"
            WRITERS[fmt](con, t, dest, labels)
            files.append(dest)
    finally:
        con.close()
    return ExportResult(version=version, format=fmt, files=files)


__all__ = [
    "FORMATS",
    "ExportResult",
    "default_out_dir",
    "export",
    "published_tables",
    "write_csv",
    "write_parquet",
    "write_xlsx",
]
