"""One place for configuration: the settings object and every path derived from one home.

Every ``SCENETRACK_*`` environment variable the project reads as its own setting is a field of
:class:`Settings` (pydantic-settings, prefix ``SCENETRACK_``), typed and validated: a bad
value fails with a :class:`SettingsError` that names the variable. :func:`settings` reads the
environment when called (cached per set of ``SCENETRACK_*`` values, so it is cheap and a test
that changes a variable sees the change at once). The README's configuration table is made
from the fields' descriptions by :func:`settings_table` (a test keeps them equal).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SCENETRACK_"
_CHECKOUT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A ``SCENETRACK_*`` variable holds a value scenetrack cannot use (the message names it)."""


class _Base(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, extra="ignore"
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        """Surrounding spaces are ignored and a blank value counts as unset (the default)."""
        if isinstance(data, dict):
            data = {
                k: v.strip() if isinstance(v, str) else v
                for k, v in data.items()
                if not (isinstance(v, str) and not v.strip())
            }
        return data


class _ProjectDir(_Base):
    project_dir: Path = Field(
        _CHECKOUT,
        description="Repository root holding `dbt_project/`, `expectations/` and `dags/` "
        "(read once, at import). Default: the checkout scenetrack is imported from.",
    )


class Settings(_ProjectDir):
    """Every setting of scenetrack, one field per ``SCENETRACK_<FIELD>`` variable (all optional).

    The descriptions are the README's configuration table (:func:`settings_table`)."""

    home: Path | None = Field(
        None,
        description="Warehouse home; `--home` overrides it. Default: `./warehouse`.",
    )
    reference_date: date | None = Field(
        None,
        description="The as-of date (YYYY-MM-DD) of an evaluation: dbt's `reference_date`, "
        "the gate's freshness, `scenetrack status`, the watch DAG and the report all use it. "
        "Default: the run date (`scenetrack demo`: the generator's as-of date).",
    )
    warehouse: str = Field(
        "",
        repr=False,
        description="`postgresql://user:pass@host:port/db` selects the PostgreSQL warehouse; "
        "unset (or `duckdb`) is the embedded DuckDB warehouse. Any other scheme is an error.",
    )
    bi_role: str = Field(
        "bi_reader", description="The read-only PostgreSQL role BI tools connect as."
    )
    bi_password: SecretStr | None = Field(
        None,
        description="Password given to the BI role on every run (PostgreSQL). Default: an "
        "existing role keeps its password; a new one is created without one, with a warning.",
    )
    pg_lock_timeout: str = Field(
        "60s",
        pattern=r"^\d+\s*(us|ms|s|min|h|d)?$",
        description="PostgreSQL `lock_timeout` of the publish and rollback schema swap "
        "(e.g. `60s`, `500ms`, `2min`); an attempt that waits longer aborts and is retried.",
    )
    keep_versions: int = Field(
        5,
        ge=1,
        description="Published versions kept under `published/versions/` for rollback (the "
        "newest, the live one among them).",
    )
    publish_storage_version: str = Field(
        "v1.1.0",
        pattern=r"^(v\d+\.\d+\.\d+|latest)$",
        description="DuckDB storage format of the published file (`v1.1.0`: BI drivers "
        "bundling DuckDB 1.1 or newer open it).",
    )
    volume_max_drop: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Volume guard: the share of a table's published rows a new build may lose "
        "before the gate blocks the publish (0 to 1).",
    )
    freshness_days: int = Field(
        90,
        ge=1,
        description="A city whose newest report is older than this many days (as of the "
        "as-of date) is stale: gate warning, `scenetrack status`, the watch DAG's alert.",
    )
    gate_full_every_hours: float = Field(
        24,
        ge=0,
        description="The gate validates every row when its last full validation that passed is "
        "older than this; in between it validates the rows dbt wrote since the last passing "
        "gate (0: every row, every run).",
    )
    rank_min_projects: int = Field(
        30,
        ge=0,
        description="Projects a city needs in a rate's denominator to be ranked on the report "
        "and counted in its medians.",
    )
    timezone: str = Field(
        "Asia/Shanghai", description="IANA time zone of the times shown on the report."
    )
    lock_timeout: float = Field(
        600, ge=0, description="Seconds a second writer waits for the warehouse lock."
    )
    duckdb_memory_limit: str = Field(
        "3GB",
        pattern=r"(?i)^\d+(\.\d+)?\s*([KMGT]i?B|B|bytes)$",
        description="DuckDB memory of a dbt build before it spills to disk (dbt's "
        "`profiles.yml` reads it).",
    )
    progress: Literal["plain", "off", "relay"] | None = Field(
        None,
        description="Progress display: `plain` (lines even on a terminal) or `off`. Default: "
        "live on a terminal, log lines otherwise. `relay` is set by scenetrack for its children.",
    )
    airflow_dbt: Literal["build", "cosmos"] = Field(
        "build",
        description="How the transform DAG runs dbt: `build` (one task) or `cosmos` (one task "
        "per model, rendered from the dbt manifest).",
    )
    dbt_manifest: Path | None = Field(
        None,
        description="The dbt manifest the cosmos rendering reads. Default: "
        "`<home>/airflow/dbt_manifest/manifest.json`.",
    )
    fault: str = Field(
        "",
        description="Tests only: fault points to trigger, e.g. `ingest:after_ledger@2` or "
        "`publish:build_candidate=enospc` (FAULTS.md).",
    )
    fault_file: Path | None = Field(
        None,
        description="Tests only: a file holding the fault spec when `SCENETRACK_FAULT` is unset "
        "(armed and disarmed while a process runs).",
    )

    @field_validator("progress", "airflow_dbt", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (an IANA name like Asia/Shanghai)") from None
        return v


SECRET_FIELDS = frozenset({"warehouse", "bi_password"})


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``volume_max_drop`` ->
    ``SCENETRACK_VOLUME_MAX_DROP``."""
    return ENV_PREFIX + field.upper()


def _error(exc: ValidationError) -> SettingsError:
    lines = []
    for e in exc.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        var = env_name(field) if field else ENV_PREFIX + "*"
        shown = "" if field in SECRET_FIELDS else f"={e.get('input')!r}"
        msg = re.sub(r"^Value error, ", "", e["msg"])
        lines.append(f"{var}{shown}: {msg}")
    return SettingsError("invalid configuration: " + "; ".join(lines))


def _load(cls: type[_Base]) -> Any:
    try:
        return cls()
    except ValidationError as exc:
        raise _error(exc) from None


@lru_cache(maxsize=16)
def _cached(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    return _load(Settings)


def settings() -> Settings:
    """The settings as the environment holds them now (raises :class:`SettingsError`).

    Cached per set of ``SCENETRACK_*`` values: cheap to call wherever a setting is needed, and
    a change to a variable (a test's monkeypatch, the CLI pinning the demo's date) is seen at
    the next call."""
    snapshot = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    return _cached(snapshot)


_TYPE_NAMES = {str: "text", int: "integer", float: "number", date: "date", Path: "path"}


def _type_name(annotation: Any) -> str:
    """How the README names a field's type."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if args:  # X | None
        return " or ".join(_type_name(a) for a in args)
    if annotation is SecretStr:
        return "text (secret)"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def settings_table() -> str:
    """The README's configuration table (Markdown), made from :class:`Settings`' fields."""
    rows = [
        "| Variable | Type | Default | What it does |",
        "| --- | --- | --- | --- |",
    ]
    for name, f in Settings.model_fields.items():
        default = f.get_default()
        if name == "project_dir":
            default_text = "the checkout"
        elif default is None or default == "":
            default_text = "unset"
        else:
            default_text = f"`{default}`"
        kind = _type_name(f.annotation)
        rows.append(f"| `{env_name(name)}` | {kind} | {default_text} | {f.description} |")
    return "\n".join(rows) + "\n"


PROJECT_DIR: Path = _load(_ProjectDir).project_dir


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
    raw = value or settings().home or "warehouse"
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
    pinned = settings().reference_date
    if pinned is not None:
        return pinned, REFERENCE_DATE_ENV
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

    raw = (value if value is not None else settings().warehouse).strip()
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


if __name__ == "__main__":  # python -m scenetrack.config: the README's configuration table
    print(settings_table(), end="")
