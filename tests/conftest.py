"""Shared fixtures: every test builds its own warehouse home and its own data."""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import duckdb
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
# Airflow imported by the DAG tests must never touch ~/airflow: give it a throwaway home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="scenetrack-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

from scenetrack.config import Paths  # noqa: E402

EVENT_COLUMNS = [
    "city",
    "project_id",
    "project_name",
    "domain",
    "technology",
    "demand_owner",
    "supplier",
    "stage",
    "event_type",
    "event_date",
    "amount",
    "reported_at",
]


@pytest.fixture
def home(tmp_path: Path) -> Paths:
    """A fresh, empty warehouse home."""
    return Paths(tmp_path / "home").ensure()


def write_csv(
    path: Path, rows: list[dict], columns: list[str] | None = None, encoding: str = "utf-8"
) -> Path:
    """Write ``rows`` as a CSV with ``columns`` (default: the canonical event layout)."""
    cols = columns or EVENT_COLUMNS
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in cols})
    return path


def event(
    city: str,
    project: str,
    stage: str,
    event_type: str,
    day: str,
    amount: str = "",
    reported: str = "",
    **extra: str,
) -> dict:
    """One canonical event row."""
    return {
        "city": city,
        "project_id": project,
        "project_name": f"{project} 场景",
        "domain": extra.get("domain", "industry"),
        "technology": extra.get("technology", "ai"),
        "demand_owner": "市数据局",
        "supplier": extra.get("supplier", ""),
        "stage": stage,
        "event_type": event_type,
        "event_date": day,
        "amount": amount,
        "reported_at": reported,
    }


def fetch(db: Path, sql: str, params: list | tuple = ()) -> list[tuple]:
    """Rows of ``sql`` on the DuckDB file ``db`` (work or published), opened read-only and
    closed again, as a reader must (the writer may be the next step of the test)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
