"""Write-audit-publish: the published warehouse changes only by an atomic file swap.

After a passing gate, the marts are copied from the work database into a brand-new DuckDB
file beside the published one, flushed to disk, hard-linked into ``versions/`` and then moved
over ``published/scenetrack.duckdb`` with ``os.replace`` (atomic on POSIX). The published file
is never opened for writing, so BI tools can hold it open read-only at any time: a reader that
opened it before a swap keeps reading the old inode, one that opens after sees the new marts,
never a mix. A failed gate never reaches this module, so the published file stays
byte-identical.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from scenetrack.config import Paths

PUBLISHED_SCHEMA = "marts"
KEEP_VERSIONS = int(os.environ.get("SCENETRACK_KEEP_VERSIONS", "5"))
# The published file is written in a storage format that BI drivers bundling DuckDB 1.1 or
# newer can open (DuckDB 2.x would otherwise write a format only 2.x reads).
STORAGE_COMPATIBILITY = os.environ.get("SCENETRACK_PUBLISH_STORAGE_VERSION", "v1.1.0")


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


def publish_log(p: Paths) -> list[PublishRecord]:
    """Every publish and rollback, oldest first."""
    log = p.published_dir / "publish_log.jsonl"
    if not log.exists():
        return []
    return [PublishRecord(**json.loads(ln)) for ln in log.read_text().splitlines() if ln.strip()]


def _append_log(p: Paths, rec: PublishRecord) -> None:
    with (p.published_dir / "publish_log.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(asdict(rec), ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _versions_dir(p: Paths) -> Path:
    d = p.published_dir / "versions"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _build_candidate(p: Paths, target: Path, gate_run_id: str, version: int) -> dict[str, int]:
    """Copy every mart (with its column comments) from the work DB into a new file."""
    con = duckdb.connect(
        str(target), config={"storage_compatibility_version": STORAGE_COMPATIBILITY}
    )
    try:
        con.execute(f"attach '{p.work_db}' as work (read_only)")
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where database_name = 'work' "
                "and schema_name = ? order by table_name",
                [PUBLISHED_SCHEMA],
            ).fetchall()
        ]
        if not tables:
            raise RuntimeError("the work database holds no marts: run dbt build first")
        counts: dict[str, int] = {}
        for t in tables:
            con.execute(f"create table main.{t} as select * from work.{PUBLISHED_SCHEMA}.{t}")
            counts[t] = con.execute(f"select count(*) from main.{t}").fetchone()[0]
        comments = con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = 'work' and schema_name = ? and comment is not null",
            [PUBLISHED_SCHEMA],
        ).fetchall()
        for t, c, text in comments:
            con.execute(
                f'comment on column main.{t}."{c}" is ' + "'" + text.replace("'", "''") + "'"
            )
        con.execute(
            "create table main.publish_info as select ? as version, "
            "cast(? as timestamp) as published_at, ? as gate_run_id",
            [version, datetime.now(UTC).replace(tzinfo=None), gate_run_id],
        )
        con.execute("detach work")
        con.execute("checkpoint")
    finally:
        con.close()
    return counts


def _swap_in(p: Paths, candidate: Path) -> None:
    """Atomically make ``candidate`` the published file, then make the rename durable."""
    _fsync(candidate)
    os.replace(candidate, p.published_db)
    _fsync(p.published_dir)


def _prune(p: Paths, keep: int) -> None:
    versions = sorted(_versions_dir(p).glob("v*.duckdb"))
    for old in versions[: max(0, len(versions) - keep)]:
        old.unlink()


def _export_parquet(p: Paths, tables: dict[str, int]) -> None:
    """Parquet copies of the published marts, swapped in as a whole folder."""
    final = p.published_dir / "parquet"
    staging = p.published_dir / f".parquet-{uuid.uuid4().hex}"
    staging.mkdir()
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        for t in tables:
            con.execute(f"copy main.{t} to '{staging / (t + '.parquet')}' (format parquet)")
    finally:
        con.close()
    old = p.published_dir / f".parquet-old-{uuid.uuid4().hex}"
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def publish(p: Paths, gate_run_id: str, keep: int = KEEP_VERSIONS) -> PublishRecord:
    """Publish the work DB's audited marts as the next version (caller holds the writer lock)."""
    version = max((r.version for r in publish_log(p)), default=0) + 1
    candidate = p.published_dir / f".incoming-{uuid.uuid4().hex}.duckdb"
    try:
        counts = _build_candidate(p, candidate, gate_run_id, version)
        kept = _versions_dir(p) / f"v{version:04d}.duckdb"
        with contextlib.suppress(FileNotFoundError):
            kept.unlink()
        os.link(candidate, kept)
        _swap_in(p, candidate)
    finally:
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
    _prune(p, keep)
    _export_parquet(p, counts)
    return rec


def rollback(p: Paths, version: int | None = None) -> PublishRecord:
    """Restore a kept version (default: the one before the current) atomically, and log it."""
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
    finally:
        candidate.unlink(missing_ok=True)
    source = next((r for r in reversed(log) if r.version == version), None)
    rec = PublishRecord(
        version,
        "rollback",
        datetime.now(UTC).isoformat(timespec="seconds"),
        getpass.getuser(),
        source.gate_run_id if source else None,
        source.tables if source else {},
    )
    _append_log(p, rec)
    _export_parquet(p, rec.tables)
    return rec
