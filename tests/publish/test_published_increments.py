"""Publishing after each incremental build writes only what changed, and every published
version equals the work marts it was published from, row for row (run numbers included), with
Parquet copies of exactly those rows."""

from __future__ import annotations

import logging

import duckdb

from ingestion.generate import generate
from scenetrack.config import Paths
from scenetrack.pipeline import build, ingest_paths
from scenetrack.publish import publish
from tests.faults.helpers import gated, parquet_not_live


def _differing_marts(p: Paths) -> list[str]:
    """The marts whose published rows are not exactly the work database's (both ways, every
    column), and the marts present on one side only."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{p.work_db}' as work (read_only)")
        con.execute(f"attach '{p.published_db}' as pub (read_only)")

        def tables(db: str, schema: str) -> set[str]:
            return {
                r[0]
                for r in con.execute(
                    "select table_name from duckdb_tables() where database_name = ? "
                    "and schema_name = ? and table_name <> 'publish_info'",
                    [db, schema],
                ).fetchall()
            }

        work, pub = tables("work", "marts"), tables("pub", "main")
        wrong = sorted(work ^ pub)
        for t in sorted(work & pub):
            a, b = f"work.marts.{t}", f"pub.main.{t}"
            n = con.execute(
                f"select (select count(*) from (select * from {a} except all select * from {b}))"
                f" + (select count(*) from (select * from {b} except all select * from {a}))"
            ).fetchone()[0]
            if n:
                wrong.append(t)
        return wrong
    finally:
        con.close()


def _written(caplog) -> str:
    lines = [r.getMessage() for r in caplog.records if r.name == "scenetrack.publish"]
    assert lines, "publish logged nothing"
    return lines[-1]


def test_each_version_equals_its_work_marts_and_writes_only_what_changed(tmp_path, caplog):
    files = generate(tmp_path / "subs", cities=4, seed=21)
    events = sorted(f for f in files if f.name.startswith("events_"))
    others = [f for f in files if f not in events]
    assert len(events) >= 3
    batches = [others + events[:-2], events[-2:-1], events[-1:]]
    home = Paths(tmp_path / "home").ensure()
    caplog.set_level(logging.INFO, logger="scenetrack.publish")
    parquet = home.published_dir / "parquet"
    inodes: dict[str, int] = {}
    for i, batch in enumerate(batches, start=1):
        ingest_paths(home, batch)
        build(home)
        gated(home, f"g{i}")
        rec = publish(home, f"g{i}")
        assert rec.version == i
        assert _differing_marts(home) == [], f"v{i}"
        assert parquet_not_live(home) == [], f"v{i}"
        said = _written(caplog)
        if i == 1:  # nothing to start from: every mart is written
            assert said.startswith("building v1: copied whole ") and "kept" not in said
        else:  # one more city file: its projects' rows, and the marts it changes
            assert said.startswith(f"building v{i}: rows written in ")
            rows_in = said.split("; ")[0]
            for mart in ("fct_project_lifecycle", "fct_stage_transitions"):
                assert mart in rows_in, said
            kept = [part for part in said.split("; ") if part.startswith("kept ")]
            assert kept and "dim_city" in kept[0], said
            # the Parquet copy of a kept mart is the same file; a changed mart's is new
            assert (parquet / "dim_city.parquet").stat().st_ino == inodes["dim_city"]
            lifecycle = (parquet / "fct_project_lifecycle.parquet").stat().st_ino
            assert lifecycle != inodes["fct_project_lifecycle"]
        inodes = {f.stem: f.stat().st_ino for f in parquet.glob("*.parquet")}
