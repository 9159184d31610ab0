"""The path of a small submission on warehouses of different history, gate scoped or full.

    python -m benchmarks.gate_scope [--sizes 1m 10m] [--rows 1000] [--rounds 3] [--keep DIR]

For each size: a warehouse of the benchmark's dataset (``benchmarks/data.py``: every pipeline
file ingested, ``dbt build``), a first gate (every row: none has passed yet) and publish; then
a ``--rows`` submission (``Dataset.delta_of_rows``: the same kind of rows on every size) is
ingested and built, and the gate runs alternately over the changed rows (what the pipeline
does after a passing gate, :mod:`scenetrack.gate.scope`) and over every row (``--full-gate``),
the order rotated each round, each followed by a publish. Before each gate the gate runs of
the rounds before are deleted from ``audit.gate_runs``, so every scoped gate has the same scope
(the rows written since the first gate). Every step runs in a fresh child
(``benchmarks.steps``): time of the call alone, peak RSS from ``os.wait4``.

Prints and returns per size the medians of ingest, build, gate (scoped, full) and publish, the
path (ingest + build + scoped gate + publish) and, between the largest and the smallest size,
the growth ratio of each step and of the path.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path

import duckdb

from benchmarks import data as bdata
from benchmarks.run import child

ROOT = Path(__file__).resolve().parent.parent
PATH_STEPS = ("ingest", "build", "gate_scoped", "publish")


def _step(task: str, home: Path, **kw) -> dict:
    return child(task, home / "bench_logs", home=home, **kw)


def _forget_gates_after(home: Path, run_id: str) -> None:
    """Delete the gate runs recorded after ``run_id`` (the next gate's scope starts there)."""
    from scenetrack.config import Paths

    con = duckdb.connect(str(Paths(home).work_db))
    try:
        con.execute(
            "delete from audit.gate_runs where run_at > "
            "(select run_at from audit.gate_runs where run_id = ?)",
            [run_id],
        )
    finally:
        con.close()


def measure(size: str, rows: int, rounds: int, home: Path) -> dict:
    ds = bdata.dataset(size, gbk=False)
    print(f"[gate_scope] {size}: building ({ds.events} events) ...", flush=True)
    _step("ingest", home, files=ds.pipeline_files)
    _step("build", home)
    first = _step("gate", home)
    assert first["passed"], first.get("summary")
    _step("publish", home, gate_run_id=first["run_id"])
    times: dict[str, list[float]] = {"gate_scoped": [], "gate_full": [], "publish": []}
    rss: dict[str, list[int]] = {"gate_scoped": [], "gate_full": []}
    ingest = _step("ingest", home, files=[ds.delta_of_rows(rows)])
    build = _step("build", home)
    scopes = set()
    for r in range(rounds):
        order = ["gate_scoped", "gate_full"] if r % 2 == 0 else ["gate_full", "gate_scoped"]
        for name in order:
            _forget_gates_after(home, first["run_id"])
            res = _step("gate", home, full_gate=name == "gate_full")
            assert res["passed"], res.get("summary")
            times[name].append(res["seconds"])
            rss[name].append(res["peak_rss_bytes"])
            if name == "gate_scoped":
                scopes.add(res["scope"])
            pub = _step("publish", home, gate_run_id=res["run_id"])
            times["publish"].append(pub["seconds"])
            print(
                f"[gate_scope] {size} round {r + 1} {name}: {res['seconds']:.2f} s "
                f"({res['scope']}), publish {pub['seconds']:.2f} s",
                flush=True,
            )
    out = {
        "events": ds.events,
        "rows_loaded": ingest["rows_loaded"],
        "ingest": ingest["seconds"],
        "build": build["seconds"],
        **{k: statistics.median(v) for k, v in times.items()},
        "peak_rss_gib": {k: statistics.median(v) / 2**30 for k, v in rss.items()},
        "scoped_scope": sorted(scopes),
    }
    out["path"] = sum(out[k] for k in PATH_STEPS)
    out["path_with_full_gate"] = out["path"] - out["gate_scoped"] + out["gate_full"]
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["1m", "10m"])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--keep", help="folder to keep the warehouses in (default: scratch)")
    args = ap.parse_args(argv)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="gate_scope_"))
    summary: dict = {"rows": args.rows, "rounds": args.rounds, "sizes": {}}
    try:
        for size in sorted(args.sizes, key=bdata.parse_size):
            home = work / size
            shutil.rmtree(home, ignore_errors=True)
            summary["sizes"][size] = measure(size, args.rows, args.rounds, home)
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    sizes = sorted(summary["sizes"], key=bdata.parse_size)
    if len(sizes) > 1:
        small, large = summary["sizes"][sizes[0]], summary["sizes"][sizes[-1]]
        summary["growth"] = {
            k: large[k] / small[k]
            for k in (*PATH_STEPS, "gate_full", "path", "path_with_full_gate")
            if small[k]
        }
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return summary


if __name__ == "__main__":
    main()
