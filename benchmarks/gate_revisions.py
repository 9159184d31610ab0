"""The quality gate of two revisions of the project on the same warehouse, in one run.

    python -m benchmarks.gate_revisions --before REV [--size 1m] [--rounds 3]

Builds one warehouse of ``--size`` events with the checkout's code (the benchmark's dataset,
``benchmarks/data.py``: ingest every pipeline file, then ``dbt build``), then runs the gate step
(``python -m benchmarks.steps gate``: the platform's own ``pipeline.gate``) alternately with the
checkout and with ``REV`` (a git worktree made for the run and removed after), the order
rotated each round. Each gate runs in a fresh child; its time is the call alone (imports
before the clock) and its peak RSS comes from ``os.wait4``. Prints and returns the medians and
the after/before ratios. A gate that does not pass is reported as such: the comparison is only
meaningful when both pass on the same data.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks import data as bdata
from benchmarks.run import child

ROOT = Path(__file__).resolve().parent.parent


def step(checkout: Path, task: str, home: Path, files: list[Path] | None = None) -> dict:
    """One ``benchmarks.steps`` task with ``checkout``'s code (:func:`benchmarks.run.child`):
    its result, wall time and peak RSS; logs under the home."""
    logs = home / "bench_logs" / checkout.name
    return child(task, logs, checkout=checkout, home=home, files=files)


def compare(before: str, size: str, rounds: int, work: Path, home: Path) -> dict:
    ds = bdata.dataset(size, gbk=False)
    print(f"[gate_revisions] building a {size} warehouse ({ds.events} events) ...", flush=True)
    step(ROOT, "ingest", home, ds.pipeline_files)  # files already in the home are duplicates
    step(ROOT, "build", home)
    old = work / "before"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(old), before], cwd=ROOT, check=True
    )
    try:
        checkouts = {"before": old, "after": ROOT}
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for r in range(rounds):
            order = ["before", "after"] if r % 2 == 0 else ["after", "before"]
            for name in order:
                res = step(checkouts[name], "gate", home)
                runs[name].append(res)
                print(
                    f"[gate_revisions] round {r + 1} {name}: {res['seconds']:.2f} s, "
                    f"peak RSS {res['peak_rss_bytes'] / 2**30:.2f} GiB, passed={res['passed']}",
                    flush=True,
                )
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(old)], cwd=ROOT, check=False)
    summary: dict = {"size": size, "events": ds.events, "before": before, "rounds": rounds}
    for name, rs in runs.items():
        summary[name] = {
            "seconds": statistics.median(r["seconds"] for r in rs),
            "peak_rss_gib": statistics.median(r["peak_rss_bytes"] for r in rs) / 2**30,
            "passed": all(r["passed"] for r in rs),
        }
    summary["time_ratio"] = summary["after"]["seconds"] / summary["before"]["seconds"]
    summary["rss_ratio"] = summary["after"]["peak_rss_gib"] / summary["before"]["peak_rss_gib"]
    return summary


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="git revision to compare with")
    ap.add_argument("--size", default="1m")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--home", help="warehouse home to build (again) and keep (default: scratch)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gate_revisions_"))
    home = Path(args.home) if args.home else work / "home"
    try:
        summary = compare(args.before, args.size, args.rounds, work, home)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
