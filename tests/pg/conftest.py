"""A real PostgreSQL server for the session: started from scripts/pg_start.sh in a temp dir,
stopped (and its directory removed) at the end. Each test module gets its own database.

No skipping: if PostgreSQL cannot be installed or started, every test here errors with the
reason (CI must run these; the script installs Debian's ``postgresql`` when it is missing).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from scenetrack.config import PgTarget, warehouse_target
from scenetrack.postgres import server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[server.PgServer]:
    srv = server.start()  # raises PgServerError with the script's stderr: never a silent skip
    try:
        yield srv
    finally:
        server.stop(srv)


@pytest.fixture(scope="module")
def pg_target(pg_server: server.PgServer) -> PgTarget:
    """A fresh database owned by the writer role, for this test module."""
    name = "t_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.admin_dsn, autocommit=True) as con:
        con.execute(sql.SQL("create database {} owner scenetrack").format(sql.Identifier(name)))
    base = pg_server.target
    target = warehouse_target(
        f"postgresql://{base.user}:{base.password}@{base.host}:{base.port}/{name}"
    )
    assert target is not None
    return target


@contextlib.contextmanager
def warehouse_env(target: PgTarget | None, bi_password: str = "") -> Iterator[None]:
    """Point the pipeline at ``target`` (None: the embedded DuckDB) for the block."""
    keys = ("SCENETRACK_WAREHOUSE", "SCENETRACK_BI_PASSWORD")
    saved = {k: os.environ.get(k) for k in keys}
    try:
        os.environ.pop("SCENETRACK_WAREHOUSE", None)
        if target is not None:
            os.environ["SCENETRACK_WAREHOUSE"] = target.dsn
            os.environ["SCENETRACK_BI_PASSWORD"] = bi_password
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
