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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import normalise as n
from ingestion.arrow_memory import allocating_from_intake_pool
from ingestion.context import Context, FileContext, UnknownChannelError, file_context
from ingestion.faultpoints import checkpoint
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
from ingestion.reference import register_reference, unmapped_values_sql

# The long-field limit: a value longer than an Excel cell holds (32,767 characters) is no
# clerk's entry; its row is quarantined (value_too_long), so every export can show every value.
MAX_VALUE_CHARS = 32_767
# Every time the intake writes is UTC, whatever the process's time zone (TZ) says.
UTC_NOW = "timezone('UTC', now())"
# Kinds resolved to codes at intake (they change what an event means; unreadable -> quarantine).
# Domain and technology are descriptive: kept as written, mapped to codes in dbt staging.
KIND_TO_ALIAS = {"stage", "event_type", "end_type"}
# Kinds normalised over distinct values (parsed or looked up); the others are free text.
MAPPED_KINDS = frozenset({"city", "date", "amount", "planned_amount", *KIND_TO_ALIAS})


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
    # contact columns (personal data): never read, never stored
    dropped_columns: list[str] = field(default_factory=list)
    # values taken from outside the rows (title rows, channel, operator) -> value
    inferred: dict[str, str] = field(default_factory=dict)
    # ids derived for rows without one (published lists): line, name, id
    derived_ids: list[dict] = field(default_factory=list)
    # domain/technology wordings no alias maps (loaded as unclassified): column, value, rows
    unmapped_values: list[dict] = field(default_factory=list)
    # what the submission said about itself (kept in the ledger for a replay)
    channel: str | None = None
    city_option: str | None = None
    published_on_option: str | None = None

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
        unmapped = len(self.unmapped_values)
        return (
            f"{self.status:<9} {printable(self.file)}: read {self.rows_read}, "
            f"loaded {self.rows_loaded}, "
            f"quarantined {self.rows_quarantined}, duplicate {self.rows_duplicate}"
            + (f"; {unmapped} unmapped wording(s) loaded as unclassified" if unmapped else "")
        )


def _safe_name(name: str) -> str:
    """A file name that cannot escape the archive folder."""
    base = Path(name).name or "submission"
    return re.sub(r"[^\w.\-]", "_", base)[:120]


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value_map_sql(col: Column, unit: int) -> str:
    """``(raw, clean, val[, prec | approx, absent])`` for each *distinct* value of ``src``'s
    column ``col``.

    Cleaning, half-width conversion, parsing and look-ups run once per distinct value, not
    once per row: a million-row file holds a few thousand dates and a few hundred cities.
    ``raw`` is the text as read (the join key back to the rows), ``clean`` the trimmed text
    (NULL when empty), ``val`` the normalised value (NULL when it does not parse or resolve),
    ``prec`` a date's precision; a planned amount also says whether it was approximate
    (约300万) and whether the text gives no figure at all (面议).
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
    if col.kind == "planned_amount":
        stripped = (
            f"(select raw, clean, hw, {n.approximate_stripped_of('hw')} as exact, "
            f"{n.no_figure_of('hw')} as absent from {halfwidth})"
        )
        return (
            f"select raw, clean, case when not absent then "
            f"{n.amount_from_parts('parts', unit)} end as val, exact <> hw as approx, absent "
            f"from (select *, {n.amount_parts_of('exact')} as parts from {stripped})"
        )
    return (
        f"select raw, clean, {n.amount_from_parts('parts', unit)} as val "
        f"from (select raw, clean, {n.amount_parts_of('hw')} as parts from {halfwidth})"
    )


_ABSENT_VALUE = {
    "date": "cast(null as date)",
    "amount": "cast(null as decimal(18, 2))",
    "planned_amount": "cast(null as decimal(18, 2))",
}
_UNREAD_REASON = {
    "city": "unknown_city",
    "date": "bad_date",
    "amount": "bad_amount",
    "planned_amount": "bad_amount",
}
# The per-file values a file's context gives (ingestion.context.FileContext), one row per
# ``__file`` in the temp table ``ctx``.
CONTEXT_COLUMNS = (
    "ctx_title_city",
    "ctx_channel_city",
    "ctx_option_city",
    "ctx_date",
    "ctx_date_precision",
    "ctx_batch",
    "ctx_city_sources",
)
CONTEXT_CITIES = ("ctx_title_city", "ctx_channel_city", "ctx_option_city")


@dataclass(frozen=True)
class _Check:
    """One way a row can fail: ``condition`` over the normalised row, on ``column``."""

    condition: str
    reason: str
    column: str
    value: str  # the raw value the quarantine shows


def _checks(layout: Layout, header: set[str], context: bool) -> list[_Check]:
    """Every check of a row, in layout order, over the columns :func:`_normalise_sql` makes.

    A row is quarantined when any check holds; the quarantine lists each one that holds (one
    entry per column and reason). A problem the reader found (``extra_fields``, ``bad_json``)
    makes the row's values meaningless: it is the row's only entry.
    """
    checks: list[_Check] = []
    for col in layout.columns:
        raw = f"raw__{col.name}"
        target = col.target or col.name
        value = raw
        if col.required:
            missing = f"{raw} is null"
            if col.name in layout.inferred:  # the context may give it
                missing = f"{raw} is null and {target} is null"
            checks.append(_Check(missing, "missing_required", col.name, raw))
        if col.kind in MAPPED_KINDS:
            reason = _UNREAD_REASON.get(col.kind, f"unknown_{col.kind}")
            checks.append(_Check(f"unread__{col.name}", reason, col.name, value))
        if col.name == "city" and context:
            checks.append(
                _Check(
                    "city_conflict",
                    "city_mismatch",
                    col.name,
                    "concat_ws(' / ', '城市列 column: ' || raw__city, ctx_city_sources)",
                )
            )
        if col.kind == "date":
            checks.append(
                _Check(
                    f"{target} is not null and not {n.in_range_of(target)}",
                    "date_out_of_range",
                    col.name,
                    f"coalesce({raw}, cast({target} as varchar))",
                )
            )
    for col in layout.columns:  # the long-field limit (docs/submission_contract.md)
        raw = f"raw__{col.name}"
        checks.append(
            _Check(
                f"strlen({raw}) > {MAX_VALUE_CHARS} and length({raw}) > {MAX_VALUE_CHARS}",
                "value_too_long",
                col.name,
                raw,
            )
        )
    if layout.required_any:
        named = next((c for c in layout.required_any if c in header), layout.required_any[0])
        none = " and ".join(f"raw__{c} is null" for c in layout.required_any)
        checks.append(_Check(none, "missing_required", named, f"raw__{named}"))
    if layout is LEDGER:
        checks.append(
            _Check(
                "raw__end_date is null "
                "and (raw__end_type is not null or raw__end_reason is not null)",
                "missing_required",
                "end_date",
                "raw__end_date",
            )
        )
    return checks


def _normalise_sql(
    layout: Layout,
    header: set[str],
    units: dict[str, int] | None = None,
    context: bool = False,
) -> str:
    """One SELECT that normalises every column and flags every problem of each row.

    ``header``: the columns the source table carries (others are NULL). ``units``: amount
    column -> multiplier for bare numbers (from a header such as 合作金额（万元）). ``context``:
    join the per-file values of table ``ctx`` (city, date and batch from the title rows, the
    channel, the operator; ingestion.context). ``src.__file`` (which file of a batch a row
    comes from) is passed through. ``reason``/``reason_column`` name the row's first problem
    (NULL: the row loads); :func:`_problem_entries` lists all of them for the quarantine.

    Columns that need parsing or a look-up (city, codes, dates, amounts) are normalised over
    their distinct values (:func:`_value_map_sql`) and joined back to the rows on the text as
    read; free-text columns (domain and technology among them: descriptive, kept as written)
    arrive trimmed (:func:`_trimmed_source`) and only turn empty text into NULL here. Per row,
    the statement is hash joins and one CASE.
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
    if context:
        s1 += [f"ctx.{c} as {c}" for c in CONTEXT_COLUMNS]
        joins.append("left join ctx on ctx.__file = src.__file")
    for c in cols:
        mapped = c.kind in MAPPED_KINDS
        if c.name not in header:
            s1.append(f"cast(null as varchar) as raw__{c.name}")
            if mapped:
                s1.append(f"{_ABSENT_VALUE.get(c.kind, 'cast(null as varchar)')} as val__{c.name}")
            if c.kind == "date":
                s1.append(f"'month' as prec__{c.name}")
            if c.kind == "planned_amount":
                s1 += [f"false as approx__{c.name}", f"false as absent__{c.name}"]
        elif mapped:
            m = f"m_{c.name}"
            values = _value_map_sql(c, units.get(c.name, 1))
            joins.append(f'left join ({values}) {m} on {m}.raw = src."{c.name}"')
            s1.append(f"{m}.clean as raw__{c.name}")
            s1.append(f"{m}.val as val__{c.name}")
            if c.kind == "date":
                s1.append(f"{m}.prec as prec__{c.name}")
            if c.kind == "planned_amount":
                s1 += [f"{m}.approx as approx__{c.name}", f"{m}.absent as absent__{c.name}"]
        else:
            s1.append(f"nullif(src.\"{c.name}\", '') as raw__{c.name}")

    city = "val__city"
    if context:
        city = f"coalesce(val__city, {', '.join(CONTEXT_CITIES)})"
    selects = [
        "__file",
        "source_line",
        "reader_reason is not null as reader_problem",
        "reader_reason",
        "reader_column",
        "problem_value",
    ]
    dates = {  # a date the file's context may give, else the row's own
        c.name: f"coalesce(val__{c.name}, cast(ctx_date as date))"
        if c.name in layout.inferred and context
        else f"val__{c.name}"
        for c in cols
        if c.kind == "date"
    }
    # the publication year of a batch without its own year: the row's required date
    published = next((dates[c.name] for c in cols if c.kind == "date" and c.required), None)
    for col in cols:
        raw = f"raw__{col.name}"
        target = col.target or col.name
        value = f"val__{col.name}" if col.kind in MAPPED_KINDS else raw
        if col.name == "city":
            value = city
        if col.kind == "date":
            value = dates[col.name]
        if col.name == "reported_at" and "published_date" in layout.inferred and published:
            # a published list reports its rows when it is published (unless 填报日期 says)
            value = f"coalesce({value}, {published})"
        selects.append(raw)
        if col.kind in MAPPED_KINDS:
            unread = f"{raw} is not null and val__{col.name} is null"
            if col.kind == "planned_amount":
                unread += f" and not absent__{col.name}"
            selects.append(f"{unread} as unread__{col.name}")
        if col.kind == "date":
            prec = f"prec__{col.name}"
            if col.name in layout.inferred and context:
                prec = (
                    f"case when val__{col.name} is not null then prec__{col.name} "
                    "else coalesce(ctx_date_precision, 'month') end"
                )
            selects.append(f"{prec} as {target}_precision")
        if col.kind == "planned_amount":
            selects.append(
                f"coalesce(approx__{col.name} and val__{col.name} is not null, false) "
                f"as {target.removesuffix('_yuan')}_approximate"
            )
        if col.kind == "batch":
            raw_batch = f"coalesce({raw}, ctx_batch)" if context else raw
            selects.append(f"{raw_batch} as batch_raw")
            year = f"extract(year from {published or 'cast(null as date)'})"
            value = n.batch_label_of(raw_batch, year)
        if col.name in layout.derived_id[:1]:
            names = [f"raw__{c}" for c in layout.derived_id[1:]]
            derived = n.derived_id(n.DERIVED_ID_PREFIX[col.name], city, names)
            value = f"coalesce({raw}, {derived})"
            selects.append(f"{raw} is null and {derived} is not null as {col.name}_derived")
        selects.append(f"{value} as {target}")
    if context:  # the sources of the city that are present must all name the same one
        sources = ["val__city", *CONTEXT_CITIES]
        pairs = [
            f"coalesce({a} <> {b}, false)" for i, a in enumerate(sources) for b in sources[i + 1 :]
        ]
        selects.append(f"({' or '.join(pairs)}) as city_conflict")
        selects.append("ctx_city_sources")
    checks = _checks(layout, header, context)
    reason_sql = " ".join(f"when {c.condition} then '{c.reason}'" for c in checks)
    column_sql = " ".join(f"when {c.condition} then '{c.column}'" for c in checks)
    return (
        "select *, "
        f"case when reader_problem then reader_reason {reason_sql} end as reason, "
        f"case when reader_problem then reader_column {column_sql} end as reason_column "
        f"from (select {', '.join(selects)} "
        f"from (select {', '.join(s1)} from src {' '.join(joins)}) s) o"
    )


def _problem_entries(norm: _Normalised, where: str) -> str:
    """SELECT (source_line, column_name, raw_value, reason, city_code) of every problem of the
    quarantined rows of ``norm.table`` that match ``where``: one entry per column and reason."""
    parts = [
        f"select source_line, reader_column as column_name, problem_value as raw_value, "
        f"reader_reason as reason, city_code from {norm.table} "
        f"where reason is not null and reader_problem and {where}"
    ]
    for c in _checks(norm.layout, norm.header, norm.context):
        parts.append(
            f"select source_line, '{c.column}', {c.value}, '{c.reason}', city_code "
            f"from {norm.table} "
            f"where reason is not null and not reader_problem and ({c.condition}) and {where}"
        )
    return " union all ".join(parts)


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


def _raw_columns(layout: Layout) -> list[tuple[str, str]]:
    """(raw table column, expression over the normalised row) of every column a loaded row
    writes, besides its file, line and load."""
    out: list[tuple[str, str]] = []
    for c in layout.columns:
        target = c.target or c.name
        out.append((target, target))
        if c.kind == "date" and c.required:
            out.append((f"{target}_precision", f"{target}_precision"))
        if c.name in ("city", "amount", "planned_investment"):
            out.append((f"{c.name}_raw", f"raw__{c.name}"))
        if c.kind == "planned_amount":
            name = f"{target.removesuffix('_yuan')}_approximate"
            out.append((name, name))
        if c.kind == "batch":
            out.append(("batch_raw", "batch_raw"))
        if c.name in layout.derived_id[:1]:
            out.append((f"{c.name}_derived", f"{c.name}_derived"))
    out += [(col, f"'{value}'") for col, value in layout.fixed]
    return out


def _insert_loaded(
    con: duckdb.DuckDBPyConnection,
    norm: _Normalised,
    s: Submission,
    load_id: int,
    file_load_id: int | None = None,
    loaded_at: str = UTC_NOW,
    where: str = "",
) -> int:
    """The file's rows without a problem into the layout's raw table; returns the rows.

    ``file_load_id``: the load number of the file's first load (a replay's rows keep it;
    default ``load_id``); ``loaded_at``: SQL of the stamp (a replay keeps the file's first);
    ``where``: a further filter on the normalised rows (a replay's lines).
    """
    layout = norm.layout
    columns = _raw_columns(layout)
    cols = [
        "source_file_sha256",
        "source_file_name",
        "source_line",
        *(c for c, _ in columns),
        "loaded_at",
        "load_id",
        "file_load_id",
    ]
    vals = ["?", "?", "source_line", *(v for _, v in columns), loaded_at, "?", "?"]
    if norm.source is None:
        source, params = f"{norm.table} where __file = ? and", [norm.index[id(s)]]
    else:  # the one file's normalising SELECT (a filter on __file would upset its join order)
        source, params = f"({norm.sql}) where", []
    return con.execute(
        f"insert into {layout.table} ({', '.join(cols)}) "
        f"select {', '.join(vals)} from {source} reason is null {where}",
        [s.sha256, s.path.name, load_id, file_load_id or load_id, *params],
    ).fetchone()[0]


def _insert_ledger_events(
    con: duckdb.DuckDBPyConnection,
    norm: _Normalised,
    s: Submission,
    load_id: int,
    file_load_id: int | None = None,
    loaded_at: str = UTC_NOW,
    where: str = "",
) -> int:
    """Ledger rows without a problem, turned into events (see the module doc); returns events."""
    stages = ", ".join(f"('{code}', {i})" for i, (_, code) in enumerate(LEDGER_STAGE_DATES, 1))
    date_of = " ".join(f"when '{code}' then {col}" for col, code in LEDGER_STAGE_DATES)
    precision_of = " ".join(
        f"when '{code}' then {col}_precision" for col, code in LEDGER_STAGE_DATES
    )
    common = (
        "?, ?, source_line, city_code, raw__city, project_id, project_name, domain_raw, "
        "technology_raw, demand_owner, supplier, stage_code"
    )
    sql = f"""
        insert into raw.events (
            source_file_sha256, source_file_name, source_line, city_code, city_raw, project_id,
            project_name, domain_raw, technology_raw, demand_owner, supplier, stage_code,
            event_type, event_date, event_date_precision, amount_yuan, amount_raw, reported_at,
            end_reason, loaded_at, load_id, file_load_id)
        with entered as (
            select norm.*, s.stage_code, s.stage_order,
                   case s.stage_code {date_of} end as stage_date,
                   case s.stage_code {precision_of} end as stage_date_precision
            from {norm.table} norm cross join (values {stages}) s(stage_code, stage_order)
            where norm.__file = ? and norm.reason is null {where}
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
        select *, {loaded_at}, ?, ? from events
    """
    params = [norm.index[id(s)], s.sha256, s.path.name, s.sha256, s.path.name, load_id]
    return con.execute(sql, [*params, file_load_id or load_id]).fetchone()[0]


def _insert_quarantined(
    con: duckdb.DuckDBPyConnection, norm: _Normalised, s: Submission, where: str = ""
) -> dict[str, int]:
    """Every problem of the file's quarantined rows into ``raw.quarantine`` (one entry per
    column and reason); returns the rows per reason (a row with two reasons counts in both)."""
    layout = norm.layout
    written = " ".join(f"when '{c}' then {_sql_str(text)}" for c, text in s.match.written.items())
    source_column = f"case column_name {written} end" if written else "null"
    entries = _problem_entries(norm, f"__file = {norm.index[id(s)]} {where}")
    con.execute(
        f"""insert into raw.quarantine (source_file_sha256, source_file_name, layout,
                source_line, column_name, raw_value, reason, quarantined_at, source_column,
                city_code)
            select ?, ?, ?, source_line, column_name, raw_value, reason, {UTC_NOW},
                   {source_column}, city_code
            from ({entries}) as e""",
        [s.sha256, s.path.name, layout.name],
    )
    return dict(
        con.execute(
            f"select reason, count(distinct source_line) from ({entries}) as e "
            "group by reason order by reason"
        ).fetchall()
    )


_LEDGER_COLUMNS = (
    "file_sha256, file_name, file_size, layout, encoding, rows_read, rows_loaded, "
    "rows_quarantined, status, reason, archived_path, first_seen_at, last_seen_at, times_seen, "
    "file_format, sheet_name, load_id, channel, city_option, published_on_option"
)
_LEDGER_VALUES = (
    f"values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {UTC_NOW}, {UTC_NOW}, 1, ?, ?, ?, ?, ?, ?)"
)
_LEDGER_UPDATE = """
    on conflict (file_sha256) do update set
        file_name = excluded.file_name, layout = excluded.layout,
        encoding = excluded.encoding, rows_read = excluded.rows_read,
        rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
        status = excluded.status, reason = excluded.reason,
        archived_path = excluded.archived_path, last_seen_at = excluded.last_seen_at,
        times_seen = raw.file_ledger.times_seen + 1,
        file_format = excluded.file_format, sheet_name = excluded.sheet_name,
        load_id = excluded.load_id, channel = excluded.channel,
        city_option = excluded.city_option, published_on_option = excluded.published_on_option"""


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
            r.channel,
            r.city_option,
            r.published_on_option,
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
    header: set[str] = field(default_factory=set)
    context: pa.Table | None = None  # per-file context values (table ``ctx``), when any


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
    context: Context | None = None  # what the channel and the operator say about it


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


def _read_pending(
    con: duckdb.DuckDBPyConnection,
    item: _Pending,
    sheet: str | None,
    limits: Limits,
    loaded: set[str],
) -> None:
    """Read the file into its table, unless it is already settled or its content loaded;
    then read what its title rows and its context say (ingestion.context)."""
    if item.sha is None or item.error or item.rejection or item.sha in loaded:
        return
    try:
        item.sub = read_submission(item.path, item.sha, item.size, sheet, limits)
        item.sub.context = file_context(con, item.sub.titles, item.context)
    except UnknownChannelError as exc:
        item.sub, item.rejection = None, RejectedFile("unknown_channel", str(exc))
    except RejectedFile as exc:
        item.rejection = exc
    except ValueError:  # an operator's --city or --published-on that cannot be read: the
        raise  # call stops before anything is written (the CLI checks them first)
    except Exception as exc:  # a damaged file must not stop the other files of the batch
        item.unreadable = f"the file cannot be read ({type(exc).__name__})"


def _signature(sub: Submission) -> tuple:
    """Files with equal signatures are normalised by the same SQL (one statement)."""
    return (
        sub.layout.name,
        tuple(sorted(sub.table.column_names)),
        tuple(sorted(sub.match.units.items())),
        sub.context is not None and sub.context.any,
    )


def _context_table(subs: list[Submission]) -> pa.Table | None:
    """The per-file context values of ``subs`` (``__file`` = position), or None when none of
    them has any (the statement then reads the rows alone)."""
    contexts = [s.context or FileContext() for s in subs]
    if not any(c.any for c in contexts):
        return None
    columns = {
        "__file": pa.Array.from_buffers(
            pa.int32(), len(subs), [None, pa.py_buffer(np.arange(len(subs), dtype=np.int32))]
        ),
        "ctx_title_city": [c.title_city for c in contexts],
        "ctx_channel_city": [c.channel_city for c in contexts],
        "ctx_option_city": [c.option_city for c in contexts],
        "ctx_date": [c.date for c in contexts],
        "ctx_date_precision": [c.date_precision for c in contexts],
        "ctx_batch": [c.batch for c in contexts],
        "ctx_city_sources": [c.city_sources() for c in contexts],
    }
    return pa.table(
        {k: v if isinstance(v, pa.Array) else pa.array(v, pa.string()) for k, v in columns.items()}
    )


@contextlib.contextmanager
def _registered(
    con: duckdb.DuckDBPyConnection, src: pa.Table, ctx: pa.Table | None
) -> Iterator[None]:
    """``src`` (and ``ctx``, the per-file context) registered for the normalising SQL."""
    con.register("src", src)
    if ctx is not None:
        con.register("ctx", ctx)
    try:
        yield
    finally:
        con.unregister("src")
        if ctx is not None:
            con.unregister("ctx")


def _normalise(
    con: duckdb.DuckDBPyConnection, subs: list[Submission], table: str, stream: bool = True
) -> _Normalised:
    """Normalise ``subs`` (one signature) into the temp table ``table``, one SQL statement,
    and count each file's rows by reason. ``stream``: a large single file is normalised while
    it is inserted instead (False: always into the table, as a replay needs)."""
    layout = subs[0].layout
    columns = sorted(subs[0].table.column_names)
    parts = [
        _trimmed_source(s.table, layout)
        .select(columns)
        .append_column("__file", _constant_int32(i, s.table.num_rows))
        for i, s in enumerate(subs)
    ]
    src = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    ctx = _context_table(subs)
    sql = _normalise_sql(layout, set(columns), subs[0].match.units, ctx is not None)
    norm = _Normalised(layout, table, {id(s): i for i, s in enumerate(subs)})
    norm.header, norm.context = set(columns), ctx
    if stream and len(subs) == 1 and layout is not LEDGER and src.num_rows >= PARALLEL_ROWS:
        norm.source, norm.sql = src, sql  # normalised while inserted (_write_rows)
        return norm
    with _registered(con, src, ctx):
        con.execute(f"create or replace temp table {table} as {sql}")
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
        with (
            _registered(con, norm.source, norm.context),
            _unordered_inserts(con, receipt.rows_read),
        ):
            loaded = _insert_loaded(con, norm, sub, receipt.load_id)
            counts = {}
            if loaded < receipt.rows_read:
                con.execute(
                    f"create or replace temp table {norm.table} as "
                    f"select * from ({norm.sql}) where reason is not null"
                )
                counts = _reason_counts(con, norm.table).get(0, {})
    receipt.rows_loaded = loaded
    receipt.rows_quarantined = sum(counts.values())  # rows, each counted by its first reason
    if layout.table == "raw.events" and layout is not LEDGER:
        receipt.events_loaded = loaded
    checkpoint("ingest:after_insert")
    receipt.quarantine_by_reason = (
        _insert_quarantined(con, norm, sub) if receipt.rows_quarantined else {}
    )
    _describe(con, receipt, sub, f"source_file_sha256 = ? and load_id = {receipt.load_id}")


def _describe(
    con: duckdb.DuckDBPyConnection, receipt: Receipt, sub: Submission, where: str
) -> None:
    """What the receipt says beyond counts: contact columns dropped, values taken from the
    file's context, ids derived, and the wordings loaded as ``unclassified`` (``where``: the
    raw rows of this load, a ``?`` for the file's hash)."""
    layout = sub.layout
    receipt.dropped_columns = list(sub.match.dropped)
    if sub.context is not None:
        receipt.inferred = sub.context.inferred()
        receipt.notes.extend(n for n in sub.context.notes if n not in receipt.notes)
    if receipt.dropped_columns:
        note = "contact columns are personal data and were not read or stored: " + ", ".join(
            receipt.dropped_columns
        )
        if note not in receipt.notes:
            receipt.notes.append(note)
    if not receipt.rows_loaded:
        return
    params = [sub.sha256]
    if layout.derived_id:
        id_col, name_col = layout.derived_id[0], layout.derived_id[-1]
        receipt.derived_ids = [
            {"line": line, "name": name, id_col: derived}
            for line, name, derived in con.execute(
                f"select distinct source_line, {name_col}, {id_col} from {layout.table} "
                f"where {where} and {id_col}_derived order by source_line",
                params,
            ).fetchall()
        ]
    receipt.unmapped_values = [
        {"column": column, "value": value, "rows": rows}
        for column, value, rows in con.execute(
            unmapped_values_sql(layout.table, where, layout is LEDGER), params
        ).fetchall()
    ]


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
    _context_to(receipt, item.context)
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


def _context_to(receipt: Receipt, given: Context | None) -> None:
    """Keep what the channel and the operator said with the file (its ledger row): a replay
    reads the file again in the same context."""
    if given is not None:
        receipt.channel = given.channel
        receipt.city_option = given.city
        receipt.published_on_option = given.published_on


def _next_load_id(con: duckdb.DuckDBPyConnection) -> int:
    """The next number of the load sequence: one above every file loaded so far.

    Taken inside the file's transaction by the one writer (the caller holds the writer lock),
    so numbers follow the order files were committed in, whatever the clocks say; a number
    whose transaction rolled back is simply taken again by the next file.
    """
    # fetchall, not fetchone: the result must be complete before the next statement registers
    # an Arrow table on this connection
    return con.execute(
        "select greatest((select coalesce(max(load_id), 0) from raw.file_ledger), "
        "(select coalesce(max(load_id), 0) from raw.replays)) + 1"
    ).fetchall()[0][0]


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
    context: Context | Mapping[Path, Context] | None = None,
) -> Iterator[Receipt]:
    """Load files in the given order (idempotent by content hash); yield each file's receipt
    as soon as its transaction committed.

    ``context``: what the submission channel and the operator say about the files (one for
    all, or per path): the city and publication date rows and titles do not give
    (ingestion.context).

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
        for item in items:
            item.context = context.get(item.path) if isinstance(context, Mapping) else context
        statuses = _ledger_statuses(con, [i.sha for i in items if i.sha is not None])
        in_ledger.update(statuses)
        loaded.update(sha for sha, status in statuses.items() if status != "rejected")
        first: dict[tuple, _Pending] = {}
        with allocating_from_intake_pool():  # why: ingestion/arrow_memory.py
            for item in items:
                same = (item.sha, item.context)
                if item.sha is not None and same in first:  # the same bytes: same read
                    earlier = first[same]
                    item.sub, item.rejection = earlier.sub, earlier.rejection
                    item.unreadable, item.error = earlier.unreadable, earlier.error
                    continue
                _read_pending(con, item, sheet, limits, loaded)
                if item.sha is not None:
                    first[same] = item
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
            _context_to(seen, item.context)
            return seen
    new = item.sha not in in_ledger
    if item.rejection is not None or item.unreadable is not None:
        reason, message = (
            (item.rejection.reason, item.rejection.message)
            if item.rejection is not None
            else ("unreadable", item.unreadable)
        )
        receipt = Receipt(item.path.name, item.sha, "rejected")
        _context_to(receipt, item.context)
        receipt = _reject(con, receipt, reason, message, item.size, new)
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
    context: Context | None = None,
) -> Receipt:
    """Load one file (idempotent by content hash) and return its receipt.

    The caller holds the writer lock. Rejected files are recorded too, so the ledger lists every
    file ever submitted. ``sheet``: the worksheet of an XLSX to read (default: the first).
    For many files, :func:`ingest_files` shares the normalisation among them.
    """
    [receipt] = ingest_files(con, [path], archive_dir, sheet, limits, context)
    return receipt
