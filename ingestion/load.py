"""Load submissions into the raw layer and account for every row: the intake's orchestration.

Each file ends in the file ledger exactly once (keyed by content hash,
:mod:`ingestion.file_ledger`); each of its rows ends in exactly one place: the layout's raw
table, or ``raw.quarantine`` with the column, raw value and a reason code.
``rows_read = rows_loaded + rows_quarantined`` for every loaded file. The whole file is written
in one transaction (rows, archive copy, ledger row), so a crash never leaves half a file behind.

Every format (CSV, XLSX, JSON Lines) arrives as the same Arrow table of strings
(:mod:`ingestion.reading`) and is normalised by one SQL statement (:mod:`ingestion.sql`).
:func:`ingest_files` reads files a batch at a time and normalises the files of a batch that
share a layout and columns together (one statement for a hundred small files), then writes
each file in its own transaction, in the order given; a large file is normalised while it is
inserted, without an intermediate table. A 台账 row becomes events (:mod:`ingestion.stage_dates`);
the file's bytes go to the archive (:mod:`ingestion.archive`) and its receipt is filled in by
:mod:`ingestion.receipts`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ingestion.archive import archive_copy as _archive_copy
from ingestion.archive import archived_path
from ingestion.arrow_memory import allocating_from_intake_pool
from ingestion.context import Context, FileContext, UnknownChannelError, file_context
from ingestion.faultpoints import checkpoint
from ingestion.file_ledger import next_load_id, record, reject, seen_before, statuses_of
from ingestion.layouts import REGISTER
from ingestion.reading import (
    Limits,
    RejectedFile,
    Submission,
    check_size,
    read_submission,
    sha256_of,
)
from ingestion.receipts import Receipt, describe
from ingestion.reference import register_reference
from ingestion.sql import (
    MAX_VALUE_CHARS,
    UTC_NOW,
    Normalised,
    insert_loaded,
    insert_quarantined,
    normalise_sql,
    trimmed_source,
)
from ingestion.stage_dates import insert_stage_date_events

# Importers of these names from here (scenetrack, tests) keep working.
__all__ = ["MAX_VALUE_CHARS", "UTC_NOW", "Receipt", "ingest_file", "ingest_files"]

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
    norm: Normalised | None = None
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
) -> Normalised:
    """Normalise ``subs`` (one signature) into the temp table ``table``, one SQL statement,
    and count each file's rows by reason. ``stream``: a large single file is normalised while
    it is inserted instead (False: always into the table, as a replay needs)."""
    layout = subs[0].layout
    columns = sorted(subs[0].table.column_names)
    parts = [
        trimmed_source(s.table, layout)
        .select(columns)
        .append_column("__file", _constant_int32(i, s.table.num_rows))
        for i, s in enumerate(subs)
    ]
    src = parts[0] if len(parts) == 1 else pa.concat_tables(parts)
    ctx = _context_table(subs)
    sql = normalise_sql(layout, set(columns), subs[0].match.units, ctx is not None)
    norm = Normalised(layout, table, {id(s): i for i, s in enumerate(subs)})
    norm.header, norm.context = set(columns), ctx
    if stream and len(subs) == 1 and layout is not REGISTER and src.num_rows >= PARALLEL_ROWS:
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
    done: dict[int, Normalised | BaseException] = {}
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
    con: duckdb.DuckDBPyConnection, norm: Normalised, sub: Submission, receipt: Receipt
) -> None:
    """Insert the file's loaded and quarantined rows; set the receipt's counts."""
    layout = sub.layout
    if norm.source is None:  # normalised with its batch
        counts = dict(norm.counts.get(norm.index[id(sub)], {}))
        loaded = counts.pop(None, 0)
        with _unordered_inserts(con, loaded):
            if layout is REGISTER:
                receipt.events_loaded = insert_stage_date_events(con, norm, sub, receipt.load_id)
            elif loaded:
                insert_loaded(con, norm, sub, receipt.load_id)
    else:  # one large file: normalised while inserted, its problem rows kept aside
        with (
            _registered(con, norm.source, norm.context),
            _unordered_inserts(con, receipt.rows_read),
        ):
            loaded = insert_loaded(con, norm, sub, receipt.load_id)
            counts = {}
            if loaded < receipt.rows_read:
                con.execute(
                    f"create or replace temp table {norm.table} as "
                    f"select * from ({norm.sql}) where reason is not null"
                )
                counts = _reason_counts(con, norm.table).get(0, {})
    receipt.rows_loaded = loaded
    receipt.rows_quarantined = sum(counts.values())  # rows, each counted by its first reason
    if layout.table == "raw.events" and layout is not REGISTER:
        receipt.events_loaded = loaded
    checkpoint("ingest:after_insert")
    receipt.quarantine_by_reason = (
        insert_quarantined(con, norm, sub) if receipt.rows_quarantined else {}
    )
    describe(con, receipt, sub, f"source_file_sha256 = ? and load_id = {receipt.load_id}")


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
        receipt.load_id = next_load_id(con)
        _write_rows(con, item.norm, sub, receipt)
        archived = archived_path(archive_dir, item.sha, path.name)
        archived.parent.mkdir(parents=True, exist_ok=True)
        checkpoint("ingest:archive")
        _archive_copy(path, archived)
        checkpoint("ingest:before_ledger")
        record(con, receipt, item.size, str(archived), new)
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
        statuses = statuses_of(con, [i.sha for i in items if i.sha is not None])
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
        seen = seen_before(con, item.sha, item.path.name)
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
        receipt = reject(con, receipt, reason, message, item.size, new)
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
