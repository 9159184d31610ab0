"""Publish dbt's documentation site beside the report: ``<home>/published/dbt_docs/``.

``dbt docs generate --static`` (dbt-core >= 1.7) writes ``static_index.html`` with the manifest
and the catalog built in, so the single file opens from disk with no server. The catalog is
read from the work database, so the run holds the writer lock like every other dbt run.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from scenetrack.config import Paths


class DbtDocsError(RuntimeError):
    """``dbt docs generate`` failed or wrote no static site."""


def publish_dbt_docs(p: Paths, lock_timeout_s: float = 600.0) -> Path:
    """Run ``dbt docs generate --static`` and copy the site to ``published/dbt_docs/``.

    Returns ``published/dbt_docs/index.html`` (the static page). ``manifest.json`` and
    ``catalog.json`` are copied beside it for tools that read them.
    """
    from scenetrack.transform import run_dbt
    from scenetrack.warehouse import writer_lock

    with writer_lock(p, timeout_s=lock_timeout_s):
        result = run_dbt(p, ["docs", "generate", "--static"])
    target = p.dbt_target_dir
    static = target / "static_index.html"
    if not result.success or not static.exists():
        raise DbtDocsError(f"dbt docs generate failed (log: {p.logs_dir / 'dbt-last-run.log'})")
    out = p.published_dir / "dbt_docs"
    out.mkdir(parents=True, exist_ok=True)
    for src, name in (
        (static, "index.html"),
        (target / "manifest.json", "manifest.json"),
        (target / "catalog.json", "catalog.json"),
    ):
        if src.exists():
            tmp = out / f".{name}.{uuid.uuid4().hex}.tmp"
            shutil.copyfile(src, tmp)
            os.replace(tmp, out / name)
    return out / "index.html"
