"""Why the watchlist stays incremental: its cost after a small submission, both ways, in one run.

    python -m benchmarks.watchlist_projection --home HOME [--rows 1000] [--rounds 3]

``HOME`` is a built warehouse (e.g. the one ``benchmarks.gate_revisions --home`` leaves).
Lands a submission of about ``--rows`` rows (``Dataset.delta_of_rows`` of the 1M dataset),
ingests and builds it with the platform's code, and reads from dbt's ``run_results.json`` what
``mart_stalled_projects`` cost as the incremental model it is (model and its tests). Then, on
the same work database, it times the model as a plain projection of the fact: the statement a
``table`` materialization runs (``create table … as`` the model's full-refresh SQL, compiled by
``dbt compile --full-refresh``), ``--rounds`` times. Prints both and their ratio; the rows the
projection writes are the whole watchlist, which grows with history.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import duckdb

from benchmarks import data as bdata
from benchmarks.gate_revisions import ROOT, step

MODEL = "model.scenetrack.mart_stalled_projects"


def node_seconds(run_results: Path, prefix: str) -> float:
    """Execution time of a node and of the tests attached to it (dbt's own figures)."""
    results = json.loads(run_results.read_text())["results"]
    name = prefix.rsplit(".", 1)[-1]
    return sum(
        r["execution_time"]
        for r in results
        if r["unique_id"] == prefix
        or (r["unique_id"].startswith("test.") and name in r["unique_id"])
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", required=True)
    ap.add_argument("--size", default="1m", help="the dataset the submission is cut from")
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    home = Path(args.home)
    from scenetrack.config import Paths
    from scenetrack.transform import run_dbt

    paths = Paths(home).ensure()
    delta = bdata.dataset(args.size, gbk=False).delta_of_rows(args.rows)
    step(ROOT, "ingest", home, [delta])
    step(ROOT, "build", home)
    run_results = paths.dbt_target_dir / "run_results.json"
    incremental = node_seconds(run_results, MODEL)

    compiled = run_dbt(
        paths, ["compile", "--select", "mart_stalled_projects", "--full-refresh", "--quiet"]
    )
    if not compiled.success:
        raise RuntimeError("dbt compile failed")
    sql_path = next((paths.dbt_target_dir / "compiled").rglob("mart_stalled_projects.sql"))
    select = sql_path.read_text()
    con = duckdb.connect(str(paths.work_db))
    try:
        seconds = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            con.execute(f"create or replace table main.watchlist_projection as ({select})")
            seconds.append(time.perf_counter() - t0)
        rows = con.execute("select count(*) from main.watchlist_projection").fetchone()[0]
        con.execute("drop table main.watchlist_projection")
    finally:
        con.close()
    out = {
        "submission_rows": args.rows,
        "incremental_model_and_tests_s": incremental,
        "projection_create_table_s": statistics.median(seconds),
        "projection_rows": rows,
        "ratio_projection_to_incremental": statistics.median(seconds) / incremental,
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
