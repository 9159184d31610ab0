"""The warehouse of an Airflow task: the connection scenetrack_warehouse, else the environment."""

from __future__ import annotations

import json

import pytest

from scenetrack.airflow_warehouse import (
    WarehouseConnectionError,
    _get_connection,
    dsn_from_connection,
    use_warehouse_connection,
)
from scenetrack.config import warehouse_target


def test_the_connection_becomes_the_target_for_this_process(monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", "")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SCENETRACK_WAREHOUSE",
        json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 6543,
                    "login": "writer", "password": "p@ss:wörd", "schema": "scene_db"}),
    )  # fmt: skip
    assert use_warehouse_connection() == "airflow connection"
    t = warehouse_target()
    assert (t.host, t.port, t.user, t.password, t.dbname) == (
        "127.0.0.1",
        6543,
        "writer",
        "p@ss:wörd",
        "scene_db",
    )


def test_no_connection_leaves_the_environment_to_decide(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_SCENETRACK_WAREHOUSE", raising=False)
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", "postgresql://u:p@h:1/d")
    assert _get_connection("scenetrack_warehouse") is None
    assert use_warehouse_connection() == "environment"
    assert warehouse_target().dbname == "d"


def test_a_connection_of_another_type_is_an_error_without_its_password() -> None:
    class Conn:
        conn_type, host, schema, login, password, port = "mysql", "h", "d", "u", "s3cret", 1

    with pytest.raises(WarehouseConnectionError, match="expected 'postgres'") as exc:
        dsn_from_connection(Conn())
    assert "s3cret" not in str(exc.value)
