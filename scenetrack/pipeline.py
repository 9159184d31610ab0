"""The pipeline's steps as plain functions: what the CLI, the Airflow tasks and the tests call.

Each step that writes the work database takes the home's writer lock, so steps from the CLI
and from Airflow never overlap (Airflow additionally runs them in a one-slot pool).
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from ingestion.load import Receipt, ingest_files
from scenetrack import progress
from scenetrack.config import Paths, PgTarget, warehouse_target
from scenetrack.faults import checkpoint
from scenetrack.warehouse import connect_work, writer_lock


class GateBlockedError(RuntimeError):
    """The quality gate failed: nothing was published."""


class IngestError(RuntimeError):
    """A file could not be written to the warehouse (e.g. a full disk): its transaction was
    rolled back, so nothing of it is loaded and a rerun loads it."""


def _ingest(p: Paths, files: Iterable[Path], sheet: str | None = None) -> list[Receipt]:
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
        with (
            contextlib.closing(ingest_files(con, files, p.archive_dir, sheet=sheet)) as loading,
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


def ingest_paths(p: Paths, files: Iterable[Path], sheet: str | None = None) -> list[Receipt]:
    """Ingest files in the given order (later files' reports win over earlier ones).

    ``sheet``: the worksheet to read from XLSX files (default: each workbook's first sheet).
    On the PostgreSQL target the new raw rows are then copied into PostgreSQL.
    """
    with writer_lock(p):
        receipts = _ingest(p, files, sheet)
        _sync_postgres(p)
        return receipts


def landed_files(p: Paths) -> list[Path]:
    """Complete submissions waiting in the landing folder, oldest first.

    Upload protocol: write to a name starting with '.' or ending in '.part', then rename;
    such names are never picked up, so a half-written file is never ingested.
    """
    landing = p.home / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    files = [
        f
        for f in landing.iterdir()
        if f.is_file() and not f.name.startswith(".") and not f.name.endswith(".part")
    ]
    return sorted(files, key=lambda f: (f.stat().st_mtime, f.name))


def ingest_landing(p: Paths) -> list[Receipt]:
    """Ingest everything landed, then move each file to processed/ or rejected/ (never delete).

    A rejected file gets a copy of its receipts beside it (``<name>.receipt.json``/``.xlsx``),
    so whoever looks in rejected/ sees why; the originals stay under ``<home>/receipts/``.
    Files move only after their transaction committed: after a crash in between, a file still
    in landing is loaded content, so the rerun (an Airflow retry) finds it a duplicate and
    moves it; nothing is loaded twice.
    """
    with writer_lock(p):
        files = landed_files(p)
        receipts = _ingest(p, files)
        _sync_postgres(p)
        for f, r in zip(files, receipts, strict=True):
            dest = p.home / ("rejected" if r.status == "rejected" else "processed")
            dest.mkdir(parents=True, exist_ok=True)
            shutil.move(str(f), dest / f.name)
            checkpoint("landing:after_move")
            if r.status == "rejected":
                for kept in (r.receipt_json, r.receipt_xlsx):
                    if kept and Path(kept).is_file():
                        shutil.copyfile(kept, dest / f"{f.name}.receipt{Path(kept).suffix}")
    return receipts


def build(p: Paths) -> int:
    """dbt build into the work database (PostgreSQL: into its staging/intermediate/marts
    schemas, after syncing any raw rows it lacks); returns the number of dbt nodes run."""
    from scenetrack.transform import dbt_build

    with writer_lock(p):
        _sync_postgres(p)
        nodes = len(dbt_build(p).nodes)
        checkpoint("build:after_dbt")
        return nodes


def gate(p: Paths, run_date: date | None = None):
    """Run the GX suites; raise :class:`GateBlockedError` with a readable summary on failure."""
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
        result = run_gate(p.work_db, p.gate_dir, run_id, run_date, baseline_counts=baseline, pg=pg)
    if not result.passed:
        raise GateBlockedError(result.summary())
    return result


def publish(p: Paths, gate_run_id: str):
    """Swap the audited marts in as the next published version."""
    from scenetrack.publish import publish as _publish

    pg = warehouse_target()
    with writer_lock(p):
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


def run(p: Paths, run_date: date | None = None) -> RunOutcome:
    """dbt build, GX gate, publish; raises on a failed build or a blocked gate."""
    nodes = build(p)
    result = gate(p, run_date)
    rec = publish(p, result.run_id)
    return RunOutcome(nodes, result.run_id, len(result.warnings), rec.version)
