"""Write-audit-publish: the published warehouse changes only by an atomic file swap.

After a passing gate, a candidate file is written beside the published one — a byte copy of
the live file brought to the work database's marts, writing only what changed
(:mod:`scenetrack.publish_changes`; a brand-new file when there is no live one, or it was
written in another storage format) — flushed to disk, hard-linked into ``versions/`` and then
moved over ``published/scenetrack.duckdb`` with ``os.replace`` (atomic on POSIX). The published file
is never opened for writing, so BI tools can hold it open read-only at any time: a reader that
opened it before a swap keeps reading the old inode, one that opens after sees the new marts,
never a mix. A failed gate never reaches this module, so the published file stays
byte-identical.

Crash recovery (see FAULTS.md): the published file is the truth, the log follows it. Every
publish and rollback first calls :func:`recover`, which removes what an interrupted run left
behind (``.incoming-*`` candidates, ``.parquet-*`` staging folders, kept versions that were
never swapped in), appends the log line a crash between ``os.replace`` and the log append
lost (read from the published file's own ``publish_info``), and re-exports Parquet copies
that are not of the published version. A version number is never reused: the next one is
one above any version ever logged, published or kept. Publishing a gate run that is already
published (an Airflow retry of ``publish_marts`` after a crash past the swap) is a no-op
that returns the existing record. A *published* version number is never reused (a number
whose candidate was removed before its swap was never visible to anyone).
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import duckdb

from scenetrack import progress, publish_changes
from scenetrack.config import Paths, settings
from scenetrack.faults import checkpoint

PUBLISHED_SCHEMA = "marts"
log = logging.getLogger(__name__)
# Versions kept: SCENETRACK_KEEP_VERSIONS (settings().keep_versions). The published file is
# written in a storage format that BI drivers bundling DuckDB 1.1 or newer can open (DuckDB 2.x
# would otherwise write a format only 2.x reads): SCENETRACK_PUBLISH_STORAGE_VERSION.


@dataclass(frozen=True)
class PublishRecord:
    """One line of ``published/publish_log.jsonl``: who published which version when."""

    version: int
    action: str  # publish | rollback
    published_at: str
    by: str
    gate_run_id: str | None
    tables: dict[str, int]  # table -> rows


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class PublishError(RuntimeError):
    """Publishing failed before the swap: the published version is unchanged."""


def _log_file(p: Paths) -> Path:
    return p.published_dir / "publish_log.jsonl"


def publish_log(p: Paths) -> list[PublishRecord]:
    """Every publish and rollback, oldest first.

    A last line cut short (a crash in the middle of an append) is ignored; :func:`recover`
    restores the record it should have been from the published file.
    """
    log = _log_file(p)
    if not log.exists():
        return []
    lines = [ln for ln in log.read_text(encoding="utf-8").splitlines() if ln.strip()]
    records = []
    for i, ln in enumerate(lines):
        try:
            records.append(PublishRecord(**json.loads(ln)))
        except (json.JSONDecodeError, TypeError):
            if i < len(lines) - 1:
                raise
    return records


def _append_log(p: Paths, rec: PublishRecord) -> None:
    """Append one record durably; a torn last line (a crash mid-append) is cut off first."""
    line = json.dumps(asdict(rec), ensure_ascii=False).encode("utf-8") + b"\n"
    with _log_file(p).open("ab+") as f:
        f.seek(0)
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _versions_dir(p: Paths) -> Path:
    d = p.published_dir / "versions"
    d.mkdir(parents=True, exist_ok=True)
    return d


class LiveContents(NamedTuple):
    """What the live file says of itself that a publish needs before writing the next one."""

    storage: str | None  # the storage format it was written in (None: not recorded)
    fingerprints: dict[str, str]  # mart -> scenetrack.publish_changes.fingerprint, as recorded
    mostly_free: bool  # more of its blocks free than used


def _live_contents(p: Paths) -> LiveContents:
    """The live file's storage format, the fingerprints it recorded of its marts and whether it
    is mostly free space, read in one connection; (None, {}, False) for no file, and no format
    or fingerprints for a file published before they were recorded."""
    if not p.published_db.exists():
        return LiveContents(None, {}, False)
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        free, used = con.execute(
            "select free_blocks, used_blocks from pragma_database_size()"
        ).fetchone()
        columns = {
            r[0]
            for r in con.execute(
                "select column_name from duckdb_columns() "
                "where schema_name = 'main' and table_name = 'publish_info'"
            ).fetchall()
        }
        if not {"storage_version", "fingerprints"} <= columns:
            return LiveContents(None, {}, free > used)
        storage, recorded = con.execute(
            "select storage_version, fingerprints from main.publish_info"
        ).fetchone()
    finally:
        con.close()
    return LiveContents(storage, json.loads(recorded), free > used)


def _reusable(p: Paths) -> dict[str, str] | None:
    """The live file's recorded fingerprints when the next candidate can start as a copy of it;
    None: build the candidate anew. Not when it was written in another storage format than the
    one asked for now, nor when more of its blocks are free than used: a copy keeps the space
    of every row it deletes and table it replaces (for reuse, never returned), so writing anew
    then bounds a published file at about twice its data."""
    live = _live_contents(p)
    if live.storage != settings().publish_storage_version or live.mostly_free:
        return None
    return live.fingerprints


def _build_candidate(
    p: Paths, target: Path, gate_run_id: str, version: int
) -> list[publish_changes.MartChange]:
    """The next version's file: a copy of the live one brought to the work DB's marts (only
    what changed is written: scenetrack.publish_changes), or a new file when there is no live
    one to start from; with the marts' table and column comments."""
    recorded = _reusable(p)
    if recorded is not None:
        shutil.copyfile(p.published_db, target)
    con = duckdb.connect(
        str(target), config={"storage_compatibility_version": settings().publish_storage_version}
    )
    try:
        con.execute("attach ? as work (read_only)", [str(p.work_db)])
        changes = publish_changes.bring_up_to_date(
            con,
            f"work.{PUBLISHED_SCHEMA}",
            publish_changes.incremental_keys(p.dbt_target_dir / "manifest.json", PUBLISHED_SCHEMA),
            recorded or {},
        )
        comments = con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = 'work' and schema_name = ? and comment is not null",
            [PUBLISHED_SCHEMA],
        ).fetchall()
        for t, c, text in comments:
            # COMMENT ON takes no parameter in DuckDB: the text is a quoted SQL literal
            literal = "'" + text.replace("'", "''") + "'"
            con.execute(f'comment on column main."{t}"."{c}" is {literal}')
        # the models' descriptions too (dbt persist_docs relation: true), as table comments
        for t, text in con.execute(
            "select table_name, comment from duckdb_tables() where database_name = 'work' "
            "and schema_name = ? and comment is not null",
            [PUBLISHED_SCHEMA],
        ).fetchall():
            literal = "'" + text.replace("'", "''") + "'"
            con.execute(f'comment on table main."{t}" is {literal}')
        fingerprints = {c.table: c.fingerprint for c in changes if c.how != "dropped"}
        con.execute(
            "create or replace table main.publish_info as select ? as version, "
            "cast(? as timestamp) as published_at, ? as gate_run_id, "
            "? as storage_version, ? as fingerprints",
            [
                version,
                datetime.now(UTC).replace(tzinfo=None),
                gate_run_id,
                settings().publish_storage_version,
                json.dumps(fingerprints, sort_keys=True),
            ],
        )
        con.execute("detach work")
        con.execute("checkpoint")
    finally:
        con.close()
    return changes


def describe_changes(changes: list[publish_changes.MartChange]) -> str:
    """What a publish wrote, for its log line: the marts by what was done to them."""
    said = {
        "rows": "rows written in",
        "copied": "copied whole",
        "kept": "kept",
        "dropped": "dropped",
    }
    parts = []
    for how, words in said.items():
        tables = [c.table for c in changes if c.how == how]
        if tables:
            parts.append(f"{words} {', '.join(tables)}")
    return "; ".join(parts)


def _swap_in(p: Paths, candidate: Path) -> None:
    """Atomically make ``candidate`` the published file, then make the rename durable."""
    _fsync(candidate)
    os.replace(candidate, p.published_db)
    _fsync(p.published_dir)


def _prune(p: Paths, keep: int) -> None:
    versions = sorted(_versions_dir(p).glob("v*.duckdb"))
    for old in versions[: max(0, len(versions) - keep)]:
        old.unlink()


def _version_of(kept: Path) -> int:
    return int(kept.stem[1:])


def live_record(p: Paths) -> PublishRecord | None:
    """The published file described by itself (``publish_info`` and its tables' row counts),
    or None when nothing is published. The source of truth the log is checked against."""
    if not p.published_db.exists():
        return None
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        version, at, gate_run_id = con.execute(
            "select version, published_at, gate_run_id from main.publish_info"
        ).fetchone()
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'main' "
                "and table_name <> 'publish_info' order by table_name"
            ).fetchall()
        ]
        tables = {t: con.execute(f'select count(*) from main."{t}"').fetchone()[0] for t in names}
    finally:
        con.close()
    return PublishRecord(
        int(version),
        "publish",
        at.replace(tzinfo=UTC).isoformat(timespec="seconds"),
        "",
        gate_run_id,
        tables,
    )


def _parquet_fingerprints(p: Paths) -> dict[str, tuple[str | None, str | None]]:
    """Each Parquet copy's table, with the version it was exported from and the fingerprint of
    the mart it holds (None when its metadata lacks one, or any copy cannot be read as
    Parquet: then every copy is written again)."""
    folder = p.published_dir / "parquet"
    files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    found: dict[str, dict[str, str]] = {f.stem: {} for f in files}
    if not files:
        return {}
    con = duckdb.connect()
    try:
        rows = con.execute(
            "select file_name, decode(key), decode(value) from parquet_kv_metadata(?) "
            "where decode(key) in ('scenetrack_version', 'scenetrack_fingerprint')",
            [[str(f) for f in files]],
        ).fetchall()
    except duckdb.Error:
        rows = []
    finally:
        con.close()
    for file_name, key, value in rows:
        found[Path(file_name).stem][key] = value
    return {
        t: (kv.get("scenetrack_version"), kv.get("scenetrack_fingerprint"))
        for t, kv in found.items()
    }


def _parquet_stale(p: Paths, live: PublishRecord) -> bool:
    """Whether the Parquet copies are not exactly the live version's marts: a mart without its
    copy, a copy of no mart, or a copy of other contents (by the fingerprint the live file
    recorded; by the version exported from when it recorded none)."""
    copies = _parquet_fingerprints(p)
    if set(copies) != set(live.tables):
        return True
    recorded = _live_contents(p).fingerprints
    return any(
        copies[t][1] != recorded[t] if recorded.get(t) else copies[t][0] != str(live.version)
        for t in live.tables
    )


def recover(p: Paths) -> list[str]:
    """Make the published folder consistent after an interrupted publish or rollback.

    The caller holds the writer lock (no other publish can be half-way). Removes leftover
    ``.incoming-*`` candidates and ``.parquet-*`` staging folders; removes kept versions that
    were never published (above the live version and absent from an existing log); appends the log
    record of the live version when the log does not end with it (a crash between
    ``os.replace`` and the log append); re-exports the Parquet copies when they are not of
    the live version. Returns what it did, one line per repair (empty: nothing to do).
    """
    done: list[str] = []
    p.published_dir.mkdir(parents=True, exist_ok=True)
    for left in sorted(p.published_dir.glob(".incoming-*")):
        left.unlink(missing_ok=True)
        done.append(f"removed the unfinished candidate {left.name}")
    for left in sorted(p.published_dir.glob(".parquet-*")):
        shutil.rmtree(left, ignore_errors=True)
        done.append(f"removed the unfinished Parquet folder {left.name}")
    live = live_record(p)
    if live is None:
        return done
    log = publish_log(p)
    logged = {r.version for r in log}
    # Only the log can say a kept version was never published; without it (lost, restored
    # from an old backup) a kept version above the live one may be one rolled back from, and
    # is kept (its number is then not reused: see _next_version).
    if _log_file(p).exists():
        for kept in sorted(_versions_dir(p).glob("v*.duckdb")):
            if _version_of(kept) > live.version and _version_of(kept) not in logged:
                kept.unlink()
                done.append(f"removed {kept.name}: built but never published")
    if not log or log[-1].version != live.version:
        newer = live.version > max(logged, default=0)
        rec = PublishRecord(
            live.version,
            "publish" if newer else "rollback",
            live.published_at if newer else datetime.now(UTC).isoformat(timespec="seconds"),
            f"{getpass.getuser()} (recovered)",
            live.gate_run_id,
            live.tables,
        )
        _append_log(p, rec)
        done.append(f"logged v{live.version}: swapped in, but its log line was lost")
    if _parquet_stale(p, live):
        _export_parquet(p, live.tables, live.version)
        done.append(f"re-exported the Parquet copies of v{live.version}")
    return done


def _export_parquet(p: Paths, tables: dict[str, int], version: int) -> None:
    """Parquet copies of the published marts, swapped in as a whole folder.

    A mart whose current copy holds the same contents (the fingerprint the live file recorded
    for it) keeps that copy: it is hard-linked into the new folder, not written again. Each
    file carries ``scenetrack_version`` (the version it was exported from) and
    ``scenetrack_fingerprint`` in its key-value metadata, so :func:`recover` can tell copies of
    other contents (an export cut short) from current ones.
    """
    final = p.published_dir / "parquet"
    recorded = _live_contents(p).fingerprints
    copies = _parquet_fingerprints(p)
    staging = p.published_dir / f".parquet-{uuid.uuid4().hex}"
    staging.mkdir()
    unchanged = {
        t for t in tables if recorded.get(t) and copies.get(t, (None, None))[1] == recorded[t]
    }
    for t in sorted(unchanged):
        os.link(final / (t + ".parquet"), staging / (t + ".parquet"))
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        for t in progress.track(
            [t for t in tables if t not in unchanged], "publish: Parquet copies", "marts", note=str
        ):
            metadata = f"scenetrack_version: '{int(version)}'"
            if recorded.get(t):
                metadata += f", scenetrack_fingerprint: '{recorded[t]}'"
            con.execute(
                f'copy main."{t}" to ? (format parquet, kv_metadata {{{metadata}}})',
                [str(staging / (t + ".parquet"))],
            )
            checkpoint("publish:parquet")
    finally:
        con.close()
    old = p.published_dir / f".parquet-old-{uuid.uuid4().hex}"
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _next_version(p: Paths, live: PublishRecord | None) -> int:
    """One above every version ever logged, published or kept: a published number is never
    reused."""
    known = [r.version for r in publish_log(p)]
    known += [_version_of(f) for f in _versions_dir(p).glob("v*.duckdb")]
    known += [live.version] if live else []
    return max(known, default=0) + 1


def publish(p: Paths, gate_run_id: str, keep: int | None = None) -> PublishRecord:
    """Publish the work DB's audited marts as the next version (caller holds the writer lock;
    ``keep``: versions kept, default ``SCENETRACK_KEEP_VERSIONS``).

    Idempotent per gate run: when ``gate_run_id`` is already the live version (a retry after
    a crash past the swap), nothing is rebuilt and that version's record is returned.
    Raises :class:`PublishError` (the published version unchanged, nothing left behind) when
    the candidate cannot be written, e.g. on a full disk.
    """
    keep = settings().keep_versions if keep is None else keep
    recover(p)
    live = live_record(p)
    if live is not None and live.gate_run_id == gate_run_id:
        _prune(p, keep)
        return next(r for r in reversed(publish_log(p)) if r.version == live.version)
    version = _next_version(p, live)
    candidate = p.published_dir / f".incoming-{uuid.uuid4().hex}.duckdb"
    kept = _versions_dir(p) / f"v{version:04d}.duckdb"
    swapped = False
    try:
        checkpoint("publish:build_candidate")
        changes = _build_candidate(p, candidate, gate_run_id, version)
        counts = {c.table: c.rows for c in changes if c.how != "dropped"}
        log.info("building v%d: %s", version, describe_changes(changes))
        os.link(candidate, kept)
        _fsync(candidate)
        checkpoint("publish:before_replace")
        os.replace(candidate, p.published_db)
        swapped = True
        checkpoint("publish:after_replace")
        _fsync(p.published_dir)
    except (OSError, duckdb.IOException) as exc:
        if swapped:
            raise
        was = f"v{live.version}" if live else "(none)"
        raise PublishError(
            f"publishing v{version} failed before the swap ({exc}); the published version "
            f"{was} is unchanged and nothing of v{version} was kept. Fix the cause (e.g. free "
            "disk space) and rerun."
        ) from exc
    finally:
        if not swapped:
            kept.unlink(missing_ok=True)
        candidate.unlink(missing_ok=True)
        Path(str(candidate) + ".wal").unlink(missing_ok=True)
    rec = PublishRecord(
        version,
        "publish",
        datetime.now(UTC).isoformat(timespec="seconds"),
        getpass.getuser(),
        gate_run_id,
        counts,
    )
    _append_log(p, rec)
    checkpoint("publish:after_log")
    _prune(p, keep)
    _export_parquet(p, counts, version)
    return rec


def rollback(p: Paths, version: int | None = None) -> PublishRecord:
    """Restore a kept version (default: the one before the current) atomically, and log it."""
    recover(p)
    log = publish_log(p)
    if not log:
        raise RuntimeError("nothing has been published yet")
    current = log[-1].version
    available = sorted(int(f.stem[1:]) for f in _versions_dir(p).glob("v*.duckdb"))
    if version is None:
        older = [v for v in available if v < current]
        if not older:
            raise RuntimeError(f"no kept version older than the current v{current}")
        version = older[-1]
    if version not in available:
        raise RuntimeError(f"version {version} is not kept; kept versions: {available}")
    candidate = p.published_dir / f".incoming-{uuid.uuid4().hex}.duckdb"
    os.link(_versions_dir(p) / f"v{version:04d}.duckdb", candidate)
    try:
        _swap_in(p, candidate)
        checkpoint("rollback:after_replace")
    finally:
        candidate.unlink(missing_ok=True)
    # the log line of the version restored; none when the log was lost (restored from an old
    # backup): the restored file then describes itself (its gate run, its tables' rows), so the
    # record and the Parquet copies below are complete either way
    source = next((r for r in reversed(log) if r.version == version), None) or live_record(p)
    rec = PublishRecord(
        version,
        "rollback",
        datetime.now(UTC).isoformat(timespec="seconds"),
        getpass.getuser(),
        source.gate_run_id if source else None,
        source.tables if source else {},
    )
    _append_log(p, rec)
    _export_parquet(p, rec.tables, version)
    return rec
