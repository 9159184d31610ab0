"""The pipeline's steps as plain functions: what the CLI, the Airflow tasks and the tests call.

Each step that writes the work database takes the home's writer lock, so steps from the CLI
and from Airflow never overlap (Airflow additionally runs them in a one-slot pool).
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from ingestion.context import Context
from ingestion.load import Receipt, ingest_files
from ingestion.reading import Limits
from scenetrack import progress
from scenetrack.config import Paths, PgTarget, warehouse_target
from scenetrack.faults import checkpoint
from scenetrack.landing import landed_entries
from scenetrack.warehouse import connect_work, writer_lock

# What lands in the landing folder comes from upload accounts, not from the operator: a link
# there is never followed.
LANDING_LIMITS = Limits(follow_symlinks=False)


class GateBlockedError(RuntimeError):
    """The quality gate failed: nothing was published."""


class IngestError(RuntimeError):
    """A file could not be written to the warehouse (e.g. a full disk): its transaction was
    rolled back, so nothing of it is loaded and a rerun loads it."""


def _ingest(
    p: Paths,
    files: Iterable[Path],
    sheet: str | None = None,
    limits: Limits | None = None,
    context: Context | Mapping[Path, Context] | None = None,
) -> list[Receipt]:
    """Ingest under a lock the caller holds; one file's failure does not stop the others.

    Each file gets a receipt (JSON and XLSX) in a new folder under ``<home>/receipts/``.
    """
    from ingestion.receipts import batch_dir, write_receipt

    receipts: list[Receipt] = []
    files = [Path(f) for f in files]
    con = connect_work(p)
    try:
        out = batch_dir(p.home) if files else None
        # receipts come in file order, each once its file committed (see ingest_files)
        loading = ingest_files(
            con, files, p.archive_dir, sheet=sheet, limits=limits, context=context
        )
        with (
            contextlib.closing(loading),
            progress.task("ingest", len(files), "files") as shown,
        ):
            for f in files:
                shown.update(note=f.name)
                try:
                    r = next(loading)
                except (OSError, duckdb.IOException) as exc:
                    raise IngestError(
                        f"could not write {f.name} to the warehouse ({exc}); nothing of it "
                        f"was loaded and the files after it were not loaded. Fix the cause "
                        f"(e.g. free disk space) and rerun: files already loaded count as "
                        f"duplicates."
                    ) from exc
                write_receipt(con, r, out)
                receipts.append(r)
                shown.advance(rows=r.rows_read, quarantined=r.rows_quarantined)
    finally:
        con.close()
    return receipts


def _sync_postgres(p: Paths) -> PgTarget | None:
    """On the PostgreSQL target (``SCENETRACK_WAREHOUSE``): roles and schemas in place, then
    the raw rows PostgreSQL lacks copied over (COPY, one transaction; a no-op when in sync).
    Returns the target, or None on the embedded DuckDB target. Caller holds the writer lock.
    """
    pg = warehouse_target()
    if pg is not None:
        from scenetrack.postgres.roles import ensure_roles
        from scenetrack.postgres.sync import sync_raw_to_postgres

        ensure_roles(pg)
        sync_raw_to_postgres(p, pg)
    return pg


def ingest_paths(
    p: Paths, files: Iterable[Path], sheet: str | None = None, context: Context | None = None
) -> list[Receipt]:
    """Ingest files in the given order (later files' reports win over earlier ones).

    ``sheet``: the worksheet to read from XLSX files (default: each workbook's first sheet).
    ``context``: the channel, city and publication date the operator names for the files
    (``scenetrack ingest --channel/--city/--published-on``; ingestion.context).
    On the PostgreSQL target the new raw rows are then copied into PostgreSQL.
    """
    with writer_lock(p):
        receipts = _ingest(p, files, sheet, context=context)
        _sync_postgres(p)
        return receipts


def landed_files(p: Paths) -> list[Path]:
    """Complete submissions waiting in the landing folder and its channel folders
    (``landing/<city>/``), oldest first.

    Upload protocol: write to a name starting with '.' or ending in '.part', then rename;
    such names are never picked up, so a half-written file is never ingested. Anything else
    that is not a folder is listed, symbolic links and named pipes included: intake rejects
    what is not a regular file without reading it (:data:`LANDING_LIMITS`).
    """
    landing = p.home / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    files = [landing / name for name, _ in landed_entries(str(landing))]
    return sorted(files, key=lambda f: (f.lstat().st_mtime, str(f.relative_to(landing))))


def channel_of(p: Paths, f: Path) -> str | None:
    """The submission channel of a landed file: its folder under ``landing/`` (None: the
    file lies in ``landing/`` itself)."""
    relative = f.relative_to(p.home / "landing")
    return relative.parts[0] if len(relative.parts) > 1 else None


def ingest_landing(p: Paths) -> list[Receipt]:
    """Ingest everything landed, then move each file to processed/ or rejected/ (never delete).

    A file from a channel folder (``landing/无锡/``) is that city's (ingestion.context) and
    moves to ``processed/无锡/`` (or ``rejected/无锡/``). A rejected file gets a copy of its
    receipts beside it (``<name>.receipt.json``/``.xlsx``), so whoever looks in rejected/ sees
    why; the originals stay under ``<home>/receipts/``. Files move only after their
    transaction committed: after a crash in between, a file still in landing is loaded
    content, so the rerun (an Airflow retry) finds it a duplicate and moves it; nothing is
    loaded twice.
    """
    with writer_lock(p):
        files = landed_files(p)
        contexts = {f: Context(channel=channel) for f in files if (channel := channel_of(p, f))}
        receipts = _ingest(p, files, limits=LANDING_LIMITS, context=contexts)
        _sync_postgres(p)
        for f, r in zip(files, receipts, strict=True):
            dest = p.home / ("rejected" if r.status == "rejected" else "processed")
            if (channel := channel_of(p, f)) is not None:
                dest = dest / channel
            dest.mkdir(parents=True, exist_ok=True)
            shutil.move(str(f), dest / f.name)
            checkpoint("landing:after_move")
            if r.status == "rejected":
                for kept in (r.receipt_json, r.receipt_xlsx):
                    if kept and Path(kept).is_file():
                        shutil.copyfile(kept, dest / f"{f.name}.receipt{Path(kept).suffix}")
    return receipts


def replay(
    p: Paths, reason: str | None = None, file: str | None = None, by: str | None = None
) -> list[Receipt]:
    """Read the quarantined rows of the archived files again and load those that now pass
    (after an alias or a reference was added), under the writer lock; one receipt per file,
    in a new folder under ``<home>/receipts/``. The next ``run`` publishes them.

    ``reason``: only rows quarantined for it; ``file``: only the file whose hash is (or
    starts with) it; ``by``: who replays (kept in ``raw.replays``). Exactly once whatever is
    re-run, killed or run concurrently: see :mod:`ingestion.replay`.
    """
    import getpass

    from ingestion.receipts import batch_dir, write_receipt
    from ingestion.replay import replay_file, waiting_files

    replay_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    by = by or f"{getpass.getuser()} (operator)"
    receipts: list[Receipt] = []
    with writer_lock(p):
        con = connect_work(p)
        try:
            waiting = waiting_files(con, reason, file)
            out = batch_dir(p.home) if waiting else None
            with progress.task("replay", len(waiting), "files") as shown:
                for w in waiting:
                    shown.update(note=w.file_name)
                    r = replay_file(con, w, reason, by, replay_id)
                    write_receipt(con, r, out)
                    receipts.append(r)
                    shown.advance(rows=r.rows_read, loaded=r.rows_loaded)
        finally:
            con.close()
        _sync_postgres(p)
    return receipts


HOLDS_CHANGES = "holds_changes"
"""Key of the holds count kept with the record of a passing build (scenetrack.transform)."""
DBT_PROJECT = "dbt_project"
"""Key of the dbt project's fingerprint kept with the record of a passing build."""


def dbt_project_fingerprint() -> str:
    """A hash of what decides the rows dbt writes: every file of the project's models, macros
    and seeds, and dbt_project.yml (its vars: the technology separators, the stalled
    thresholds). An incremental run never rereads the rows it wrote earlier, so after any of
    these changed (an alias added to a seed gives rows staged long ago another code; a model
    given a column cannot take rows into its old table) the next pipeline build is a full
    refresh."""
    import hashlib

    from scenetrack.config import DBT_PROJECT_DIR

    h = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml"]
    for folder in ("models", "macros", "seeds"):
        files += sorted(f for f in (DBT_PROJECT_DIR / folder).rglob("*") if f.is_file())
    for f in files:
        h.update(f.relative_to(DBT_PROJECT_DIR).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def build(p: Paths) -> int:
    """dbt build into the work database (PostgreSQL: into its staging/intermediate/marts
    schemas, after syncing any raw rows it lacks); returns the number of dbt nodes run.

    A full refresh when the held submissions changed since the last passing build
    (scenetrack.holdback: rows taken out of staging are invisible to an incremental run), or
    the dbt project did (:func:`dbt_project_fingerprint`: its seeds, models and macros).
    """
    from scenetrack import holdback
    from scenetrack.transform import dbt_build, last_build_record

    with writer_lock(p):
        con = connect_work(p)
        try:
            holds = holdback.changes(con)
        finally:
            con.close()
        _sync_postgres(p)
        last = last_build_record(p)
        project = dbt_project_fingerprint()
        full = last.get(HOLDS_CHANGES, 0) != holds or last.get(DBT_PROJECT) != project
        record = {HOLDS_CHANGES: holds, DBT_PROJECT: project}
        nodes = len(dbt_build(p, full_refresh=full, record=record).nodes)
        checkpoint("build:after_dbt")
        return nodes


def _warehouse_reader(p: Paths, pg: PgTarget | None):
    """A function opening a read-only connection to where the marts are built (the DuckDB
    work database, or the PostgreSQL warehouse), and the driver's placeholder."""
    if pg is not None:
        from scenetrack.postgres import connect as connect_pg

        return (lambda: connect_pg(pg, autocommit=True)), "%s"
    return (lambda: contextlib.closing(connect_work(p, read_only=True))), "?"


def _published_gate_run(p: Paths, pg: PgTarget | None) -> str | None:
    """The gate run whose marts are published now (None: nothing published)."""
    if pg is not None:
        from scenetrack.postgres.publish import published_gate_run

        return published_gate_run(pg)
    from scenetrack.publish import live_record

    live = live_record(p)
    return live.gate_run_id if live else None


def _gate_once(p: Paths, run_date: date | None, full: bool = False):
    """One gate run on what the warehouse holds now (fingerprinted first, under the same hold
    of the writer lock, and stored with its verdict: :func:`publish` publishes nothing else),
    over every row or the rows changed since the last passing gate (scenetrack.gate.scope)."""
    from scenetrack import audited
    from scenetrack.gate import run_gate
    from scenetrack.publish import live_record

    pg = warehouse_target()
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    with writer_lock(p):
        if pg is not None:  # the baseline is what PostgreSQL's `published` holds
            from scenetrack.postgres.publish import published_counts

            baseline = published_counts(pg)
        else:  # what the published file holds, read from it (its log line may be lost)
            live = live_record(p)
            baseline = live.tables if live else None
        connection, placeholder = _warehouse_reader(p, pg)
        with connection() as con:
            validated = audited.fingerprint(con, placeholder)
            passing = audited.passing_runs(con, placeholder)
        warehouse = None
        if pg is not None:
            from scenetrack.postgres.gate import PgGateWarehouse

            warehouse = PgGateWarehouse(pg)
        return run_gate(
            p.work_db,
            p.gate_dir,
            run_id,
            run_date,
            baseline_counts=baseline,
            warehouse=warehouse,
            fingerprint=validated,
            passing_runs=passing,
            full=full,
        )


def _hold_back(p: Paths, result) -> list:
    """Hold the newest submissions of the cities ``result`` failed on (its failures all
    belong to cities); returns the holds made (empty: nothing new to hold)."""
    from scenetrack import audited, holdback

    pg = warehouse_target()
    connection, placeholder = _warehouse_reader(p, pg)
    with writer_lock(p):
        after = audited.loaded_through(connection, _published_gate_run(p, pg), placeholder)
        con = connect_work(p)
        try:
            made = []
            for city, checks in sorted(result.failing_cities.items()):
                pairs = holdback.newest_submissions(con, [city], after)
                holdback.hold(con, pairs, f"gate {result.run_id}", checks)
                made += [
                    h for h in holdback.active(con, city) if (h.source_file_sha256, city) in pairs
                ]
        finally:
            con.close()
    return made


def held_note(holds: list) -> str:
    """The held submissions, one line each, for the gate's message and the task log."""
    if not holds:
        return ""
    lines = [f"Held back ({len(holds)} submission(s); everyone else's figures go on):"]
    for h in holds:
        lines.append(
            f"  HELD {h.city_code} {h.file_name or h.source_file_sha256[:12]} since {h.held_at} "
            f"by {h.held_by}: {'; '.join(h.checks)}"
        )
    lines.append(
        "  Release with `scenetrack release --city <code>` once the city has sent its "
        "correction (runbook: expectations/README.md, 'Per-city holdback')."
    )
    return "\n".join(lines)


def gate(p: Paths, run_date: date | None = None, full: bool = False):
    """Run the GX suites; raise :class:`GateBlockedError` with a readable summary on failure.

    Per-city holdback: when every failing check's rows belong to some cities, their newest
    submissions are held (scenetrack.holdback), the marts rebuilt without them and the gate
    run again; if that passes, its result is returned and everyone else publishes. A failure
    that belongs to no city blocks the whole publish, as does a second failure.
    ``full``: validate every row (else the rows changed since the last passing gate, with a
    periodic full run: scenetrack.gate.scope).
    """
    result = _gate_once(p, run_date, full)
    if result.passed:
        return result
    if result.failing_cities:
        held = _hold_back(p, result)
        if held:
            build(p)
            again = _gate_once(p, run_date, full)
            if again.passed:
                print(held_note(held), flush=True)
                return replace(again, held_back=tuple(h.to_dict() for h in held))
            raise GateBlockedError(
                f"{again.summary()}\n{held_note(held)}\nThe gate still fails without them."
            )
    raise GateBlockedError(result.summary())


def publish(p: Paths, gate_run_id: str):
    """Swap the audited marts in as the next published version.

    Refuses (:class:`scenetrack.audited.PublishRefusedError`, nothing published) unless gate
    run ``gate_run_id`` passed and the marts are still exactly what it validated.
    """
    from scenetrack import audited
    from scenetrack.publish import publish as _publish

    pg = warehouse_target()
    with writer_lock(p):
        connection, placeholder = _warehouse_reader(p, pg)
        audited.verify(connection, gate_run_id, placeholder)
        if pg is not None:  # atomic schema swap in PostgreSQL
            from scenetrack.postgres.publish import publish as publish_pg

            return publish_pg(p, pg, gate_run_id)
        return _publish(p, gate_run_id)


@dataclass(frozen=True)
class RunOutcome:
    """What one build-gate-publish run did."""

    dbt_nodes: int
    gate_run_id: str
    warnings: int
    published_version: int
    held: list[dict]  # submissions held back per city (scenetrack.holdback), still in force


def held_now(p: Paths) -> list:
    """The holds in force (scenetrack.holdback.Hold), for status and the run's summary."""
    from scenetrack import holdback

    con = connect_work(p, read_only=True)
    try:
        return holdback.active(con)
    finally:
        con.close()


def run(p: Paths, run_date: date | None = None, full: bool = False) -> RunOutcome:
    """dbt build, GX gate (holding back a failing city's newest submissions), publish;
    raises on a failed build or a blocked gate. ``full``: the gate validates every row."""
    nodes = build(p)
    result = gate(p, run_date, full)
    rec = publish(p, result.run_id)
    held = [h.to_dict() for h in held_now(p)]
    return RunOutcome(nodes, result.run_id, len(result.warnings), rec.version, held)
