"""The file ledger (``raw.file_ledger``): one row per content hash ever submitted.

Each file ends in the ledger exactly once (keyed by content hash), loaded, duplicate or
rejected; its ``load_id`` is the file's place in the load sequence.
"""

from __future__ import annotations

import duckdb

from ingestion.receipts import Receipt
from ingestion.sql import UTC_NOW

_COLUMNS = (
    "file_sha256, file_name, file_size, layout, encoding, rows_read, rows_loaded, "
    "rows_quarantined, status, reason, archived_path, first_seen_at, last_seen_at, times_seen, "
    "file_format, sheet_name, load_id, channel, city_option, published_on_option"
)
_VALUES = f"values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {UTC_NOW}, {UTC_NOW}, 1, ?, ?, ?, ?, ?, ?)"
_UPDATE = """
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


def record(
    con: duckdb.DuckDBPyConnection,
    r: Receipt,
    size: int,
    archived: str | None,
    new: bool = False,
) -> None:
    """Record the file in the ledger. ``new``: the caller knows no row holds this hash (a
    plain INSERT, cheaper than the upsert that updates a row left by an earlier rejection)."""
    con.execute(
        f"insert into raw.file_ledger ({_COLUMNS}) {_VALUES}" + ("" if new else _UPDATE),
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


def statuses_of(con: duckdb.DuckDBPyConnection, shas: list[str]) -> dict[str, str]:
    """Ledger status of each hash already recorded (one query for a whole batch)."""
    if not shas:
        return {}
    rows = con.execute(
        "select file_sha256, status from raw.file_ledger "
        "where file_sha256 in (select unnest(?::varchar[]))",
        [shas],
    ).fetchall()
    return dict(rows)


def seen_before(con: duckdb.DuckDBPyConnection, sha: str, name: str) -> Receipt | None:
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


def reject(
    con: duckdb.DuckDBPyConnection,
    r: Receipt,
    reason: str,
    message: str,
    size: int,
    new: bool = False,
) -> Receipt:
    r.status, r.reason = "rejected", f"{reason}: {' '.join(message.split())}"  # one line
    record(con, r, size, None, new)
    return r


def next_load_id(con: duckdb.DuckDBPyConnection) -> int:
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
