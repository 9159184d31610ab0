"""Incremental runs give the same marts as a full refresh, late events and corrections included."""

from __future__ import annotations

import csv

import duckdb

from ingestion.generate import generate
from scenetrack.config import Paths
from scenetrack.pipeline import build, ingest_paths


def _hold_back_late_events(files, tmp) -> list:
    """Move every application event of one city into a file sent after all the others."""
    city_file = next(f for f in files if f.name.startswith("events_") and "320200" not in f.name)
    with city_file.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    on_time = [r for r in rows if r["stage"] != "application"]
    late = [r for r in rows if r["stage"] == "application"]
    assert late, "the fixture needs late application events"
    for path, part in ((city_file, on_time), (tmp / "late_events.csv", late)):
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(part)
    corrections = [f for f in files if f.name == "events_corrections.csv"]
    others = [f for f in files if f.name != "events_corrections.csv"]
    return [*others, tmp / "late_events.csv", *corrections]


def _marts(con: duckdb.DuckDBPyConnection, db: str) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() "
            "where database_name = ? and schema_name = 'marts'",
            [db],
        ).fetchall()
    ]


def test_sequence_of_incremental_runs_equals_full_refresh(tmp_path) -> None:
    files = generate(tmp_path / "subs", cities=6, seed=5, correction_share=0.2)
    ordered = _hold_back_late_events(files, tmp_path)
    assert ordered[-1].name == "events_corrections.csv"

    full = Paths(tmp_path / "full").ensure()
    ingest_paths(full, ordered)
    build(full)

    inc = Paths(tmp_path / "inc").ensure()
    batches = [ordered[:4], ordered[4:-2], ordered[-2:-1], ordered[-1:]]
    for batch in batches:
        ingest_paths(inc, batch)
        build(inc)
    compiled = (
        inc.dbt_target_dir
        / "compiled"
        / "scenetrack"
        / "models"
        / "staging"
        / "stg_raw__events.sql"
    ).read_text()
    assert "touched as" in compiled  # the last build really ran incrementally

    con = duckdb.connect()
    con.execute(f"attach '{full.work_db}' as f (read_only)")
    con.execute(f"attach '{inc.work_db}' as i (read_only)")
    tables = _marts(con, "f")
    assert set(tables) == set(_marts(con, "i")) and "fct_project_lifecycle" in tables
    for t in tables:
        for a, b in (("f", "i"), ("i", "f")):
            diff = con.execute(
                f"select count(*) from (select * from {a}.marts.{t} except all "
                f"select * from {b}.marts.{t})"
            ).fetchone()[0]
            assert diff == 0, f"{t}: {diff} rows of {a} missing from {b}"
        assert con.execute(f"select count(*) from f.marts.{t}").fetchone()[0] > 0, t
    corrected = con.execute(
        "select count(*) from i.marts.fct_project_lifecycle where has_corrected_report"
    ).fetchone()[0]
    assert corrected > 0
    con.close()
