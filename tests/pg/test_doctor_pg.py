"""``scenetrack doctor`` against a real PostgreSQL server: reachable, then not."""

from __future__ import annotations

import psycopg
import pytest

from scenetrack import doctor
from scenetrack.config import PgTarget
from tests.pg.conftest import warehouse_env

pytestmark = pytest.mark.e2e  # a real server, shared with the PostgreSQL suite


def test_doctor_reaches_the_configured_postgres(pg_target: PgTarget) -> None:
    with psycopg.connect(pg_target.dsn) as con:  # the server's version, asked directly
        version = con.execute("select current_setting('server_version')").fetchone()[0]
    with warehouse_env(pg_target):
        check = doctor.check_postgres()
    assert check.status == doctor.OK, check.detail
    assert check.detail == (
        f"{pg_target.user}@{pg_target.host}:{pg_target.port}/{pg_target.dbname} answers "
        f"(PostgreSQL {version})"
    )


def test_doctor_reports_a_wrong_password(pg_target: PgTarget, monkeypatch) -> None:
    wrong = pg_target.dsn.replace(f":{pg_target.password}@", ":not-the-password@")
    assert wrong != pg_target.dsn
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", wrong)
    check = doctor.check_postgres()
    assert check.status == doctor.PROBLEM
    assert "unreachable" in check.detail and "password" in check.detail.lower()
    assert "not-the-password" not in check.detail
