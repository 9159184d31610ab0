"""The archive: a loaded file's bytes kept under its content hash."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path


def safe_name(name: str) -> str:
    """A file name that cannot escape the archive folder."""
    base = Path(name).name or "submission"
    return re.sub(r"[^\w.\-]", "_", base)[:120]


def archive_copy(src: Path, dest: Path) -> None:
    """Copy under a temporary name, then rename: the archive never holds a partial copy
    (a full disk or a crash mid-copy leaves at most a hidden ``.part`` file, removed or
    overwritten by the retry)."""
    part = dest.with_name(f".{dest.name}.part")
    try:
        shutil.copyfile(src, part)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def archived_path(archive_dir: Path, sha256: str, name: str) -> Path:
    """Where the archive keeps a file: ``<sha[:2]>/<sha>/<safe name>``."""
    return archive_dir / sha256[:2] / sha256 / safe_name(name)
