"""Where ingestion finds the project's reference files: the dbt project, its seeds, the docs.

Ingestion is the bottom layer: it never reads scenetrack's configuration. The caller passes the
locations in with :func:`configure` (``scenetrack`` does it once, from ``scenetrack.config``, when
it is imported); a direct caller that configures nothing (a unit test, ``python -m
ingestion.contract``) gets the repository this package sits in, which is also what
``scenetrack.config`` uses when ``SCENETRACK_PROJECT_DIR`` is unset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Locations:
    """The repository root, its dbt project and the dbt seeds ingestion reads."""

    project_dir: Path
    dbt_project_dir: Path
    seeds_dir: Path


def _repository(root: Path) -> Locations:
    return Locations(root, root / "dbt_project", root / "dbt_project" / "seeds")


_current = _repository(Path(__file__).resolve().parent.parent)


def configure(project_dir: Path, dbt_project_dir: Path, seeds_dir: Path) -> None:
    """Use these locations from now on (call it before ingesting anything)."""
    global _current
    _current = Locations(Path(project_dir), Path(dbt_project_dir), Path(seeds_dir))


def seeds_dir() -> Path:
    return _current.seeds_dir


def dbt_project_dir() -> Path:
    return _current.dbt_project_dir


def project_dir() -> Path:
    return _current.project_dir
