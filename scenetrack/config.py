"""One place for configuration: every path derives from a single home directory.

Environment variables (all optional):

- ``SCENETRACK_HOME``: warehouse home (default ``./warehouse``).
- ``SCENETRACK_PROJECT_DIR``: repository root holding ``dbt_project/`` and ``expectations/``
  (default: the checkout this package was imported from).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

PROJECT_DIR = Path(os.environ.get("SCENETRACK_PROJECT_DIR", Path(__file__).resolve().parent.parent))


@dataclass(frozen=True)
class Paths:
    """The layout of one warehouse home.

    ``work.duckdb`` is the pipeline's private read-write database (raw layer and dbt models);
    ``published/scenetrack.duckdb`` is what evaluators and BI tools open. The published file is
    only ever replaced whole, by ``os.replace`` after a passing gate, never written in place.
    """

    home: Path

    @property
    def work_db(self) -> Path:
        return self.home / "work" / "work.duckdb"

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def published_db(self) -> Path:
        return self.published_dir / "scenetrack.duckdb"

    @property
    def gate_dir(self) -> Path:
        return self.home / "gate"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def lock_file(self) -> Path:
        return self.home / "work" / "writer.lock"

    @property
    def dbt_target_dir(self) -> Path:
        return self.home / "work" / "dbt_target"

    @property
    def last_passing_build(self) -> Path:
        """When the last dbt build whose tests all passed ended (scenetrack.transform)."""
        return self.home / "work" / "last_passing_build.json"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    def ensure(self) -> Paths:
        """Create the directories a run writes to (idempotent)."""
        for d in (
            self.work_db.parent,
            self.published_dir,
            self.gate_dir,
            self.archive_dir,
            self.logs_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        return self


def home_from(value: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse home: explicit value, else ``SCENETRACK_HOME``, else ``./warehouse``."""
    raw = value or os.environ.get("SCENETRACK_HOME") or "warehouse"
    return Path(raw).expanduser().resolve()


def paths(value: str | os.PathLike[str] | None = None) -> Paths:
    """The :class:`Paths` of the resolved home, directories created."""
    return Paths(home_from(value)).ensure()


REFERENCE_DATE_ENV = "SCENETRACK_REFERENCE_DATE"


def as_of_date() -> tuple[date, str]:
    """The one as-of date of an evaluation, and where it came from.

    ``SCENETRACK_REFERENCE_DATE`` when set (dbt's var ``reference_date``, the gate's run date,
    the freshness of ``scenetrack status`` and the report all read it here), else today.
    Marts, gate and report then measure against the same day: a gate that measured freshness
    against the run date while the marts used the data's as-of date warned about every city.
    """
    raw = os.environ.get(REFERENCE_DATE_ENV, "").strip()
    if raw:
        return date.fromisoformat(raw), REFERENCE_DATE_ENV
    return date.today(), "today"


DEFAULT_API_PORT = 8080
"""Airflow's API server port for ``scenetrack airflow`` (and ``make airflow``) unless told."""

DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"
EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
DAGS_DIR = PROJECT_DIR / "dags"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"


WAREHOUSE_SCHEMES = ("postgresql", "postgres")


class WarehouseConfigError(RuntimeError, ValueError):
    """``SCENETRACK_WAREHOUSE`` names no warehouse scenetrack can use."""


@dataclass(frozen=True)
class PgTarget:
    """A PostgreSQL warehouse selected by ``SCENETRACK_WAREHOUSE=postgresql://…``."""

    dsn: str
    host: str
    port: int
    user: str
    password: str
    dbname: str


def warehouse_target(value: str | None = None) -> PgTarget | None:
    """The PostgreSQL target named by ``value`` or ``SCENETRACK_WAREHOUSE``; None = DuckDB.

    Accepts ``postgresql://user:pass@host:port/db`` and ``postgres://…`` (percent-encoded user
    and password allowed). Unset or empty selects the embedded DuckDB warehouse (the default);
    any other scheme is a configuration error, never silently DuckDB.
    """
    from urllib.parse import unquote, urlsplit

    raw = (value if value is not None else os.environ.get("SCENETRACK_WAREHOUSE", "")).strip()
    if not raw or raw.lower() == "duckdb":
        return None
    parts = urlsplit(raw)
    if parts.scheme.lower() not in WAREHOUSE_SCHEMES:
        raise WarehouseConfigError(
            f"SCENETRACK_WAREHOUSE={raw.split('@')[-1]!r}: expected postgresql://user:pass@host:"
            "port/db (or unset for the embedded DuckDB warehouse)"
        )
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not dbname:
        raise WarehouseConfigError("SCENETRACK_WAREHOUSE needs a host and a database name")
    dsn = "postgresql" + raw[len(parts.scheme) :]
    return PgTarget(
        dsn=dsn,
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        dbname=dbname,
    )
