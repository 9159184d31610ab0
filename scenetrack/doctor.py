"""``scenetrack doctor``: is this installation healthy? (what ``dbt debug`` is for dbt)

One function per check, each returning a :class:`Check`: ok, problem (with what to do), or
n/a (the thing is not configured or not created yet: a fresh home has no Airflow database, a
DuckDB warehouse needs no PostgreSQL; n/a never fails). Every check is cheap (the slowest
reads Airflow's migration scripts, about a second and a half, and only when an Airflow
database exists) and none writes anything but the writer lock's holder line.
"""

from __future__ import annotations

import configparser
import contextlib
import errno
import importlib.metadata
import importlib.util
import os
import shutil
import socket
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from scenetrack.config import (
    DEFAULT_API_PORT,
    PROJECT_DIR,
    Paths,
    SettingsError,
    WarehouseConfigError,
    settings,
    warehouse_target,
)

OK, PROBLEM, NOT_APPLICABLE = "ok", "problem", "n/a"
LOCK_FILE = PROJECT_DIR / "requirements.lock"
DEFAULT_MIN_FREE_GB = 1.0
"""Free space the home needs: the 83-city demo takes ~40 MB, a 1M-event warehouse with its
kept versions and dbt's target about a gigabyte."""


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer."""

    name: str
    status: str  # ok | problem | n/a
    detail: str
    fix: str | None = None

    @property
    def passed(self) -> bool:
        return self.status != PROBLEM

    def to_dict(self) -> dict:
        return asdict(self)


# --- the lock installed -----------------------------------------------------------------------


def check_lock(lock_file: Path = LOCK_FILE) -> Check:
    """Every package pinned in ``requirements.lock`` (for this platform) is installed at its
    pinned version in the environment running scenetrack."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    name = "lock installed"
    if not lock_file.exists():
        return Check(name, NOT_APPLICABLE, f"no {lock_file.name} beside this installation")
    installed: dict[str, str] = {}
    for dist in importlib.metadata.distributions():  # in sys.path order: the first one wins
        if dist.metadata["Name"]:
            installed.setdefault(canonicalize_name(dist.metadata["Name"]), dist.version)
    pins, wrong = 0, []
    for raw in lock_file.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement:
            wrong.append(f"unreadable line {line!r}")
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        pins += 1
        have = installed.get(canonicalize_name(req.name))
        if have is None or not req.specifier.contains(have, prereleases=True):
            wrong.append(f"{req.name} {have or 'not installed'} (lock: {req.specifier})")
    if wrong:
        shown = "; ".join(wrong[:5]) + (f"; … {len(wrong) - 5} more" if len(wrong) > 5 else "")
        return Check(
            name,
            PROBLEM,
            f"{len(wrong)} of {pins} pinned packages differ from {lock_file.name}: {shown}",
            f".venv/bin/pip install -r {lock_file} (then `make install` finds it up to date)",
        )
    return Check(name, OK, f"{pins} pinned packages match {lock_file.name}")


# --- DuckDB files and the writer lock ---------------------------------------------------------


def storage_version(path: Path) -> str:
    """The storage version DuckDB reads from the file's header (raises when unreadable).

    Attached read-only to an in-memory database; its tables are listed, so a file whose
    header reads but whose catalog does not is unreadable too.
    """
    con = duckdb.connect()
    try:
        con.execute(f"attach '{str(path).replace(chr(39), chr(39) * 2)}' as f (read_only)")
        tags = con.execute(
            "select tags from duckdb_databases() where database_name = 'f'"
        ).fetchone()[0]
        con.execute("select count(*) from duckdb_tables() where database_name = 'f'").fetchone()
        return str((tags or {}).get("storage_version", "unknown"))
    finally:
        con.close()


def check_writer_lock(p: Paths) -> Check:
    """Nobody holds the home's writer lock (a held lock means a run is writing right now)."""
    from scenetrack.warehouse import WriterBusyError, writer_lock

    name = "writer lock"
    try:
        with writer_lock(p, timeout_s=0):
            pass
    except WriterBusyError:
        holder = p.lock_file.read_text(errors="replace").strip() or "an unknown process"
        return Check(
            name,
            PROBLEM,
            f"held by {holder}: a run (CLI or Airflow task) is writing {p.home}",
            "wait for that run to end (the lock frees itself when its process exits); "
            "`scenetrack status` still answers meanwhile",
        )
    return Check(name, OK, f"free ({p.lock_file})")


def check_duckdb(p: Paths) -> Check:
    """The work database, the published file and every kept version open read-only; their
    storage versions are reported. The work database is opened only under the writer lock
    (never while a writer may want it); when a writer holds it, it is not opened."""
    from scenetrack.warehouse import WriterBusyError, writer_lock

    name = "DuckDB files"
    versions = sorted((p.published_dir / "versions").glob("v*.duckdb"))
    files = [f for f in (p.published_db, *versions) if f.exists()]
    seen: list[str] = []
    broken: list[str] = []

    def read(f: Path) -> None:
        label = str(f.relative_to(p.home))
        try:
            seen.append(f"{label} (storage {storage_version(f)})")
        except (duckdb.Error, OSError) as exc:
            broken.append(f"{label}: {str(exc).splitlines()[0]}")

    if p.work_db.exists():
        try:
            with writer_lock(p, timeout_s=0):
                read(p.work_db)
        except WriterBusyError:
            seen.append(f"{p.work_db.relative_to(p.home)} (in use by a writer, not opened)")
    for f in files:
        read(f)
    if not seen and not broken:
        return Check(name, NOT_APPLICABLE, "no DuckDB files yet (nothing ingested or published)")
    if broken:
        return Check(
            name,
            PROBLEM,
            "unreadable: " + "; ".join(broken),
            "published file: restore a kept version (`scenetrack rollback`); kept version: "
            "remove it; work database: move it aside and re-ingest the submissions kept "
            f"in {p.archive_dir} (rerun `scenetrack ingest` on them, then `scenetrack run`)",
        )
    return Check(name, OK, "readable: " + ", ".join(seen))


# --- settings ---------------------------------------------------------------------------------


def check_settings() -> Check:
    """Every ``SCENETRACK_*`` variable set holds a value scenetrack can use."""
    name = "settings"
    try:
        s = settings()
    except SettingsError as exc:
        return Check(
            name, PROBLEM, str(exc), "correct or unset the variable (README: Configuration)"
        )
    given = sorted(s.model_fields_set - {"project_dir"})
    return Check(name, OK, f"{len(given)} SCENETRACK_* variable(s) set, all valid")


# --- PostgreSQL -------------------------------------------------------------------------------


def check_postgres(timeout_s: int = 3) -> Check:
    """When ``SCENETRACK_WAREHOUSE`` names a PostgreSQL warehouse, it answers a query."""
    name = "PostgreSQL"
    try:
        pg = warehouse_target()
    except WarehouseConfigError as exc:
        return Check(name, PROBLEM, str(exc), "correct or unset SCENETRACK_WAREHOUSE")
    except SettingsError as exc:
        return Check(name, PROBLEM, str(exc), "see the settings check")
    if pg is None:
        return Check(name, NOT_APPLICABLE, "not configured (the embedded DuckDB warehouse is used)")
    import psycopg

    where = f"{pg.user}@{pg.host}:{pg.port}/{pg.dbname}"
    try:
        with psycopg.connect(pg.dsn, connect_timeout=timeout_s) as con:
            version = con.execute("show server_version").fetchone()[0]
    except psycopg.Error as exc:
        return Check(
            name,
            PROBLEM,
            f"{where} unreachable: {str(exc).strip().splitlines()[0]}",
            "start the server (a throwaway one: scripts/pg_start.sh DIR) or correct "
            "SCENETRACK_WAREHOUSE (docs/postgres.md)",
        )
    return Check(name, OK, f"{where} answers (PostgreSQL {version})")


# --- Airflow ----------------------------------------------------------------------------------


def _airflow_package() -> Path | None:
    spec = importlib.util.find_spec("airflow")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def airflow_migration_heads() -> set[str]:
    """The head revisions of the installed Airflow's own migration scripts (alembic)."""
    from alembic.script import ScriptDirectory

    package = _airflow_package()
    if package is None:
        return set()
    return set(ScriptDirectory(str(package / "migrations")).get_heads())


def check_airflow_db(p: Paths) -> Check:
    """The home's Airflow metadata database (SQLite) is migrated to the installed Airflow."""
    name = "Airflow metadata DB"
    db = p.airflow_home / "airflow.db"
    if not db.exists():
        return Check(
            name,
            NOT_APPLICABLE,
            f"not created yet ({db}); `scenetrack demo` and `scenetrack airflow` create it",
        )
    stamp = p.airflow_home / ".scenetrack-initialised"
    fix = (
        f"remove {stamp} and rerun `make demo` or `scenetrack airflow` (they run "
        "`airflow db migrate` when it is missing)"
    )
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            current = {r[0] for r in con.execute("select version_num from alembic_version")}
        finally:
            con.close()
    except sqlite3.Error as exc:
        return Check(name, PROBLEM, f"{db} cannot be read as migrated: {exc}", fix)
    heads = airflow_migration_heads()
    version = importlib.metadata.version("apache-airflow")
    if current != heads:
        at = ", ".join(sorted(current)) or "no revision"
        return Check(
            name,
            PROBLEM,
            f"{db} is at {at}; Airflow {version} needs {', '.join(sorted(heads))}",
            fix,
        )
    return Check(name, OK, f"migrated to {', '.join(sorted(heads))} (Airflow {version})")


AIRFLOW_PORTS = (
    ("api", "port", "API server"),
    ("logging", "worker_log_server_port", "worker log server"),
    ("logging", "trigger_log_server_port", "triggerer log server"),
)
"""The ports a local Airflow (``scenetrack airflow``) binds, as Airflow's config names them."""


def _airflow_defaults() -> dict[tuple[str, str], str]:
    """Airflow's shipped defaults for :data:`AIRFLOW_PORTS`, from its own config.yml."""
    import yaml

    package = _airflow_package()
    if package is None:
        return {}
    spec = yaml.load(
        (package / "config_templates" / "config.yml").read_text(encoding="utf-8"),
        Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
    )
    return {
        (section, key): str(spec[section]["options"][key]["default"])
        for section, key, _ in AIRFLOW_PORTS
    }


def airflow_ports(p: Paths, api_port: int | None = None) -> list[tuple[int, str, str]]:
    """(port, what, where the value came from) for each port Airflow will bind here.

    As Airflow resolves them: ``AIRFLOW__SECTION__KEY`` in the environment, then
    ``<home>/airflow/airflow.cfg``, then Airflow's default. The API server's port is
    ``scenetrack airflow --port`` (passed here as ``api_port``, default 8080), which that
    command sets in the environment over anything else.
    """
    cfg = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(OSError, configparser.Error):
        cfg.read(p.airflow_home / "airflow.cfg")
    defaults: dict[tuple[str, str], str] | None = None
    out = []
    for section, key, what in AIRFLOW_PORTS:
        env = f"AIRFLOW__{section.upper()}__{key.upper()}"
        if section == "api" and key == "port":
            value, source = str(api_port or DEFAULT_API_PORT), "scenetrack airflow --port"
        elif os.environ.get(env):
            value, source = os.environ[env], env
        elif cfg.has_option(section, key):
            value, source = cfg.get(section, key), f"{p.airflow_home / 'airflow.cfg'}"
        else:
            defaults = defaults if defaults is not None else _airflow_defaults()
            value, source = defaults.get((section, key), ""), "Airflow's default"
        if value.strip().isdigit():
            out.append((int(value), what, source))
    return out


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` (all interfaces, as Airflow's log servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # without SO_REUSEADDR a closed connection in TIME_WAIT would count as "in use"; with
        # it, a socket that listens still does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def check_ports(p: Paths, api_port: int | None = None) -> Check:
    """The ports ``scenetrack airflow`` will bind are free."""
    name = "Airflow ports"
    ports = airflow_ports(p, api_port)
    taken = [(port, what, source) for port, what, source in ports if not port_free(port)]
    if taken:
        return Check(
            name,
            PROBLEM,
            "in use: "
            + ", ".join(f"{port} ({what}, from {source})" for port, what, source in taken),
            "stop what listens there (`ss -ltnp` names it), or move Airflow: "
            "`scenetrack airflow --port N` for the API server, AIRFLOW__LOGGING__"
            "WORKER_LOG_SERVER_PORT / AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT for the log "
            "servers",
        )
    return Check(name, OK, "free: " + ", ".join(f"{port} ({what})" for port, what, _ in ports))


# --- disk -------------------------------------------------------------------------------------


def check_disk(p: Paths, min_free_gb: float = DEFAULT_MIN_FREE_GB) -> Check:
    """At least ``min_free_gb`` GiB free on the file system of the home."""
    name = "disk space"
    where = p.home
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    text = f"{free / 2**30:,.1f} GiB free under {p.home} (needs {min_free_gb:g} GiB)"
    if free < min_free_gb * 2**30:
        return Check(
            name,
            PROBLEM,
            text,
            "free space on that file system (old `published/exports`, `logs/`), or point "
            "SCENETRACK_HOME / --home at a roomier one",
        )
    return Check(name, OK, text)


# --- all together -----------------------------------------------------------------------------

CHECK_NAMES = (
    "settings",
    "lock",
    "duckdb",
    "writer-lock",
    "postgres",
    "airflow-db",
    "ports",
    "disk",
)


def run_checks(
    p: Paths,
    skip: Iterable[str] = (),
    api_port: int | None = None,
    min_free_gb: float = DEFAULT_MIN_FREE_GB,
) -> list[Check]:
    """Every check in :data:`CHECK_NAMES` order but those in ``skip``."""
    checks: dict[str, Callable[[], Check]] = {
        "settings": check_settings,
        "lock": check_lock,
        "duckdb": lambda: check_duckdb(p),
        "writer-lock": lambda: check_writer_lock(p),
        "postgres": check_postgres,
        "airflow-db": lambda: check_airflow_db(p),
        "ports": lambda: check_ports(p, api_port),
        "disk": lambda: check_disk(p, min_free_gb),
    }
    skipped = set(skip)
    return [run() for key, run in checks.items() if key not in skipped]
