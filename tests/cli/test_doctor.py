"""``scenetrack doctor``: each check passes on a healthy thing and reports the broken one."""

from __future__ import annotations

import importlib.metadata
import json
import os
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from scenetrack import doctor
from scenetrack.cli import main
from scenetrack.config import Paths
from scenetrack.warehouse import connect_work, writer_lock


@pytest.fixture
def home(tmp_path) -> Paths:
    return Paths(tmp_path / "home").ensure()


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on (loopback) for the test."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_log_ports(monkeypatch) -> tuple[int, int]:
    """Airflow's log-server ports moved to free ones (8793/8794 may be another test's)."""
    ports = (_free_port(), _free_port())
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(ports[0]))
    monkeypatch.setenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(ports[1]))
    return ports


# --- lock installed ---------------------------------------------------------------------------


def test_lock_matches_this_environment() -> None:
    """The project's own lock against the environment the tests run in (CI installs it)."""
    check = doctor.check_lock()
    assert check.status == doctor.OK, check.detail


def test_lock_reports_a_package_at_another_version_and_one_missing(tmp_path) -> None:
    rich = importlib.metadata.version("rich")
    duckdb = importlib.metadata.version("duckdb")
    lock = tmp_path / "requirements.lock"
    lock.write_text(
        "# a lock\n"
        f"rich=={rich}\n    # via x\n"
        f"duckdb=={duckdb}\n"
        "no-such-package-scenetrack==1.0\n"
        "pytest==0.0.1\n"
        "windows-only==1.0 ; sys_platform == 'win32'\n"
    )
    check = doctor.check_lock(lock)
    assert check.status == doctor.PROBLEM
    assert check.detail.startswith("2 of 4 pinned packages differ")
    assert "no-such-package-scenetrack not installed" in check.detail
    assert f"pytest {importlib.metadata.version('pytest')} (lock: ==0.0.1)" in check.detail
    assert "rich" not in check.detail and "windows-only" not in check.detail
    assert "pip install -r" in check.fix


# --- DuckDB files and the writer lock ---------------------------------------------------------


def test_duckdb_files_not_created_yet_do_not_fail(home) -> None:
    assert doctor.check_duckdb(home).status == doctor.NOT_APPLICABLE


def test_duckdb_files_readable_with_their_storage_versions(home) -> None:
    connect_work(home).close()
    import duckdb

    con = duckdb.connect(str(home.published_db), config={"storage_compatibility_version": "v1.1.0"})
    con.execute("create table t as select 1 as x")
    con.close()
    check = doctor.check_duckdb(home)
    assert check.status == doctor.OK
    # what DuckDB says of each file, asked independently
    con = duckdb.connect()
    tags = {}
    for name, f in (("w", home.work_db), ("p", home.published_db)):
        con.execute(f"attach '{f}' as {name} (read_only)")
        tags[name] = con.execute(
            "select tags['storage_version'] from duckdb_databases() where database_name = ?",
            [name],
        ).fetchone()[0]
    con.close()
    assert tags["w"] != tags["p"]  # DuckDB 2's format vs the 1.1-compatible one
    assert f"work/work.duckdb (storage {tags['w']})" in check.detail
    assert f"published/scenetrack.duckdb (storage {tags['p']})" in check.detail


def test_an_unreadable_published_file_and_kept_version_are_reported(home) -> None:
    connect_work(home).close()
    home.published_db.write_bytes(b"not a database" * 100)
    kept = home.published_dir / "versions" / "v0003.duckdb"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"")
    check = doctor.check_duckdb(home)
    assert check.status == doctor.PROBLEM
    assert "published/scenetrack.duckdb:" in check.detail
    assert "published/versions/v0003.duckdb:" in check.detail
    assert "work/work.duckdb" not in check.detail  # that one reads
    assert "scenetrack rollback" in check.fix


def test_writer_lock_held_is_reported_and_the_work_database_left_alone(home) -> None:
    connect_work(home).close()
    assert doctor.check_writer_lock(home).status == doctor.OK
    with writer_lock(home):
        check = doctor.check_writer_lock(home)
        files = doctor.check_duckdb(home)
    assert check.status == doctor.PROBLEM
    assert f"pid {os.getpid()}" in check.detail
    assert files.status == doctor.OK and "in use by a writer, not opened" in files.detail
    assert doctor.check_writer_lock(home).status == doctor.OK  # released


# --- PostgreSQL -------------------------------------------------------------------------------


def test_postgres_not_configured_does_not_fail(monkeypatch) -> None:
    monkeypatch.delenv("SCENETRACK_WAREHOUSE", raising=False)
    assert doctor.check_postgres().status == doctor.NOT_APPLICABLE


def test_postgres_unreachable_is_reported(monkeypatch) -> None:
    port = _free_port()  # nothing listens there
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", f"postgresql://u:secret@127.0.0.1:{port}/db")
    check = doctor.check_postgres(timeout_s=2)
    assert check.status == doctor.PROBLEM
    assert f"u@127.0.0.1:{port}/db unreachable" in check.detail
    assert "secret" not in check.detail


def test_postgres_misconfigured_is_reported(monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", "mysql://h/db")
    check = doctor.check_postgres()
    assert check.status == doctor.PROBLEM and "SCENETRACK_WAREHOUSE" in check.fix


# --- Airflow metadata DB ----------------------------------------------------------------------


def _airflow_needs() -> str:
    """The revision Airflow's own release table says this Airflow's database must be at."""
    from airflow.utils.db import _REVISION_HEADS_MAP

    installed = Version(importlib.metadata.version("apache-airflow"))
    released = [v for v in _REVISION_HEADS_MAP if Version(v) <= installed]
    return _REVISION_HEADS_MAP[max(released, key=Version)]


def _airflow_db(p: Paths, revision: str | None) -> Path:
    db = p.airflow_home / "airflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(db)
    if revision is not None:
        con.execute("create table alembic_version (version_num varchar(32) not null)")
        con.execute("insert into alembic_version values (?)", [revision])
        con.commit()
    con.close()
    return db


def test_airflow_db_not_created_yet_does_not_fail(home) -> None:
    assert doctor.check_airflow_db(home).status == doctor.NOT_APPLICABLE


def test_airflow_db_at_the_installed_airflows_head_is_ok(home) -> None:
    _airflow_db(home, _airflow_needs())
    check = doctor.check_airflow_db(home)
    assert check.status == doctor.OK, check.detail


def test_airflow_db_missing_a_migration_is_reported(home) -> None:
    """A database left at the previous release's revision (its last migration not run)."""
    from airflow.utils.db import _REVISION_HEADS_MAP

    needed = _airflow_needs()
    previous = list(_REVISION_HEADS_MAP.values())[
        list(_REVISION_HEADS_MAP.values()).index(needed) - 1
    ]
    _airflow_db(home, previous)
    check = doctor.check_airflow_db(home)
    assert check.status == doctor.PROBLEM
    assert f"is at {previous}" in check.detail and needed in check.detail
    assert ".scenetrack-initialised" in check.fix


def test_airflow_db_never_migrated_is_reported(home) -> None:
    _airflow_db(home, None)  # a database without alembic's table
    check = doctor.check_airflow_db(home)
    assert check.status == doctor.PROBLEM and "alembic_version" in check.detail


# --- ports ------------------------------------------------------------------------------------


def test_ports_free(home, free_log_ports) -> None:
    api = _free_port()
    check = doctor.check_ports(home, api_port=api)
    assert check.status == doctor.OK
    assert f"{api} (API server)" in check.detail
    assert f"{free_log_ports[0]} (worker log server)" in check.detail


def test_api_port_taken_is_reported(home, free_log_ports, listening) -> None:
    check = doctor.check_ports(home, api_port=listening)
    assert check.status == doctor.PROBLEM
    assert f"{listening} (API server, from scenetrack airflow --port)" in check.detail


def test_log_server_ports_from_env_and_airflow_cfg_taken_are_reported(
    home, monkeypatch, listening
) -> None:
    monkeypatch.setenv("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", str(listening))
    monkeypatch.delenv("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", raising=False)
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        home.airflow_home.mkdir(parents=True, exist_ok=True)
        (home.airflow_home / "airflow.cfg").write_text(
            f"[logging]\ntrigger_log_server_port = {taken}\n"
        )
        check = doctor.check_ports(home, api_port=_free_port())
    assert check.status == doctor.PROBLEM
    assert (
        f"{listening} (worker log server, from AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT)"
        in check.detail
    )
    assert f"{taken} (triggerer log server, from {home.airflow_home / 'airflow.cfg'})" in (
        check.detail
    )


def test_log_server_ports_default_to_airflows_own(home, monkeypatch) -> None:
    for key in ("WORKER_LOG_SERVER_PORT", "TRIGGER_LOG_SERVER_PORT"):
        monkeypatch.delenv(f"AIRFLOW__LOGGING__{key}", raising=False)
    from airflow.configuration import conf  # Airflow's own answer, in this process

    ports = {what: port for port, what, _ in doctor.airflow_ports(home)}
    assert ports["worker log server"] == conf.getint("logging", "worker_log_server_port")
    assert ports["triggerer log server"] == conf.getint("logging", "trigger_log_server_port")


# --- disk -------------------------------------------------------------------------------------


def test_disk_space(home) -> None:
    stat = os.statvfs(home.home)
    free_gb = stat.f_bavail * stat.f_frsize / 2**30
    assert doctor.check_disk(home, min_free_gb=free_gb / 2).status == doctor.OK
    check = doctor.check_disk(home, min_free_gb=free_gb + 1)
    assert check.status == doctor.PROBLEM
    assert f"{free_gb:,.1f} GiB free" in check.detail


# --- the command ------------------------------------------------------------------------------


def test_doctor_exits_0_when_healthy_and_1_on_a_problem(
    home, monkeypatch, capsys, free_log_ports, listening
) -> None:
    monkeypatch.delenv("SCENETRACK_WAREHOUSE", raising=False)
    args = ["doctor", "--home", str(home.home), "--port", str(_free_port())]
    assert main(args) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0] == f"scenetrack doctor: {home.home}" and text[-1] == "healthy"
    statuses = ["ok", "ok", "n/a", "ok", "n/a", "n/a", "ok", "ok"]  # settings first
    assert [ln.split()[0] for ln in text[1:-1]] == statuses
    args = ["doctor", "--home", str(home.home), "--port", str(listening), "--json"]
    assert main(args) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] is False
    assert [c["status"] for c in report["checks"] if c["name"] == "Airflow ports"] == ["problem"]
    assert main([*args, "--skip", "ports"]) == 0
    assert "Airflow ports" not in [c["name"] for c in json.loads(capsys.readouterr().out)["checks"]]
