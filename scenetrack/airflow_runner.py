"""Run the project's DAGs on a local Airflow 3 (SQLite metadata DB under the warehouse home).

Used by ``scenetrack demo`` and the tests: the same DAG files an operator deploys, run with
``airflow dags test``. That command runs one DAG and does not trigger asset consumers, so the
demo runs the consumer (``scenetrack_transform``) right after its producer, as the scheduler
would on the asset event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from scenetrack import progress
from scenetrack.config import DAGS_DIR, DBT_PROJECT_DIR, PROJECT_DIR, Paths, home_from, settings

MANIFEST_ENV = "SCENETRACK_DBT_MANIFEST"


class AirflowRunError(RuntimeError):
    """An Airflow command failed; the message names the command and its log file."""


def airflow_env(p: Paths) -> dict[str, str]:
    """Environment for every Airflow process of this home: offline, no examples, loopback."""
    ah = p.airflow_home
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(ah),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{ah / 'airflow.db'}",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(p.logs_dir / "airflow"),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            # event-driven DAGs must run when a file lands, without someone unpausing them
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "SCENETRACK_HOME": str(p.home),
            "SCENETRACK_PROJECT_DIR": str(PROJECT_DIR),
            "GX_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            # cosmos: no telemetry (settings.enable_telemetry; DO_NOT_TRACK is honoured too)
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "SCENETRACK_DBT_MANIFEST": str(dbt_manifest_path(p.home)),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_DIR), env.get("PYTHONPATH")])),
        }
    )
    return env


def dbt_manifest_path(home: Path | None = None) -> Path:
    """Where the transform DAG reads the dbt manifest it renders (cosmos ``DBT_MANIFEST``).

    ``<home>/airflow/dbt_manifest/manifest.json`` for an explicit ``home``; without one (the
    DAG file, at every parse): ``$SCENETRACK_DBT_MANIFEST`` if set, else the same path under
    ``$SCENETRACK_HOME``. Cheap: no I/O.
    """
    if home is None and (manifest := settings().dbt_manifest):
        return manifest
    return home_from(home) / "airflow" / "dbt_manifest" / "manifest.json"


def _manifest_is_fresh(manifest: Path) -> bool:
    if not manifest.exists():
        return False
    built = manifest.stat().st_mtime
    return all(f.stat().st_mtime <= built for f in DBT_PROJECT_DIR.rglob("*") if f.is_file())


def ensure_dbt_manifest(p: Paths, manifest: Path | None = None, force: bool = False) -> Path:
    """``dbt parse`` into the manifest's folder unless the manifest is newer than the project.

    The transform DAG renders one Airflow task per dbt model from this file, so DAG parsing
    never runs dbt. Regenerate it after changing the dbt project (``make airflow`` does).
    """
    from scenetrack.transform import dbt_env

    manifest = manifest or dbt_manifest_path(p.home)
    if not force and _manifest_is_fresh(manifest):
        return manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).with_name("dbt")
    cmd = [
        str(exe),
        "parse",
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(manifest.parent),
        "--log-path",
        str(p.logs_dir / "dbt"),
    ]
    proc = subprocess.run(cmd, env=dbt_env(p), capture_output=True, text=True)
    if proc.returncode != 0 or not manifest.exists():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise AirflowRunError(f"`dbt parse` could not write {manifest}:\n{tail}")
    return manifest


def _airflow(p: Paths, *args: str, log_name: str) -> str:
    """Run ``airflow <args>`` for this home; its output (stdout and stderr, as written) goes to
    ``<home>/logs/<log_name>.log`` while it runs.

    The command runs with ``SCENETRACK_PROGRESS=relay``: progress of the project's own work
    inside it (ingest, dbt nodes, gate suites, publish) comes back as lines this process shows
    as its own (:class:`scenetrack.progress.Relay`) and keeps out of the log.
    """
    log = p.logs_dir / f"{log_name}.log"
    exe = Path(sys.executable).with_name("airflow")
    cmd = [str(exe), *args]
    relay = progress.Relay(prefix=f"{args[2]}: " if args[:2] == ("dags", "test") else "")
    output: list[str] = []
    with (
        log.open("w") as out,
        subprocess.Popen(
            cmd,
            env=airflow_env(p) | {progress.MODE_ENV: "relay"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc,
    ):
        for line in proc.stdout:
            if not relay(line):
                out.write(line)
                output.append(line)
    relay.close()
    if proc.returncode != 0:
        tail = "\n".join("".join(output).strip().splitlines()[-25:])
        raise AirflowRunError(f"`airflow {' '.join(args)}` failed (log: {log}):\n{tail}")
    return "".join(output)


def ensure_airflow(p: Paths, manifest: bool | None = None) -> None:
    """Create or upgrade the metadata DB and the one-slot writer pool (idempotent).

    ``manifest``: also make the dbt manifest the cosmos rendering of the transform DAG reads
    (default: only when ``$SCENETRACK_AIRFLOW_DBT`` is ``cosmos``); re-parsed only when the dbt
    project changed.
    """
    p.airflow_home.mkdir(parents=True, exist_ok=True)
    if manifest is None:
        manifest = settings().airflow_dbt == "cosmos"
    if manifest:
        ensure_dbt_manifest(p)
    # `airflow db migrate` and `pools set` each cost an Airflow start-up; a stamp naming the
    # Airflow version lets a second demo skip them (an upgrade of Airflow migrates again).
    from importlib.metadata import version

    from scenetrack.assets import WRITER_POOL  # imports airflow.sdk: only when Airflow is used

    stamp = p.airflow_home / ".scenetrack-initialised"
    wanted = f"apache-airflow {version('apache-airflow')}"
    if stamp.exists() and stamp.read_text() == wanted and (p.airflow_home / "airflow.db").exists():
        return
    with progress.task("Airflow metadata DB: migrate, writer pool", 2, "commands") as shown:
        _airflow(p, "db", "migrate", log_name="airflow-db-migrate")
        shown.advance()
        _airflow(
            p,
            "pools",
            "set",
            WRITER_POOL,
            "1",
            "DuckDB work database: one writer at a time",
            log_name="airflow-pools",
        )
        shown.advance()
    stamp.write_text(wanted)


def dags_test(p: Paths, dag_id: str, conf: dict | None = None) -> str:
    """Run one DAG to completion in-process; raise with the log tail when a task fails.
    ``conf``: the run's parameters (``scenetrack_replay``'s reason and file)."""
    extra = ("-c", json.dumps(conf, ensure_ascii=False)) if conf else ()
    return _airflow(p, "dags", "test", dag_id, *extra, log_name=f"dag-{dag_id}")


def admin_login(p: Paths, timeout: float = 120.0) -> tuple[str, str] | None:
    """The (user, password) the API server's simple auth manager generated, from its file."""
    import json
    import time

    f = p.airflow_home / "simple_auth_manager_passwords.json.generated"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f.exists():
            try:
                users = json.loads(f.read_text())
            except ValueError:  # being written
                users = None
            if users:
                user = "admin" if "admin" in users else next(iter(users))
                return user, str(users[user])
        time.sleep(0.5)
    return None


def land(src: Path, landing: Path) -> Path:
    """Deliver one file the way uploaders must: write under ``.part``, then rename.

    The landing watcher ignores ``*.part``, so it never sees a half-written file.
    """
    import shutil

    landing.mkdir(parents=True, exist_ok=True)
    part = landing / (src.name + ".part")
    shutil.copyfile(src, part)
    final = landing / src.name
    part.rename(final)
    return final


def metadata_rows(p: Paths, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of a query on this home's Airflow metadata DB (SQLite, opened read-only).

    Raises ``sqlite3.Error`` while the database does not exist yet or is locked.
    """
    import sqlite3

    con = sqlite3.connect(f"file:{p.airflow_home / 'airflow.db'}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def landing_watcher_running(p: Paths) -> bool:
    """Whether the triggerer has picked up the landing folder's AssetWatcher trigger.

    Read from the metadata database's ``trigger`` table: a trigger row of ours with a
    ``triggerer_id`` is one a triggerer is running.
    """
    import sqlite3

    try:
        rows = metadata_rows(
            p,
            "select count(*) from trigger where classpath like 'scenetrack.triggers.%' "
            "and triggerer_id is not null",
        )
    except sqlite3.Error:
        return False
    return bool(rows and rows[0][0])
