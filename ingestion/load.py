"""Load one submission into the raw layer and account for every row.

Each file ends in the ledger exactly once (keyed by content hash); each of its rows ends in
exactly one place: the layout's raw table, or ``raw.quarantine`` with the column, raw value and
a reason code. ``rows_read = rows_loaded + rows_quarantined`` for every loaded file. The whole
file is written in one transaction, so a crash never leaves half a file behind.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from ingestion import normalise as n
from ingestion.layouts import Column, Layout, detect_layout
from ingestion.reading import OpenedFile, RejectedFile, open_submission, read_rows, sha256_of
from ingestion.reference import register_reference

KIND_TO_ALIAS = {"stage", "event_type", "domain", "technology"}


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

    def to_dict(self) -> dict:
        return asdict(self)

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


def _expressions(col: Column, present: bool) -> tuple[str, str, str]:
    """(normalised value, failure reason SQL or '', alias join SQL or '') for one column."""
    raw = f'src."{col.name}"' if present else "cast(null as varchar)"
    if col.kind == "city":
        return (
            f"j_{col.name}.city_code",
            "unknown_city",
            (f"left join ref_city j_{col.name} on j_{col.name}.alias_key = {n.city_key(raw)}"),
        )
    if col.kind in KIND_TO_ALIAS:
        join = (
            f"left join ref_alias j_{col.name} on j_{col.name}.kind = '{col.kind}' "
            f"and j_{col.name}.alias_key = {n.lookup_key(raw)}"
        )
        return f"j_{col.name}.code", f"unknown_{col.kind}", join
    if col.kind == "date":
        return n.date_value(raw), "bad_date", ""
    if col.kind == "amount":
        return n.amount_yuan(raw), "bad_amount", ""
    return n.clean_text(raw), "", ""


def _normalise_sql(layout: Layout, header: set[str]) -> str:
    """One SELECT that normalises every column and names the first problem of each row."""
    selects, joins, checks = ["src.__line as source_line"], [], []
    for col in layout.columns:
        present = col.name in header
        raw = f'src."{col.name}"' if present else "cast(null as varchar)"
        value, reason, join = _expressions(col, present)
        target = col.target or col.name
        selects.append(f"{n.clean_text(raw)} as raw__{col.name}")
        selects.append(f"{value} as {target}")
        if join:
            joins.append(join)
        if col.required:
            checks.append((f"{n.clean_text(raw)} is null", "missing_required", col.name))
        if reason:
            checks.append(
                (f"{n.clean_text(raw)} is not null and {value} is null", reason, col.name)
            )
        if col.kind == "date":
            selects.append(f"{n.date_precision(raw)} as {target}_precision")
            checks.append(
                (
                    f"{value} is not null and not {n.date_in_range(raw)}",
                    "date_out_of_range",
                    col.name,
                )
            )
    reason_sql = " ".join(f"when {c} then '{r}'" for c, r, _ in checks)
    column_sql = " ".join(f"when {c} then '{name}'" for c, _, name in checks)
    selects.append(f"case {reason_sql} end as reason")
    selects.append(f"case {column_sql} end as reason_column")
    return f"select {', '.join(selects)} from src {' '.join(joins)}"


def _insert_loaded(con: duckdb.DuckDBPyConnection, layout: Layout, o: OpenedFile) -> int:
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
        [o.sha256, o.path.name],
    )
    return con.execute("select count(*) from _norm where reason is null").fetchone()[0]


def _insert_quarantined(con: duckdb.DuckDBPyConnection, layout: Layout, o: OpenedFile) -> dict:
    raw_value = " ".join(f"when '{c.name}' then raw__{c.name}" for c in layout.columns)
    con.execute(
        f"""insert into raw.quarantine
            select ?, ?, ?, source_line, reason_column, case reason_column {raw_value} end,
                   reason, current_localtimestamp()
            from _norm where reason is not null""",
        [o.sha256, o.path.name, layout.name],
    )
    rows = con.execute(
        "select reason, count(*) from _norm where reason is not null group by reason"
    ).fetchall()
    return dict(sorted(rows))


def _ledger(con: duckdb.DuckDBPyConnection, r: Receipt, size: int, archived: str | None) -> None:
    con.execute(
        """insert into raw.file_ledger values
           (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
            current_localtimestamp(), current_localtimestamp(), 1)""",
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
        ],
    )


def _seen_before(con: duckdb.DuckDBPyConnection, sha: str, name: str) -> Receipt | None:
    row = con.execute(
        "select status, layout, encoding, rows_read, reason from raw.file_ledger "
        "where file_sha256 = ?",
        [sha],
    ).fetchone()
    if row is None:
        return None
    con.execute(
        "update raw.file_ledger set times_seen = times_seen + 1, "
        "last_seen_at = current_localtimestamp() where file_sha256 = ?",
        [sha],
    )
    status, layout, encoding, rows_read, reason = row
    if status == "rejected":
        return Receipt(name, sha, "rejected", layout, encoding, reason=reason)
    return Receipt(
        name, sha, "duplicate", layout, encoding, rows_read=rows_read, rows_duplicate=rows_read
    )


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, archive_dir: Path) -> Receipt:
    """Load one file (idempotent by content hash) and return its receipt.

    The caller holds the writer lock. Rejected files are recorded too, so the ledger lists every
    file ever submitted.
    """
    path = Path(path)
    try:
        opened = open_submission(path)
    except RejectedFile as exc:
        sha = sha256_of(path) if path.is_file() else None
        if sha is not None:
            if (seen := _seen_before(con, sha, path.name)) is not None:
                return seen
            r = Receipt(path.name, sha, "rejected", reason=f"{exc.reason}: {exc.message}")
            _ledger(con, r, path.stat().st_size, None)
            return r
        return Receipt(path.name, None, "rejected", reason=f"{exc.reason}: {exc.message}")

    if (seen := _seen_before(con, opened.sha256, path.name)) is not None:
        return seen
    layout = detect_layout(opened.header)
    receipt = Receipt(path.name, opened.sha256, "loaded", encoding=opened.encoding)
    if layout is None:
        receipt.status = "rejected"
        receipt.reason = (
            "unknown_layout: the header "
            + ", ".join(opened.header)
            + " matches no known layout (events needs city, project_id, stage, event_type,"
            " event_date; capabilities needs city, capability_id, published_date)"
        )
        _ledger(con, receipt, opened.size, None)
        return receipt
    try:
        table = read_rows(opened)
    except RejectedFile as exc:
        receipt.status, receipt.reason = "rejected", f"{exc.reason}: {exc.message}"
        _ledger(con, receipt, opened.size, None)
        return receipt

    receipt.layout = layout.name
    register_reference(con)
    con.begin()
    try:
        con.register("src", table)
        con.execute(
            "create or replace temp table _norm as "
            + _normalise_sql(layout, set(table.column_names))
        )
        receipt.rows_read = table.num_rows
        receipt.rows_loaded = _insert_loaded(con, layout, opened)
        receipt.quarantine_by_reason = _insert_quarantined(con, layout, opened)
        receipt.rows_quarantined = sum(receipt.quarantine_by_reason.values())
        archived = archive_dir / opened.sha256[:2] / opened.sha256 / _safe_name(path.name)
        archived.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, archived)
        _ledger(con, receipt, opened.size, str(archived))
        con.execute("drop table _norm")
        con.unregister("src")
        con.commit()
    except Exception:
        con.rollback()
        raise
    return receipt
