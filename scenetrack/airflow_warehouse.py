"""Which warehouse an Airflow task writes: the Airflow connection ``scenetrack_warehouse``.

Operators give the PostgreSQL warehouse to Airflow the way Airflow wants secrets given: as a
connection (metadata database, encrypted with the Fernet key, or any secrets backend), not as
an environment variable on every worker. Each task calls :func:`task_paths` first; it reads
the connection through the Task SDK (``Connection.get``, which also registers the password
with Airflow's log masker) and points ``SCENETRACK_WAREHOUSE`` at it for this task process
only, so the pipeline's one selector (:func:`scenetrack.config.warehouse_target`) needs no
Airflow knowledge. No connection defined: the environment decides, as for the CLI (unset =
the embedded DuckDB warehouse).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from scenetrack.config import Paths, paths

CONN_ID = "scenetrack_warehouse"
ENV = "SCENETRACK_WAREHOUSE"
POSTGRES_TYPES = ("postgres", "postgresql")


class WarehouseConnectionError(RuntimeError):
    """The ``scenetrack_warehouse`` connection exists but names no usable warehouse."""


def dsn_from_connection(conn: Any) -> str:
    """``postgresql://login:password@host:port/schema`` from an Airflow connection (user and
    password percent-encoded). The error names the connection, never its password."""
    if (conn.conn_type or "").lower() not in POSTGRES_TYPES:
        raise WarehouseConnectionError(
            f"Airflow connection {CONN_ID!r} has type {conn.conn_type!r}; expected 'postgres' "
            "(or delete it to use SCENETRACK_WAREHOUSE / the embedded DuckDB warehouse)"
        )
    if not conn.host or not conn.schema:
        raise WarehouseConnectionError(
            f"Airflow connection {CONN_ID!r} needs a host and a schema (the database name)"
        )
    auth = quote(conn.login or "", safe="")
    if conn.password:
        auth += ":" + quote(conn.password, safe="")
    port = f":{conn.port}" if conn.port else ""
    return f"postgresql://{auth}@{conn.host}{port}/{quote(conn.schema, safe='')}"


def _get_connection(conn_id: str) -> Any | None:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return Connection.get(conn_id)
    except AirflowNotFoundException:
        return None


def use_warehouse_connection(get: Callable[[str], Any | None] = _get_connection) -> str:
    """Set ``SCENETRACK_WAREHOUSE`` from the connection when it is defined; return where the
    target came from (``airflow connection`` or ``environment``), never the DSN itself."""
    conn = get(CONN_ID)
    if conn is None:
        return "environment"
    os.environ[ENV] = dsn_from_connection(conn)
    return "airflow connection"


def task_paths() -> Paths:
    """The home's paths, with the warehouse taken from the Airflow connection (in a task)."""
    source = use_warehouse_connection()
    print(f"warehouse target from the {source}")
    return paths()
