"""Load one submission into the raw layer and account for every row.

Each file ends in the ledger exactly once (keyed by content hash); each of its rows ends in
exactly one place: the layout's raw table, or ``raw.quarantine`` with the column, raw value and
a reason code. ``rows_read = rows_loaded + rows_quarantined`` for every loaded file. The whole
file is written in one transaction, so a crash never leaves half a file behind.

Every format (CSV, XLSX, JSON Lines) arrives as the same Arrow table of strings
(:mod:`ingestion.reading`) and is normalised by one SQL statement (:func:`_normalise_sql`):
what needs parsing or a look-up is worked out once per distinct value and joined back to the
rows. :func:`ingest_files` reads files a batch at a time and normalises the files of a batch
that share a layout and columns together (one statement for a hundred small files), then
writes each file in its own transaction, in the order given; a large file is normalised while
it is inserted, without an intermediate table.

A *ledger* (台账) row is one project with a date per stage. It is loaded or quarantined as a
whole (its rows are what the clerk counts) and turned into events in SQL:

- one ``enter`` event per filled stage date (发布/验证/应用/推广日期);
- the amount (合作金额, the project's current amount) on the application event, or on the
  furthest stage's event when no application date is filled;
- when 终止日期 is filled, one termination event at the furthest stage entered: ``fail`` or
  ``withdraw`` as 终止类型 says; without 终止类型, ``fail`` when 终止原因 mentions a failure
  that is not negated (失败, 未通过, 不通过, fail; but not 未失败 or "not failed": see
  :func:`ingestion.normalise.termination_type_of_reason`), otherwise ``withdraw``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import normalise as n
from ingestion.arrow_memory import allocating_from_intake_pool
from ingestion.layouts import LEDGER, LEDGER_STAGE_DATES, Column, Layout
from ingestion.printable import printable
from ingestion.reading import (
    Limits,
    RejectedFile,
    Submission,
    check_size,
    read_submission,
    sha256_of,
)
from ingestion.reference import register_reference
from scenetrack.faults import checkpoint

# The long-field limit: a value longer than an Excel cell holds (32,767 characters) is no
# clerk's entry; its row is quarantined (value_too_long), so every export can show every value.
MAX_VALUE_CHARS = 32_767
# Every time the intake writes is UTC, whatever the process's time zone (TZ) says.
UTC_NOW = "timezone('UTC', now())"
KIND_TO_ALIAS = {"stage", "event_type", "end_type", "domain", "technology"}
# Kinds normalised over distinct values (parsed or looked up); the others are free text.
MAPPED_KINDS = frozenset({"city", "date", "amount", *KIND_TO_ALIAS})


@dataclass
class Receipt:
    """What happened to one submitted file: the answer a city clerk gets back."""

    file: str
    sha256: str | None
    status: str  # loaded | duplicate | rejected
    layout: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    reason: str | None = None
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    format: str | None = None
    sheet: str | None = None
    header_line: int | None = None
    events_loaded: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # header as written -> column
    ignored_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    receipt_json: str | None = None
    receipt_xlsx: str | None = None
    load_id: int | None = None  # the file's place in the load sequence (loaded files only)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def reason_code(self) -> str | None:
        return self.reason.split(":", 1)[0] if self.reason else None

    def line(self) -> str:
        """One readable line for the CLI and the task log (the file's name and the reason
        escaped: they come from the file and must not forge lines)."""
        if self.status == "rejected":
            return f"REJECTED {printable(self.file)}: {printable(self.reason)}"
        return (
            f"{self.status:<9} {printable(self.file)}: read {self.rows_read}, "
            f"loaded {self.rows_loaded}, "
            f"quarantined {self.rows_quarantined}, duplicate {self.rows_duplicate}"
        )


def _safe_name(name: str) -> str:
    """A file name that cannot escape the archive folder."""
    base = Path(name).name or "submission"
    return re.sub(r"[^\w.\-]", "_", base)[:120]


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_map_sql(col: Column, unit: int) -> str:
    """``(raw, clean, val[, prec])`` for each *distinct* value of ``src``'s column ``col``.

    Cleaning, half-width conversion, parsing and look-ups run once per distinct value, not
    once per row: a million-row file holds a few thousand dates and a few hundred cities.
    ``raw`` is the text as read (the join key back to the rows), ``clean`` the trimmed text
    (NULL when empty), ``val`` the normalised value (NULL when it does not parse or resolve),
    ``prec`` a date's precision.
    """
    distinct = f'(select distinct src."{col.name}" as raw from src)'
    cleaned = f"(select raw, {n.clean_text('raw')} as clean from {distinct})"
    if col.kind == "city":
        return (
            f"select c.raw, c.clean, r.city_code as val from {cleaned} c "
            f"left join ref_city r on r.alias_key = {n.city_key_of('c.clean')}"
        )
    if col.kind in KIND_TO_ALIAS:
        return (
            f"select c.raw, c.clean, r.code as val from {cleaned} c left join ref_alias r "
            f"on r.kind = '{col.kind}' and r.alias_key = {n.lookup_key_of('c.clean')}"
        )
    halfwidth = f"(select raw, clean, {n.halfwidth_of('clean')} as hw from {cleaned})"
    if col.kind == "date":
        return (
            f"select raw, clean, {n.date_of('day', 'hw')} as val, {n.precision_of('day')} as prec "
            f"from (select raw, clean, hw, {n.day_of('hw')} as day from {halfwidth})"
        )
    return (
        f"select raw, clean, {n.amount_from_parts('parts', unit)} as val "
        f"from (select raw, clean, {n.amount_parts_of('hw')} as parts from {halfwidth})"
    )


_ABSENT_VALUE = {"date": "cast(null as date)", "amount": "cast(null as decimal(18, 2))"}


def _normalise_sql(layout: Layout, header: set[str], units: dict[str, int] | None = None) -> str:
    """One SELECT that normalises every column and names the first problem of each row.

    ``header``: the columns the source table carries (others are NULL). ``units``: amount
    column -> multiplier for bare numbers (from a header such as 合作金额（万元）). A problem the
    reader found (``__problem``, e.g. bad_json) comes first. ``src.__file`` (which file of a
    batch a row comes from) is passed through.

    Columns that need parsing or a look-up (city, codes, dates, amounts) are normalised over
    their distinct values (:func:`_value_map_sql`) and joined back to the rows on the text as
    read; free-text columns arrive trimmed (:func:`_trimmed_source`) and only turn empty text
    into NULL here. Per row, the statement is hash joins and one CASE.
    """
    units = units or {}
    cols = layout.columns
    s1 = ["src.__file as __file", "src.__line as source_line"]
    if "__problem" in header:
        s1 += [
            "src.__problem as reader_reason",
            "src.__problem_column as reader_column",
            "src.__problem_value as problem_value",
        ]
    else:
        s1 += [f"cast(null as varchar) as {c}" for c in ("reader_reason", "reader_column")]
        s1 += ["cast(null as varchar) as problem_value"]
    joins: list[str] = []
    for c in cols:
        mapped = c.kind in MAPPED_KINDS
        if c.name not in header:
            s1.append(f"cast(null as varchar) as raw__{c.name}")
            if mapped:
                s1.append(f"{_ABSENT_VALUE.get(c.kind, 'cast(null as varchar)')} as val__{c.name}")
            if c.kind == "date":
                s1.append(f"'month' as prec__{c.name}")
        elif mapped:
            m = f"m_{c.name}"
            values = _value_map_sql(c, units.get(c.name, 1))
            joins.append(f'left join ({values}) {m} on {m}.raw = src."{c.name}"')
            s1.append(f"{m}.clean as raw__{c.name}")
            s1.append(f"{m}.val as val__{c.name}")
            if c.kind == "date":
                s1.append(f"{m}.prec as prec__{c.name}")
        else:
            s1.append(f"nullif(src.\"{c.name}\", '') as raw__{c.name}")

    selects = [
        "__file",
        "source_line",
        "reader_reason is not null as reader_problem",
        "problem_value",
    ]
    checks = [("reader_reason is not null", "reader_reason", "reader_column")]
    for col in cols:
        raw = f"raw__{col.name}"
        target = col.target or col.name
        value = f"val__{col.name}" if col.kind in MAPPED_KINDS else raw
        reason = {"city": "unknown_city", "date": "bad_date", "amount": "bad_amount"}.get(
            col.kind, f"unknown_{col.kind}" if col.kind in KIND_TO_ALIAS else ""
        )
        selects.append(raw)
        selects.append(f"{value} as {target}")
        if col.required:
            checks.append((f"{raw} is null", "'missing_required'", f"'{col.name}'"))
        if reason:
            checks.append(
                (f"{raw} is not null and {value} is null", f"'{reason}'", f"'{col.name}'")
            )
        if col.kind == "date":
            selects.append(f"prec__{col.name} as {target}_precision")
            checks.append(
                (
                    f"{value} is not null and not {n.in_range_of(value)}",
                    "'date_out_of_range'",
                    f"'{col.name}'",
                )
            )
    for col in cols:  # the long-field limit (docs/submission_contract.md)
        raw = f"raw__{col.name}"
        checks.append(
            (
                f"strlen({raw}) > {MAX_VALUE_CHARS} and length({raw}) > {MAX_VALUE_CHARS}",
                "'value_too_long'",
                f"'{col.name}'",
            )
        )
    if layout.required_any:
        named = next((c for c in layout.required_any if c in header), layout.required_any[0])
        none = " and ".join(f"raw__{c} is null" for c in layout.required_any)
        checks.append((none, "'missing_required'", f"'{named}'"))
    if layout is LEDGER:
        checks.append(
            (
                "raw__end_date is null "
                "and (raw__end_type is not null or raw__end_reason is not null)",
                "'missing_required'",
                "'end_date'",
            )
        )
    reason_sql = " ".join(f"when {c} then {r}" for c, r, _ in checks)
    column_sql = " ".join(f"when {c} then {name}" for c, _, name in checks)
    selects.append(f"case {reason_sql} end as reason")
    selects.append(f"case {column_sql} end as reason_column")
    return f"select {', '.join(selects)} from (select {', '.join(s1)} from src {' '.join(joins)}) s"


def _trimmed_source(table: pa.Table, layout: Layout) -> pa.Table:
    """The reader's table with free-text columns trimmed of blanks (Arrow, vectorised).

    The same trim as :func:`ingestion.normalise.clean_text` (ASCII blanks, line breaks and
    the ideographic space at either end); Arrow's kernel is far cheaper per row than SQL's.
    Columns normalised over distinct values are left as read: they are cleaned in SQL once
    per distinct value.
    """
    for c in layout.columns:
        if c.kind not in MAPPED_KINDS and c.name in table.column_names:
            i = table.schema.get_field_index(c.name)
            table = table.set_column(i, c.name, pc.utf8_trim(table.column(i), n.BLANKS))
    return table


def _insert_loaded(
    con: duckdb.DuckDBPyConnection, norm: _Normalised, s: Submission, load_id: int
) -> int:
    """The file's rows without a problem into the layout's raw table; returns the rows."""
    layout = norm.layout
    targets = [c.target or c.name for c in layout.columns]
    extra = [
        f"{c.target or c.name}_precision" for c in layout.columns if c.kind == "date" and c.required
    ]
    raw_cols = {"city": "city_raw", "amount": "amount_raw"}
    raw_targets = [raw_cols[c.name] for c in layout.columns if c.name in raw_cols]
    raw_sources = [f"raw__{c.name}" for c in layout.columns if c.name in raw_cols]
    cols = [
        "source_file_sha256",
        "source_file_name",
        "source_line",
        *targets,
        *extra,
        *raw_targets,
        "loaded_at",
        "load_id",
    ]
    vals = ["?", "?", "source_line", *targets, *extra, *raw_sources, UTC_NOW, "?"]
    if norm.source is None:
        source, params = f"{norm.table} where __file = ? and", [norm.index[id(s)]]
    else:  # the one file's normalising SELECT (a filter on __file would upset its join order)
        source, params = f"({norm.sql}) where", []
    return con.execute(
        f"insert into {layout.table} ({', '.join(cols)}) "
        f"select {', '.join(vals)} from {source} reason is null",
        [s.sha256, s.path.name, load_id, *params],
    ).fetchone()[0]


def _insert_ledger_events(
    con: duckdb.DuckDBPyConnection, norm: _Normalised, s: Submission, load_id: int
) -> int:
    """Ledger rows without a problem, turned into events (see the module doc); returns events."""
    stages = ", ".join(f"('{code}', {i})" for i, (_, code) in enumerate(LEDGER_STAGE_DATES, 1))
    date_of = " ".join(f"when '{code}' then {col}" for col, code in LEDGER_STAGE_DATES)
    precision_of = " ".join(
        f"when '{code}' then {col}_precision" for col, code in LEDGER_STAGE_DATES
    )
    common = (
        "?, ?, source_line, city_code, raw__city, project_id, project_name, domain_code, "
        "technology_code, demand_owner, supplier, stage_code"
    )
    sql = f"""
        insert into raw.events (
            source_file_sha256, source_file_name, source_line, city_code, city_raw, project_id,
            project_name, domain_code, technology_code, demand_owner, supplier, stage_code,
            event_type, event_date, event_date_precision, amount_yuan, amount_raw, reported_at,
            end_reason, loaded_at, load_id)
        with entered as (
            select norm.*, s.stage_code, s.stage_order,
                   case s.stage_code {date_of} end as stage_date,
                   case s.stage_code {precision_of} end as stage_date_precision
            from {norm.table} norm cross join (values {stages}) s(stage_code, stage_order)
            where norm.__file = ? and norm.reason is null
        ),
        filled as (
            select *,
                   max(stage_order) over (partition by source_line) as top_order,
                   bool_or(stage_code = 'application') over (partition by source_line) as has_app
            from entered where stage_date is not null
        ),
        events as (
            select {common}, 'enter' as event_type, stage_date, stage_date_precision,
                   case when stage_code = 'application' or (not has_app and stage_order = top_order)
                        then amount_yuan end as amount_yuan,
                   case when stage_code = 'application' or (not has_app and stage_order = top_order)
                        then raw__amount end as amount_raw,
                   reported_at, null as end_reason
            from filled
            union all
            select {common},
                   coalesce(end_type, {n.termination_type_of_reason("raw__end_reason")}),
                   end_date, end_date_precision, null, null, reported_at, end_reason
            from filled where stage_order = top_order and end_date is not null
        )
        select *, {UTC_NOW}, ? from events
    """
    params = [norm.index[id(s)], s.sha256, s.path.name, s.sha256, s.path.name, load_id]
    return con.execute(sql, params).fetchone()[0]


def _insert_quarantined(con: duckdb.DuckDBPyConnection, norm: _Normalised, s: Submission) -> None:
    layout = norm.layout
    raw_value = " ".join(f"when '{c.name}' then raw__{c.name}" for c in layout.columns)
    written = " ".join(f"when '{c}' then {_sql_str(text)}" for c, text in s.match.written.items())
    source_column = f"case reason_column {written} end" if written else "null"
    con.execute(
        f"""insert into raw.quarantine (source_file_sha256, source_file_name, layout,
                source_line, column_name, raw_value, reason, quarantined_at, source_column)
            select ?, ?, ?, source_line, reason_column,
                   case when reader_problem then problem_value
                        else case reason_column {raw_value} end end,
                   reason, {UTC_NOW}, {source_column}
            from {norm.table} where __file = ? and reason is not null""",
        [s.sha256, s.path.name, layout.name, norm.index[id(s)]],
    )


_LEDGER_COLUMNS = (
    "file_sha256, file_name, file_size, layout, encoding, rows_read, rows_loaded, "
    "rows_quarantined, status, reason, archived_path, first_seen_at, last_seen_at, times_seen, "
    "file_format, sheet_name, load_id"
)
_LEDGER_VALUES = f"values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {UTC_NOW}, {UTC_NOW}, 1, ?, ?, ?)"
_LEDGER_UPDATE = """
    on conflict (file_sha256) do update set
        file_name = excluded.file_name, layout = excluded.layout,
        encoding = excluded.encoding, rows_read = excluded.rows_read,
        rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
        status = excluded.status, reason = excluded.reason,
        archived_path = excluded.archived_path, last_seen_at = excluded.last_seen_at,
        times_seen = raw.file_ledger.times_seen + 1,
        file_format = excluded.file_format, sheet_name = excluded.sheet_name,
        load_id = excluded.load_id"""


def _ledger(
    con: duckdb.DuckDBPyConnection,
    r: Receipt,
    size: int,
    archived: str | None,
    new: bool = False,
) -> None:
    """Record the file in the ledger. ``new``: the caller knows no row holds this hash (a
    plain INSERT, cheaper than the upsert that updates a row left by an earlier rejection)."""
    con.execute(
        f"insert into raw.file_ledger ({_LEDGER_COLUMNS}) {_LEDGER_VALUES}"
        + ("" if new else _LEDGER_UPDATE),
        [
            r.sha256,
            r.file,
            size,
            r.layout,
            r.encoding,
            r.rows_read,
            r.rows_loaded,
            r.rows_quarantined,
            r.status,
            r.reason,
            archived,
            r.format,
            r.sheet,
            r.load_id,
        ],
    )


def _ledger_statuses(con: duckdb.DuckDBPyConnection, shas: list[str]) -> dict[str, str]:
    """Ledger status of each hash already recorded (one query for a whole batch)."""
    if not shas:
        return {}
    rows = con.execute(
        "select file_sha256, status from raw.file_ledger "
        "where file_sha256 in (select unnest(?::varchar[]))",
        [shas],
    ).fetchall()
    return dict(rows)


def _seen_before(con: duckdb.DuckDBPyConnection, sha: str, name: str) -> Receipt | None:
    """The receipt of content already loaded (a no-op), or None to read the file.

    Content that was *rejected* before is read again: nothing of it was loaded, and the
    rejection may have depended on the call (``--sheet``) or on limits since changed. Its
    ledger entry is then updated, never duplicated.
    """
    row = con.execute(
        "select rows_read, rows_loaded, rows_quarantined, layout, encoding, file_format, "
        "sheet_name from raw.file_ledger where file_sha256 = ? and status <> 'rejected'",
        [sha],
    ).fetchone()
    if row is None:
        return None
    con.execute(
        "update raw.file_ledger set times_seen = times_seen + 1, "
        f"last_seen_at = {UTC_NOW} where file_sha256 = ?",
        [sha],
    )
    rows_read, loaded, quarantined, layout, encoding, fmt, sheet = row
    r = Receipt(
        name, sha, "duplicate", layout, encoding, rows_read=rows_read, rows_duplicate=rows_read
    )
    r.format, r.sheet = fmt, sheet
    r.notes.append(
        f"the same content was already submitted: {loaded} rows loaded and {quarantined} "
        "quarantined then; nothing was loaded again"
    )
    return r


def _archive_copy(src: Path, dest: Path) -> None:
    """Copy under a temporary name, then rename: the archive never holds a partial copy
    (a full disk or a crash mid-copy leaves at most a hidden ``.part`` file, removed or
    overwritten by the retry)."""
    part = dest.with_name(f".{dest.name}.part")
    try:
        shutil.copyfile(src, part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def _reject(
    con: duckdb.DuckDBPyConnection,
    r: Receipt,
    reason: str,
    message: str,
    size: int,
    new: bool = False,
) -> Receipt:
    r.status, r.reason = "rejected", f"{reason}: {' '.join(message.split())}"  # one line
    _ledger(con, r, size, None, new)
    return r


# ---------------------------------------------------------------------------------------
# Batches: files are read and normalised a batch at a time, then written one by one.

# A batch ends after this many files or bytes: the SQL normalisation costs about as much for
# one small file as for a hundred, so small files share it; the cap bounds memory.
BATCH_FILES = 128
BATCH_BYTES = 64 * 1024 * 1024
# A file with at least this many rows is normalised and inserted without preserving the
# insertion order (in parallel); raw rows carry their file and line, so order is not data.
PARALLEL_ROWS = 50_000


@dataclass
class _Normalised:
    """Files normalised together into one temp table (``__file`` tells them apart).

    One large file (``source`` set) is not materialised: its rows are normalised while they
    are inserted (``sql`` over ``source``), and only its problem rows land in ``table``.
    """

    layout: Layout
    table: str
    index: dict[int, int]  # id(submission) -> __file
    counts: dict[int, dict[str | None, int]] = field(default_factory=dict)  # __file -> reason
    source: pa.Table | None = None
    sql: str | None = None


@dataclass
class _Pending:
    """One file of a batch between reading and writing."""

    path: Path
    size: int = 0
    sha: str | None = None
    receipt: Receipt | None = None  # decided before writing (missing file)
    rejection: RejectedFile | None = None
    unreadable: str | None = None
    error: BaseException | None = None  # raised when the file's turn comes
    sub: Submission | None = None
    norm: _Normalised | None = None


def _hash_pending(path: Path, limits: Limits) -> _Pending:
    """Size and content hash of one file (no reading yet: duplicates are never read)."""
    item = _Pending(path)
    try:
        try:
            item.size = check_size(path, limits)
        except RejectedFile as exc:
            if exc.reason in ("not_found", "not_a_regular_file"):  # nothing to hash or read
                item.receipt = Receipt(
                    path.name, None, "rejected", reason=f"{exc.reason}: {exc.message}"
                )
                return item
            item.size, item.rejection = path.stat().st_size, exc
        item.sha = sha256_of(path, limits.follow_symlinks)
    except Exception as exc:  # e.g. a file that cannot be opened: raised at its turn
        item.error = exc
    return item


def _read_pending(item: _Pending, sheet: str | None, limits: Limits, loaded: set[str]) -> None:
    """Read the file into its table, unless it is already settled or its content loaded."""
    if item.sha is None or item.error or item.rejection or item.sha in loaded:
        return
    try:
        item.sub = read_submission(item.path, item.sha, item.size, sheet, limits)
    except RejectedFile as exc:
        item.rejection = exc
    except Exception as exc:  # a damaged file must not stop the other files of the batch
        item.unreadable = f"the file cannot be read ({type(exc).__name__})"


def _signature(sub: Submission) -> tuple:
    """Files with equal signatures are normalised by the same SQL (one statement)."""
    return (
        sub.layout.name,
        tuple(sorted(sub.table.column_names)),
        tuple(sorted(sub.match.units.items())),
    )


def _normalise(con: duckdb.DuckDBPyConnection, subs: list[Submission], table: str) -> _Normalised:
    """Normalise ``subs`` (one signature) into the temp table ``table``, one SQL statement,
    and count each file's rows by reason."""
    layout = subs[0].layout
    columns = sorted(subs[0].table.column_names)
    parts = [
        _trimmed_source(s.table, layout)
        .select(columns)
        .append_column("__file", _constant_int32(i, s.table.num_rows))
        for i, s in enumerate(subs)
    ]
    src = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    sql = _normalise_sql(layout, set(columns), subs[0].match.units)
    norm = _Normalised(layout, table, {id(s): i for i, s in enumerate(subs)})
    if len(subs) == 1 and layout is not LEDGER and src.num_rows >= PARALLEL_ROWS:
        norm.source, norm.sql = src, sql  # normalised while inserted (_write_rows)
        return norm
    con.register("src", src)
    try:
        con.execute(f"create or replace temp table {table} as {sql}")
    finally:
        con.unregister("src")
    norm.counts = _reason_counts(con, table)
    return norm


def _reason_counts(con: duckdb.DuckDBPyConnection, table: str) -> dict[int, dict]:
    """``__file`` -> {reason (None: loaded) -> rows} of a normalised table."""
    counts: dict[int, dict] = {}
    for i, reason, count in con.execute(
        f"select __file, reason, count(*) from {table} group by all"
    ).fetchall():
        counts.setdefault(i, {})[reason] = count
    return counts


def _constant_int32(value: int, count: int) -> pa.Array:
    """``count`` times ``value`` (built from NumPy: ``pa.scalar`` would import pandas)."""
    values = np.full(count, value, dtype=np.int32)
    return pa.Array.from_buffers(pa.int32(), count, [None, pa.py_buffer(values)])


def _normalise_batch(con: duckdb.DuckDBPyConnection, items: list[_Pending]) -> list[str]:
    """Normalise every readable file of the batch, files of one signature together; returns
    the temp tables made. A group that fails is retried file by file, so an error is raised
    at the turn of the file that causes it (:func:`_write_loaded`)."""
    groups: dict[tuple, dict[int, Submission]] = {}
    for item in items:
        if item.sub is not None:  # a file sent twice shares one table: normalised once
            groups.setdefault(_signature(item.sub), {})[id(item.sub)] = item.sub
    tables: list[str] = []
    done: dict[int, _Normalised | BaseException] = {}
    for group in groups.values():
        todo = [list(group.values())]
        while todo:
            part = todo.pop()
            table = f"_norm_{len(tables)}"
            tables.append(table)
            try:
                norm = _normalise(con, part, table)
            except Exception as exc:
                if len(part) > 1:
                    todo.extend([s] for s in part)
                else:
                    done[id(part[0])] = exc
                continue
            done.update(dict.fromkeys(map(id, part), norm))
    for item in items:
        if item.sub is not None:
            outcome = done[id(item.sub)]
            if isinstance(outcome, BaseException):
                item.error = outcome
            else:
                item.norm = outcome
    return tables


def _write_rows(
    con: duckdb.DuckDBPyConnection, norm: _Normalised, sub: Submission, receipt: Receipt
) -> None:
    """Insert the file's loaded and quarantined rows; set the receipt's counts."""
    layout = sub.layout
    if norm.source is None:  # normalised with its batch
        counts = dict(norm.counts.get(norm.index[id(sub)], {}))
        loaded = counts.pop(None, 0)
        with _unordered_inserts(con, loaded):
            if layout is LEDGER:
                receipt.events_loaded = _insert_ledger_events(con, norm, sub, receipt.load_id)
            elif loaded:
                _insert_loaded(con, norm, sub, receipt.load_id)
    else:  # one large file: normalised while inserted, its problem rows kept aside
        con.register("src", norm.source)
        try:
            with _unordered_inserts(con, receipt.rows_read):
                loaded = _insert_loaded(con, norm, sub, receipt.load_id)
                counts = {}
                if loaded < receipt.rows_read:
                    con.execute(
                        f"create or replace temp table {norm.table} as "
                        f"select * from ({norm.sql}) where reason is not null"
                    )
                    counts = _reason_counts(con, norm.table).get(0, {})
        finally:
            con.unregister("src")
    receipt.rows_loaded = loaded
    receipt.quarantine_by_reason = dict(sorted(counts.items()))
    receipt.rows_quarantined = sum(counts.values())
    if layout.table == "raw.events" and layout is not LEDGER:
        receipt.events_loaded = loaded
    checkpoint("ingest:after_insert")
    if receipt.rows_quarantined:
        _insert_quarantined(con, norm, sub)


def _write_loaded(
    con: duckdb.DuckDBPyConnection, item: _Pending, archive_dir: Path, new: bool
) -> Receipt:
    """One file's rows (normalised with its batch) into raw, in one transaction."""
    sub, path = item.sub, item.path
    receipt = Receipt(path.name, item.sha, "loaded")
    receipt.layout, receipt.encoding, receipt.format = sub.layout.name, sub.encoding, sub.format
    receipt.sheet, receipt.header_line, receipt.notes = sub.sheet, sub.header_line, sub.notes
    receipt.columns = {text: col for col, text in sub.match.written.items()}
    receipt.ignored_columns = list(sub.match.ignored)
    receipt.rows_read = sub.table.num_rows
    con.begin()
    try:
        receipt.load_id = _next_load_id(con)
        _write_rows(con, item.norm, sub, receipt)
        archived = archive_dir / item.sha[:2] / item.sha / _safe_name(path.name)
        archived.parent.mkdir(parents=True, exist_ok=True)
        checkpoint("ingest:archive")
        _archive_copy(path, archived)
        checkpoint("ingest:before_ledger")
        _ledger(con, receipt, item.size, str(archived), new)
        checkpoint("ingest:after_ledger")
        con.commit()
    except Exception:
        con.rollback()
        raise
    checkpoint("ingest:after_commit")
    return receipt


def _next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next number of the load sequence: one above every file loaded so far.

    Taken inside the file's transaction by the one writer (the caller holds the writer lock),
    so numbers follow the order files were committed in, whatever the clocks say; a number
    whose transaction rolled back is simply taken again by the next file.
    """
    # fetchall, not fetchone: the result must be complete before the next statement registers
    # an Arrow table on this connection
    return con.execute("select coalesce(max(load_id), 0) + 1 from raw.file_ledger").fetchall()[0][0]


def _batches(paths: list[Path]) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for path in paths:
        batch.append(path)
        with contextlib.suppress(OSError):
            size += path.stat().st_size
        if len(batch) >= BATCH_FILES or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


@contextlib.contextmanager
def _unordered_inserts(con: duckdb.DuckDBPyConnection, rows: int) -> Iterator[None]:
    """Let DuckDB write ``rows`` rows in parallel (``preserve_insertion_order`` off) when they
    are many, and put the connection's setting back afterwards."""
    if rows < PARALLEL_ROWS:
        yield
        return
    before = con.execute("select current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute("set preserve_insertion_order = false")
    try:
        yield
    finally:
        con.execute(f"set preserve_insertion_order = {'true' if before else 'false'}")


def ingest_files(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path],
    archive_dir: Path,
    sheet: str | None = None,
    limits: Limits | None = None,
) -> Iterator[Receipt]:
    """Load files in the given order (idempotent by content hash); yield each file's receipt
    as soon as its transaction committed.

    The caller holds the writer lock. Every file is written in its own transaction, in order,
    exactly as :func:`ingest_file` would one at a time; what is shared is the work before
    writing: files are read a batch at a time (:data:`BATCH_FILES`, :data:`BATCH_BYTES`) and
    the files of a batch with the same layout and columns are normalised by one SQL
    statement. An error writing a file (e.g. a full disk) is raised at that file's turn: the
    files before it are committed and their receipts yielded, nothing of it is loaded.
    """
    limits = limits or Limits()
    loaded: set[str] = set()  # content loaded (before or during this call): duplicates
    in_ledger: set[str] = set()  # content with a ledger row (the upsert updates it)
    register_reference(con)
    for batch in _batches([Path(p) for p in paths]):
        items = [_hash_pending(p, limits) for p in batch]
        statuses = _ledger_statuses(con, [i.sha for i in items if i.sha is not None])
        in_ledger.update(statuses)
        loaded.update(sha for sha, status in statuses.items() if status != "rejected")
        first: dict[str, _Pending] = {}
        with allocating_from_intake_pool():  # why: ingestion/arrow_memory.py
            for item in items:
                if item.sha is not None and item.sha in first:  # the same bytes: same read
                    earlier = first[item.sha]
                    item.sub, item.rejection = earlier.sub, earlier.rejection
                    item.unreadable, item.error = earlier.unreadable, earlier.error
                    continue
                _read_pending(item, sheet, limits, loaded)
                if item.sha is not None:
                    first[item.sha] = item
        tables: list[str] = []
        try:
            with allocating_from_intake_pool():
                tables = _normalise_batch(con, items)
            for item in items:
                yield _write_one(con, item, archive_dir, loaded, in_ledger)
        finally:
            for table in tables:  # never masks the error that ended the batch
                with contextlib.suppress(duckdb.Error):
                    con.execute(f"drop table if exists {table}")


def _write_one(
    con: duckdb.DuckDBPyConnection,
    item: _Pending,
    archive_dir: Path,
    loaded: set[str],
    in_ledger: set[str],
) -> Receipt:
    """The receipt of one file of a batch, writing what it needs (in the file's order)."""
    if item.error is not None:
        raise item.error
    if item.receipt is not None:
        return item.receipt
    if item.sha in loaded:
        seen = _seen_before(con, item.sha, item.path.name)
        if seen is not None:
            return seen
    new = item.sha not in in_ledger
    if item.rejection is not None or item.unreadable is not None:
        reason, message = (
            (item.rejection.reason, item.rejection.message)
            if item.rejection is not None
            else ("unreadable", item.unreadable)
        )
        receipt = _reject(
            con, Receipt(item.path.name, item.sha, "rejected"), reason, message, item.size, new
        )
    else:
        receipt = _write_loaded(con, item, archive_dir, new)
        loaded.add(item.sha)
    in_ledger.add(item.sha)
    return receipt


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    archive_dir: Path,
    sheet: str | None = None,
    limits: Limits | None = None,
) -> Receipt:
    """Load one file (idempotent by content hash) and return its receipt.

    The caller holds the writer lock. Rejected files are recorded too, so the ledger lists every
    file ever submitted. ``sheet``: the worksheet of an XLSX to read (default: the first).
    For many files, :func:`ingest_files` shares the normalisation among them.
    """
    [receipt] = ingest_files(con, [path], archive_dir, sheet, limits)
    return receipt
