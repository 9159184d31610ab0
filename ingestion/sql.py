"""The SQL of one file's rows: the normalising SELECT, its checks and the raw inserts.

Every format arrives as the same Arrow table of strings (:mod:`ingestion.reading`) and is
normalised by one statement (:func:`normalise_sql`): what needs parsing or a look-up is worked
out once per distinct value and joined back to the rows (:mod:`ingestion.normalise` builds the
expressions). A row with a problem is quarantined with one entry per column and reason
(:func:`row_checks`, :func:`problem_entries`); the others go to the layout's raw table
(:func:`insert_loaded`). A 台账 row's events are written by :mod:`ingestion.stage_dates`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ingestion import normalise as n
from ingestion.layouts import REGISTER, Column, Layout
from ingestion.submission import Submission

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
class Normalised:
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


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def value_map_sql(col: Column, unit: int) -> str:
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
class Check:
    """One way a row can fail: ``condition`` over the normalised row, on ``column``."""

    condition: str
    reason: str
    column: str
    value: str  # the raw value the quarantine shows


def row_checks(layout: Layout, header: set[str], context: bool) -> list[Check]:
    """Every check of a row, in layout order, over the columns :func:`normalise_sql` makes.

    A row is quarantined when any check holds; the quarantine lists each one that holds (one
    entry per column and reason). A problem the reader found (``extra_fields``, ``bad_json``)
    makes the row's values meaningless: it is the row's only entry.
    """
    checks: list[Check] = []
    for col in layout.columns:
        raw = f"raw__{col.name}"
        target = col.target or col.name
        value = raw
        if col.required:
            missing = f"{raw} is null"
            if col.name in layout.inferred:  # the context may give it
                missing = f"{raw} is null and {target} is null"
            checks.append(Check(missing, "missing_required", col.name, raw))
        if col.kind in MAPPED_KINDS:
            reason = _UNREAD_REASON.get(col.kind, f"unknown_{col.kind}")
            checks.append(Check(f"unread__{col.name}", reason, col.name, value))
        if col.name == "city" and context:
            checks.append(
                Check(
                    "city_conflict",
                    "city_mismatch",
                    col.name,
                    "concat_ws(' / ', '城市列 column: ' || raw__city, ctx_city_sources)",
                )
            )
        if col.kind == "date":
            checks.append(
                Check(
                    f"{target} is not null and not {n.in_range_of(target)}",
                    "date_out_of_range",
                    col.name,
                    f"coalesce({raw}, cast({target} as varchar))",
                )
            )
    for col in layout.columns:  # the long-field limit (docs/submission_contract.md)
        raw = f"raw__{col.name}"
        checks.append(
            Check(
                f"strlen({raw}) > {MAX_VALUE_CHARS} and length({raw}) > {MAX_VALUE_CHARS}",
                "value_too_long",
                col.name,
                raw,
            )
        )
    if layout.required_any:
        named = next((c for c in layout.required_any if c in header), layout.required_any[0])
        none = " and ".join(f"raw__{c} is null" for c in layout.required_any)
        checks.append(Check(none, "missing_required", named, f"raw__{named}"))
    if layout is REGISTER:
        checks.append(
            Check(
                "raw__end_date is null "
                "and (raw__end_type is not null or raw__end_reason is not null)",
                "missing_required",
                "end_date",
                "raw__end_date",
            )
        )
    return checks


def normalise_sql(
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
    (NULL: the row loads); :func:`problem_entries` lists all of them for the quarantine.

    Columns that need parsing or a look-up (city, codes, dates, amounts) are normalised over
    their distinct values (:func:`value_map_sql`) and joined back to the rows on the text as
    read; free-text columns (domain and technology among them: descriptive, kept as written)
    arrive trimmed (:func:`trimmed_source`) and only turn empty text into NULL here. Per row,
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
            values = value_map_sql(c, units.get(c.name, 1))
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
    checks = row_checks(layout, header, context)
    reason_sql = " ".join(f"when {c.condition} then '{c.reason}'" for c in checks)
    column_sql = " ".join(f"when {c.condition} then '{c.column}'" for c in checks)
    return (
        "select *, "
        f"case when reader_problem then reader_reason {reason_sql} end as reason, "
        f"case when reader_problem then reader_column {column_sql} end as reason_column "
        f"from (select {', '.join(selects)} "
        f"from (select {', '.join(s1)} from src {' '.join(joins)}) s) o"
    )


def problem_entries(norm: Normalised, where: str) -> str:
    """SELECT (source_line, column_name, raw_value, reason, city_code) of every problem of the
    quarantined rows of ``norm.table`` that match ``where``: one entry per column and reason."""
    parts = [
        f"select source_line, reader_column as column_name, problem_value as raw_value, "
        f"reader_reason as reason, city_code from {norm.table} "
        f"where reason is not null and reader_problem and {where}"
    ]
    for c in row_checks(norm.layout, norm.header, norm.context):
        parts.append(
            f"select source_line, '{c.column}', {c.value}, '{c.reason}', city_code "
            f"from {norm.table} "
            f"where reason is not null and not reader_problem and ({c.condition}) and {where}"
        )
    return " union all ".join(parts)


def trimmed_source(table: pa.Table, layout: Layout) -> pa.Table:
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


def raw_columns(layout: Layout) -> list[tuple[str, str]]:
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


def insert_loaded(
    con: duckdb.DuckDBPyConnection,
    norm: Normalised,
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
    columns = raw_columns(layout)
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


def insert_quarantined(
    con: duckdb.DuckDBPyConnection, norm: Normalised, s: Submission, where: str = ""
) -> dict[str, int]:
    """Every problem of the file's quarantined rows into ``raw.quarantine`` (one entry per
    column and reason); returns the rows per reason (a row with two reasons counts in both)."""
    layout = norm.layout
    written = " ".join(f"when '{c}' then {sql_str(text)}" for c, text in s.match.written.items())
    source_column = f"case column_name {written} end" if written else "null"
    entries = problem_entries(norm, f"__file = {norm.index[id(s)]} {where}")
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
