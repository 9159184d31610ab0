"""Load one submission into the raw layer and account for every row.

Each file ends in the ledger exactly once (keyed by content hash); each of its rows ends in
exactly one place: the layout's raw table, or ``raw.quarantine`` with the column, raw value and
a reason code. ``rows_read = rows_loaded + rows_quarantined`` for every loaded file. The whole
file is written in one transaction, so a crash never leaves half a file behind.

Every format (CSV, XLSX, JSON Lines) arrives as the same Arrow table of strings
(:mod:`ingestion.reading`) and is normalised by one SQL statement (:func:`_normalise_sql`).

A *ledger* (台账) row is one project with a date per stage. It is loaded or quarantined as a
whole (its rows are what the clerk counts) and turned into events in SQL:

- one ``enter`` event per filled stage date (发布/验证/应用/推广日期);
- the amount (合作金额, the project's current amount) on the application event, or on the
  furthest stage's event when no application date is filled;
- when 终止日期 is filled, one termination event at the furthest stage entered: ``fail`` or
  ``withdraw`` as 终止类型 says; without 终止类型, ``fail`` when 终止原因 mentions a failure
  (失败, 未通过, 不通过, fail), otherwise ``withdraw`` (the default).
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from ingestion import normalise as n
from ingestion.layouts import LEDGER, LEDGER_STAGE_DATES, Layout
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

KIND_TO_ALIAS = {"stage", "event_type", "end_type", "domain", "technology"}
FAIL_WORDS = ("失败", "未通过", "不通过", "fail")


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

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def reason_code(self) -> str | None:
        return self.reason.split(":", 1)[0] if self.reason else None

    def line(self) -> str:
        """One readable line for the CLI and the task log."""
        if self.status == "rejected":
            return f"REJECTED {self.file}: {self.reason}"
        return (
            f"{self.status:<9} {self.file}: read {self.rows_read}, loaded {self.rows_loaded}, "
            f"quarantined {self.rows_quarantined}, duplicate {self.rows_duplicate}"
        )


def _safe_name(name: str) -> str:
    """A file name that cannot escape the archive folder."""
    base = Path(name).name or "submission"
    return re.sub(r"[^\w.\-]", "_", base)[:120]


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _normalise_sql(layout: Layout, header: set[str], units: dict[str, int] | None = None) -> str:
    """One SELECT that normalises every column and names the first problem of each row.

    ``header``: the columns the source table carries (others are NULL). ``units``: amount
    column -> multiplier for bare numbers (from a header such as 合作金额（万元）). A problem the
    reader found (``__problem``, e.g. bad_json) comes first.

    Stages, one subquery level each, so every column is cleaned, made half-width and parsed
    exactly once however often the checks refer to it: ``raw__`` (trimmed text, NULL when
    empty), ``hw__`` (half-width), ``day__``/``parts__`` (parsed), ``val__`` (the value).
    """
    units = units or {}
    cols = layout.columns
    parsed = [c for c in cols if c.kind in ("date", "amount")]

    def raw_of(name: str) -> str:
        return f'src."{name}"' if name in header else "cast(null as varchar)"

    reader = "__problem" in header
    s1 = ["src.__line as source_line"]
    if reader:
        s1 += [
            "src.__problem as reader_reason",
            "src.__problem_column as reader_column",
            "src.__problem_value as problem_value",
        ]
    else:
        s1 += [f"cast(null as varchar) as {c}" for c in ("reader_reason", "reader_column")]
        s1 += ["cast(null as varchar) as problem_value"]
    s1 += [f"{n.clean_text(raw_of(c.name))} as raw__{c.name}" for c in cols]
    s2 = ["s1.*"] + [f"{n.halfwidth_of(f'raw__{c.name}')} as hw__{c.name}" for c in parsed]
    s3 = ["s2.*"]
    s4 = ["s3.*"]
    for c in parsed:
        if c.kind == "date":
            s3.append(f"{n.day_of(f'hw__{c.name}')} as day__{c.name}")
            s4.append(f"{n.date_of(f'day__{c.name}', f'hw__{c.name}')} as val__{c.name}")
            s4.append(f"{n.precision_of(f'day__{c.name}')} as prec__{c.name}")
        else:
            s3.append(f"{n.amount_parts_of(f'hw__{c.name}')} as parts__{c.name}")
            s4.append(
                f"{n.amount_from_parts(f'parts__{c.name}', units.get(c.name, 1))} as val__{c.name}"
            )

    selects = ["source_line", "reader_reason is not null as reader_problem", "problem_value"]
    joins: list[str] = []
    checks = [("reader_reason is not null", "reader_reason", "reader_column")]
    for col in cols:
        raw = f"raw__{col.name}"
        target = col.target or col.name
        j = f"j_{col.name}"
        if col.kind == "city":
            value, reason = f"{j}.city_code", "unknown_city"
            joins.append(f"left join ref_city {j} on {j}.alias_key = {n.city_key(raw)}")
        elif col.kind in KIND_TO_ALIAS:
            value, reason = f"{j}.code", f"unknown_{col.kind}"
            joins.append(
                f"left join ref_alias {j} on {j}.kind = '{col.kind}' "
                f"and {j}.alias_key = {n.lookup_key(raw)}"
            )
        elif col.kind == "date":
            value, reason = f"val__{col.name}", "bad_date"
        elif col.kind == "amount":
            value, reason = f"val__{col.name}", "bad_amount"
        else:
            value, reason = raw, ""
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
    staged = (
        f"(select {', '.join(s4)} from (select {', '.join(s3)} from (select {', '.join(s2)} "
        f"from (select {', '.join(s1)} from src) s1) s2) s3) s4"
    )
    return f"select {', '.join(selects)} from {staged} {' '.join(joins)}"


def _insert_loaded(con: duckdb.DuckDBPyConnection, layout: Layout, s: Submission) -> int:
    """Rows without a problem into the layout's raw table; returns the rows inserted."""
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
    ]
    vals = ["?", "?", "source_line", *targets, *extra, *raw_sources, "current_localtimestamp()"]
    con.execute(
        f"insert into {layout.table} ({', '.join(cols)}) "
        f"select {', '.join(vals)} from _norm where reason is null",
        [s.sha256, s.path.name],
    )
    return con.execute("select count(*) from _norm where reason is null").fetchone()[0]


def _insert_ledger_events(con: duckdb.DuckDBPyConnection, s: Submission) -> int:
    """Ledger rows without a problem, turned into events (see the module doc); returns events."""
    stages = ", ".join(f"('{code}', {i})" for i, (_, code) in enumerate(LEDGER_STAGE_DATES, 1))
    date_of = " ".join(f"when '{code}' then {col}" for col, code in LEDGER_STAGE_DATES)
    precision_of = " ".join(
        f"when '{code}' then {col}_precision" for col, code in LEDGER_STAGE_DATES
    )
    fail_words = "|".join(FAIL_WORDS)
    common = (
        "?, ?, source_line, city_code, raw__city, project_id, project_name, domain_code, "
        "technology_code, demand_owner, supplier, stage_code"
    )
    sql = f"""
        insert into raw.events (
            source_file_sha256, source_file_name, source_line, city_code, city_raw, project_id,
            project_name, domain_code, technology_code, demand_owner, supplier, stage_code,
            event_type, event_date, event_date_precision, amount_yuan, amount_raw, reported_at,
            loaded_at)
        with entered as (
            select _norm.*, s.stage_code, s.stage_order,
                   case s.stage_code {date_of} end as stage_date,
                   case s.stage_code {precision_of} end as stage_date_precision
            from _norm cross join (values {stages}) s(stage_code, stage_order)
            where _norm.reason is null
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
                   reported_at
            from filled
            union all
            select {common},
                   coalesce(end_type, case when regexp_matches(lower(coalesce(raw__end_reason, '')),
                                                               '{fail_words}')
                                           then 'fail' else 'withdraw' end),
                   end_date, end_date_precision, null, null, reported_at
            from filled where stage_order = top_order and end_date is not null
        )
        select *, current_localtimestamp() from events
    """
    params = [s.sha256, s.path.name, s.sha256, s.path.name]
    return con.execute(sql, params).fetchone()[0]


def _insert_quarantined(con: duckdb.DuckDBPyConnection, layout: Layout, s: Submission) -> dict:
    raw_value = " ".join(f"when '{c.name}' then raw__{c.name}" for c in layout.columns)
    written = " ".join(f"when '{c}' then {_sql_str(text)}" for c, text in s.match.written.items())
    source_column = f"case reason_column {written} end" if written else "null"
    con.execute(
        f"""insert into raw.quarantine (source_file_sha256, source_file_name, layout,
                source_line, column_name, raw_value, reason, quarantined_at, source_column)
            select ?, ?, ?, source_line, reason_column,
                   case when reader_problem then problem_value
                        else case reason_column {raw_value} end end,
                   reason, current_localtimestamp(), {source_column}
            from _norm where reason is not null""",
        [s.sha256, s.path.name, layout.name],
    )
    rows = con.execute(
        "select reason, count(*) from _norm where reason is not null group by reason"
    ).fetchall()
    return dict(sorted(rows))


def _ledger(con: duckdb.DuckDBPyConnection, r: Receipt, size: int, archived: str | None) -> None:
    con.execute(
        """insert into raw.file_ledger (file_sha256, file_name, file_size, layout, encoding,
               rows_read, rows_loaded, rows_quarantined, status, reason, archived_path,
               first_seen_at, last_seen_at, times_seen, file_format, sheet_name)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                   current_localtimestamp(), current_localtimestamp(), 1, ?, ?)
           on conflict (file_sha256) do update set
               file_name = excluded.file_name, layout = excluded.layout,
               encoding = excluded.encoding, rows_read = excluded.rows_read,
               rows_loaded = excluded.rows_loaded, rows_quarantined = excluded.rows_quarantined,
               status = excluded.status, reason = excluded.reason,
               archived_path = excluded.archived_path, last_seen_at = excluded.last_seen_at,
               times_seen = raw.file_ledger.times_seen + 1,
               file_format = excluded.file_format, sheet_name = excluded.sheet_name""",
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
        ],
    )


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
        "last_seen_at = current_localtimestamp() where file_sha256 = ?",
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
    con: duckdb.DuckDBPyConnection, r: Receipt, reason: str, message: str, size: int
) -> Receipt:
    r.status, r.reason = "rejected", f"{reason}: {' '.join(message.split())}"  # one line
    _ledger(con, r, size, None)
    return r


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
    """
    path = Path(path)
    limits = limits or Limits()
    try:
        size = check_size(path, limits)
    except RejectedFile as exc:
        if not path.is_file():
            return Receipt(path.name, None, "rejected", reason=f"{exc.reason}: {exc.message}")
        sha = sha256_of(path)
        if (seen := _seen_before(con, sha, path.name)) is not None:
            return seen
        return _reject(
            con, Receipt(path.name, sha, "rejected"), exc.reason, exc.message, path.stat().st_size
        )

    sha = sha256_of(path)
    if (seen := _seen_before(con, sha, path.name)) is not None:
        return seen
    receipt = Receipt(path.name, sha, "loaded")
    try:
        sub = read_submission(path, sha, size, sheet, limits)
    except RejectedFile as exc:
        return _reject(con, receipt, exc.reason, exc.message, size)
    except Exception as exc:  # a damaged file must not stop the other files of the batch
        return _reject(
            con, receipt, "unreadable", f"the file cannot be read ({type(exc).__name__})", size
        )

    layout = sub.layout
    receipt.layout, receipt.encoding, receipt.format = layout.name, sub.encoding, sub.format
    receipt.sheet, receipt.header_line, receipt.notes = sub.sheet, sub.header_line, sub.notes
    receipt.columns = {text: col for col, text in sub.match.written.items()}
    receipt.ignored_columns = list(sub.match.ignored)
    register_reference(con)
    con.begin()
    try:
        con.register("src", sub.table)
        con.execute(
            "create or replace temp table _norm as "
            + _normalise_sql(layout, set(sub.table.column_names), sub.match.units)
        )
        receipt.rows_read = sub.table.num_rows
        if layout is LEDGER:
            receipt.events_loaded = _insert_ledger_events(con, sub)
            receipt.rows_loaded = con.execute(
                "select count(*) from _norm where reason is null"
            ).fetchone()[0]
        else:
            receipt.rows_loaded = _insert_loaded(con, layout, sub)
            receipt.events_loaded = receipt.rows_loaded if layout.table == "raw.events" else 0
        checkpoint("ingest:after_insert")
        receipt.quarantine_by_reason = _insert_quarantined(con, layout, sub)
        receipt.rows_quarantined = sum(receipt.quarantine_by_reason.values())
        archived = archive_dir / sha[:2] / sha / _safe_name(path.name)
        archived.parent.mkdir(parents=True, exist_ok=True)
        checkpoint("ingest:archive")
        _archive_copy(path, archived)
        checkpoint("ingest:before_ledger")
        _ledger(con, receipt, size, str(archived))
        checkpoint("ingest:after_ledger")
        con.execute("drop table _norm")
        con.unregister("src")
        con.commit()
    except Exception:
        con.rollback()
        raise
    checkpoint("ingest:after_commit")
    return receipt
