"""One measured step, run in its own child process: ``python -m benchmarks.steps TASK ...``.

Every contender runs in a fresh child so each gets the same start (no warm DuckDB buffer
or allocator state from the previous contender) and so its peak RSS can be read from
``os.wait4`` by the parent (Linux reports the child's and its own waited-for children's peak,
so dbt's subprocess is included). The libraries a task needs are imported *before* the clock
starts (``seconds`` is the call alone); the parent also records the child's wall time, which
includes interpreter start and imports (what a CLI call or an Airflow task pays).

The child prints one JSON line prefixed with ``@@result`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")

RESULT_PREFIX = "@@result "


def _paths(home: str):
    from scenetrack.config import Paths

    return Paths(Path(home)).ensure()


def _warm(task: str) -> None:
    """Import what the task needs so the timed call does not pay for imports."""
    if task in ("ingest", "xlsx_platform") or task.startswith("platform"):
        import openpyxl  # noqa: F401

        import ingestion.load  # noqa: F401
        import ingestion.receipts  # noqa: F401
        import ingestion.xlsx  # noqa: F401
        import scenetrack.pipeline  # noqa: F401
    elif task in ("pandas_csv", "pandas_gbk"):
        import pandas  # noqa: F401
    elif task in ("dlt_csv", "dlt_gbk"):
        import dlt  # noqa: F401
        import pyarrow.csv  # noqa: F401
    elif task == "gate":
        from scenetrack.gate import _gx

        _gx()
        import pandas  # noqa: F401
    elif task == "xlsx_openpyxl":
        import openpyxl  # noqa: F401
    elif task == "xlsx_calamine":
        import python_calamine  # noqa: F401


def run_task(args: argparse.Namespace) -> dict:
    """Run one task; returns what the parent stores (``seconds`` always)."""
    from benchmarks import contenders as c

    task = args.task
    _warm(task)
    files = [Path(f) for f in args.files or []]
    work = Path(args.work) if args.work else None
    out: dict = {}
    t0 = time.perf_counter()
    if task == "ingest":
        from scenetrack.pipeline import ingest_paths

        receipts = ingest_paths(_paths(args.home), files)
        out["rows_loaded"] = sum(r.rows_loaded for r in receipts)
        out["not_loaded"] = [r.line() for r in receipts if r.status != "loaded"][:5]
    elif task == "build":
        from scenetrack.pipeline import build

        out["dbt_nodes"] = build(_paths(args.home))
        out["success"] = True  # build raises when a model or a test fails
    elif task == "dbt":
        from scenetrack.transform import run_dbt

        res = run_dbt(_paths(args.home), args.dbt_args.split())
        out["dbt_nodes"] = len(res.nodes)
        out["success"] = res.success
        if not res.success:
            out["failed"] = res.failed[:5]
    elif task == "gate":
        from scenetrack.pipeline import GateBlockedError, gate

        try:
            res = gate(_paths(args.home), full=args.full_gate)
            out["run_id"], out["passed"] = res.run_id, True
            out["warnings"] = len(res.warnings)
            out["scope"] = res.scope
        except GateBlockedError as exc:
            out["passed"], out["summary"] = False, str(exc)[:2000]
    elif task == "gate_sql":
        from benchmarks.gate_sql import run_gate_sql

        checks = run_gate_sql(_paths(args.home).work_db)
        out["checks"] = len(checks)
    elif task == "publish":
        from scenetrack.pipeline import publish

        out["version"] = publish(_paths(args.home), args.gate_run_id).version
    elif task == "sql_script":
        from benchmarks.dbt_sql import run_script

        out.update(run_script(Path(args.db), Path(args.script)))
    else:
        fn = {
            **{f"{k}_csv": v[1] for k, v in c.CSV_CONTENDERS.items()},
            **{f"{k}_gbk": v[1] for k, v in c.GBK_CONTENDERS.items()},
            **{f"xlsx_{k}": v[1] for k, v in c.XLSX_CONTENDERS.items()},
        }[task]
        out["rows"] = fn(files[0], work)
    out["seconds"] = time.perf_counter() - t0
    if task == "gate_sql" and args.gate_run_id:  # after the clock: does SQL agree with GX?
        from benchmarks.gate_sql import compare, gx_outcomes

        out["agreement"] = compare(checks, gx_outcomes(_paths(args.home).work_db, args.gate_run_id))
    return out


def _vm_hwm() -> int:
    """This process's own peak RSS (VmHWM, bytes): reset by exec, unlike ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss() -> dict:
    """Peak RSS of this step: its own (VmHWM) and its waited-for children's (dbt).

    ``ru_maxrss`` of a forked child starts at the parent's RSS at fork and survives exec, so
    the parent's ``os.wait4`` figure would include the harness's own footprint; VmHWM does
    not. The children's figure can include up to this process's RSS at the time it forked.
    """
    import resource

    own = _vm_hwm()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"peak_rss_self_bytes": own, "peak_rss_children_bytes": kids, "peak_rss": max(own, kids)}


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.steps")
    ap.add_argument("task")
    ap.add_argument("--home")
    ap.add_argument("--work")
    ap.add_argument("--db")
    ap.add_argument("--script")
    ap.add_argument("--gate-run-id")
    ap.add_argument("--full-gate", action="store_true", help="gate: validate every row")
    ap.add_argument("--files", nargs="*")
    ap.add_argument("--dbt-args", help='one string, e.g. --dbt-args="build --full-refresh"')
    ap.add_argument("--profile", help="write a pyinstrument profile (HTML + text) to this stem")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.profile:
        from pyinstrument import Profiler

        _warm(args.task)
        prof = Profiler(interval=0.005)
        prof.start()
        out = run_task(args)
        prof.stop()
        stem = Path(args.profile)
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".html").write_text(prof.output_html())
        stem.with_suffix(".txt").write_text(prof.output_text(unicode=True, show_all=False))
    else:
        out = run_task(args)
    out.update(peak_rss())
    sys.stdout.write(RESULT_PREFIX + json.dumps(out, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
