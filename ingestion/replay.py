"""Repair without re-sending: read the quarantined rows of archived files again.

When the platform learns what it lacked (an alias in ``value_aliases.csv``, a city name in
``city_aliases.csv``, a header name), the rows it quarantined for it need not wait for the
city to send its file again: every loaded file is archived unchanged, so :func:`replay_file`
reads it again (in the context it first came with: channel, ``--city``, ``--published-on``,
sheet), normalises it with today's references and, of the rows still in quarantine (those of
one reason, if asked), loads the ones that now pass and records the current problems of the
others.

Exactly once, whatever is re-run, killed or run concurrently: the rows that load leave
``raw.quarantine`` in the same transaction that inserts them, so a replay only ever considers
rows still waiting; a killed replay leaves nothing (the transaction is not committed); the
caller holds the writer lock, so two replays run one after the other. Rows loaded by a replay
take a new number of the load sequence (``raw.replays.load_id``, above everything loaded
before), so incremental models see them, and keep their file's place (``file_load_id``) and
first load time (``loaded_at``), so a correction sent after that file still wins.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from ingestion.context import Context, UnknownChannelError, file_context
from ingestion.faultpoints import checkpoint
from ingestion.file_ledger import next_load_id
from ingestion.layouts import REGISTER
from ingestion.load import _normalise
from ingestion.reading import Limits, RejectedFile, read_submission
from ingestion.receipts import Receipt, describe
from ingestion.reference import register_reference
from ingestion.sql import UTC_NOW, insert_loaded, insert_quarantined
from ingestion.stage_dates import insert_stage_date_events

REPLAY_TABLE = "_replay_norm"


@dataclass(frozen=True)
class Waiting:
    """A loaded file with quarantined rows a replay may load."""

    sha256: str
    file_name: str
    size: int
    archived_path: str | None
    sheet: str | None
    layout: str
    load_id: int
    first_seen_at: datetime
    context: Context
    rows: int  # quarantined rows the replay considers


def waiting_files(
    con: duckdb.DuckDBPyConnection, reason: str | None = None, file: str | None = None
) -> list[Waiting]:
    """The loaded files with quarantined rows (of ``reason``, if given; of the one file whose
    hash is or starts with ``file``, if given), in load order."""
    rows = con.execute(
        """
        select l.file_sha256, l.file_name, l.file_size, l.archived_path, l.sheet_name, l.layout,
               l.load_id, l.first_seen_at, l.channel, l.city_option, l.published_on_option,
               q.rows
        from raw.file_ledger as l
        inner join (
            select source_file_sha256, count(distinct source_line) as rows
            from raw.quarantine
            where $reason is null or reason = $reason
            group by source_file_sha256
        ) as q on q.source_file_sha256 = l.file_sha256
        where l.status = 'loaded' and ($file is null or starts_with(l.file_sha256, $file))
        order by l.load_id, l.file_sha256
        """,
        {"reason": reason, "file": file.lower() if file else None},
    ).fetchall()
    return [
        Waiting(sha, name, size, path, sheet, layout, load_id, first, Context(ch, city, on), n)
        for sha, name, size, path, sheet, layout, load_id, first, ch, city, on, n in rows
    ]


def _entries_of(con: duckdb.DuckDBPyConnection, sha: str, lines: str) -> set[tuple]:
    return set(
        con.execute(
            "select source_line, column_name, coalesce(raw_value, ''), reason "
            f"from raw.quarantine where source_file_sha256 = ? and source_line in ({lines})",
            [sha],
        ).fetchall()
    )


def replay_file(
    con: duckdb.DuckDBPyConnection,
    w: Waiting,
    reason: str | None,
    replayed_by: str,
    replay_id: str,
    limits: Limits | None = None,
) -> Receipt:
    """Read file ``w`` again from the archive and load its quarantined rows that now pass,
    in one transaction (the caller holds the writer lock); returns the replay's receipt.

    ``status`` is ``replayed`` when something changed (rows loaded, or the problems of the
    rows still waiting changed), ``unchanged`` when the replay found nothing new (nothing is
    written), ``rejected`` when the archived file cannot be read again.
    """
    receipt = Receipt(w.file_name, w.sha256, "unchanged", layout=w.layout, sheet=w.sheet)
    receipt.channel, receipt.city_option = w.context.channel, w.context.city
    receipt.published_on_option = w.context.published_on
    archived = Path(w.archived_path) if w.archived_path else None
    if archived is None or not archived.is_file():
        receipt.status, receipt.reason = "rejected", f"not_found: the archived copy {archived}"
        return receipt
    register_reference(con)
    try:
        sub = read_submission(archived, w.sha256, w.size, w.sheet, limits)
        sub.context = file_context(con, sub.titles, w.context)
    except (RejectedFile, UnknownChannelError) as exc:
        receipt.status = "rejected"
        receipt.reason = f"{getattr(exc, 'reason', 'unknown_channel')}: {exc}"
        return receipt
    sub.path = Path(w.file_name)  # rows keep the name the file was submitted under
    receipt.encoding, receipt.format, receipt.notes = sub.encoding, sub.format, sub.notes
    receipt.columns = {text: col for col, text in sub.match.written.items()}
    norm = _normalise(con, [sub], REPLAY_TABLE, stream=False)
    try:
        return _replay_rows(con, w, reason, replayed_by, replay_id, sub, norm, receipt)
    finally:
        with contextlib.suppress(duckdb.Error):
            con.execute(f"drop table if exists {REPLAY_TABLE}")


def _replay_rows(con, w, reason, replayed_by, replay_id, sub, norm, receipt) -> Receipt:
    """The replay's transaction: the waiting rows that pass move from quarantine to raw."""
    # only the rows still waiting (of the reason asked for) are considered
    con.execute(
        f"delete from {REPLAY_TABLE} where source_line not in ("
        "select distinct source_line from raw.quarantine "
        "where source_file_sha256 = $sha and ($reason is null or reason = $reason))",
        {"sha": w.sha256, "reason": reason},
    )
    lines = f"select source_line from {REPLAY_TABLE}"
    counts = dict(
        con.execute(f"select reason is null, count(*) from {REPLAY_TABLE} group by all").fetchall()
    )
    passing, failing = counts.get(True, 0), counts.get(False, 0)
    receipt.rows_read, receipt.rows_loaded, receipt.rows_quarantined = (
        passing + failing,
        passing,
        failing,
    )
    con.begin()
    try:
        before = _entries_of(con, w.sha256, lines)
        con.execute(
            f"delete from raw.quarantine where source_file_sha256 = ? and source_line in ({lines})",
            [w.sha256],
        )
        receipt.quarantine_by_reason = insert_quarantined(con, norm, sub) if failing else {}
        if not passing and _entries_of(con, w.sha256, lines) == before:
            con.rollback()  # nothing new: the replay changes nothing
            receipt.notes.append(
                f"replay: {failing} quarantined row(s) read again; none passes yet and their "
                "problems are unchanged: nothing was written"
            )
            return receipt
        receipt.status = "replayed"
        receipt.load_id = next_load_id(con)
        stamp = f"cast('{w.first_seen_at.isoformat(sep=' ')}' as timestamp)"
        if sub.layout is REGISTER:
            receipt.events_loaded = insert_stage_date_events(
                con, norm, sub, receipt.load_id, w.load_id, stamp
            )
        elif passing:
            receipt.events_loaded = insert_loaded(con, norm, sub, receipt.load_id, w.load_id, stamp)
        if sub.layout.table != "raw.events":
            receipt.events_loaded = 0
        checkpoint("replay:after_insert")
        con.execute(
            """
            update raw.file_ledger set
                rows_loaded = rows_loaded + $passing,
                rows_quarantined = rows_quarantined - $passing,
                times_replayed = coalesce(times_replayed, 0) + 1,
                last_replayed_load_id = $load_id
            where file_sha256 = $sha
            """,
            {"passing": passing, "load_id": receipt.load_id, "sha": w.sha256},
        )
        con.execute(
            f"""
            insert into raw.replays (replay_id, file_sha256, load_id, replayed_at, replayed_by,
                reason_filter, rows_considered, rows_loaded, rows_still_quarantined,
                events_loaded)
            values (?, ?, ?, {UTC_NOW}, ?, ?, ?, ?, ?, ?)
            """,
            [
                replay_id,
                w.sha256,
                receipt.load_id,
                replayed_by,
                reason,
                passing + failing,
                passing,
                failing,
                receipt.events_loaded,
            ],
        )
        describe(con, receipt, sub, f"source_file_sha256 = ? and load_id = {receipt.load_id}")
        checkpoint("replay:before_commit")
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.rollback()
        raise
    checkpoint("replay:after_commit")
    receipt.notes.append(
        f"replay {replay_id} by {replayed_by}"
        + (f" (reason {reason})" if reason else "")
        + f": {passing} of {passing + failing} quarantined row(s) now load "
        f"(load {receipt.load_id}); {failing} still wait"
    )
    return receipt
