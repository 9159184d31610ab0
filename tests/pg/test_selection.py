"""Selecting the warehouse: SCENETRACK_WAREHOUSE parsing and what dbt is told (no server)."""

from __future__ import annotations

import pytest

from scenetrack.config import Paths, WarehouseConfigError, warehouse_target
from scenetrack.transform import dbt_env


@pytest.mark.parametrize("value", [None, "", "  ", "duckdb"])
def test_unset_selects_the_embedded_duckdb(monkeypatch, value) -> None:
    monkeypatch.delenv("SCENETRACK_WAREHOUSE", raising=False)
    if value is not None:
        monkeypatch.setenv("SCENETRACK_WAREHOUSE", value)
    assert warehouse_target() is None


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "POSTGRESQL"])
def test_a_postgres_url_selects_postgres(scheme) -> None:
    t = warehouse_target(f"{scheme}://writer:p%40ss%3Aw@127.0.0.1:6543/scene_db")
    assert t is not None
    assert (t.host, t.port, t.user, t.password, t.dbname) == (
        "127.0.0.1",
        6543,
        "writer",
        "p@ss:w",
        "scene_db",
    )
    assert t.dsn.startswith("postgresql://")


def test_default_port_and_errors() -> None:
    t = warehouse_target("postgresql://u@db.example/w")
    assert t is not None and t.port == 5432 and t.password == ""
    with pytest.raises(WarehouseConfigError, match="expected postgresql://") as exc:
        warehouse_target("mysql://u:secret@h/db")
    assert "secret" not in str(exc.value)  # never echo a password
    with pytest.raises(WarehouseConfigError):
        warehouse_target("postgresql://u:p@h:5432/")


def test_dbt_is_pointed_at_the_selected_target(monkeypatch, tmp_path) -> None:
    p = Paths(tmp_path)
    monkeypatch.delenv("SCENETRACK_WAREHOUSE", raising=False)
    monkeypatch.delenv("SCENETRACK_DBT_TARGET", raising=False)
    assert "SCENETRACK_DBT_TARGET" not in dbt_env(p)
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", "postgres://w:pw@127.0.0.1:7777/wh")
    env = dbt_env(p)
    assert env["SCENETRACK_DBT_TARGET"] == "postgres"
    assert (env["SCENETRACK_PG_HOST"], env["SCENETRACK_PG_PORT"]) == ("127.0.0.1", "7777")
    assert (env["SCENETRACK_PG_USER"], env["SCENETRACK_PG_PASSWORD"]) == ("w", "pw")
    assert env["SCENETRACK_PG_DBNAME"] == "wh"
