"""File-to-published latency through the real Airflow scheduler, on a large warehouse.

``python -m benchmarks.event_driven --home HOME --delta DELTA.csv [--files 3]``

``HOME`` is a built and published warehouse (the pipeline round's home at 1M events); it is
copied, never changed. ``scenetrack airflow``'s services (scheduler, triggerer, dag-processor, API
server; LocalExecutor, SQLite metadata DB) run on 127.0.0.1 for the copy; 1k-row slices of
the 1 % submission are landed one at a time (``.part`` then rename, as uploaders must) and
the clock runs from the rename until ``published/publish_log.jsonl`` records a new version.

Where the time goes comes from Airflow's own metadata DB (``dag_run`` and
``task_instance``): the watcher's detection delay, each task's run time and the scheduling
gaps between them, so a missed target names what bounds it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scenetrack.airflow_runner import land, landing_watcher_running, metadata_rows
from scenetrack.airflow_topology import start_local
from scenetrack.config import Paths
from scenetrack.publish import publish_log

ROWS_PER_FILE = 1000
WAIT_S = 600.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slice_delta(delta: Path, out_dir: Path, n_files: int, rows: int = ROWS_PER_FILE) -> list[Path]:
    """``n_files`` submissions of ``rows`` rows each, cut from the 1 % submission in order
    (fewer rows each when the submission is smaller than ``n_files × rows``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with delta.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        cols, data = reader.fieldnames, list(reader)
    rows = min(rows, len(data) // max(n_files, 1))  # small sizes: smaller files, recorded
    if rows < 1:
        raise ValueError(f"{delta} has {len(data)} rows: too few for {n_files} files")
    files = []
    for k in range(n_files):
        path = out_dir / f"events_latency_{k + 1}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(data[k * rows : (k + 1) * rows])
        files.append(path)
    return files


def _rows(f: Path) -> int:
    with f.open(encoding="utf-8", newline="") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _ts(value: str | None) -> float | None:
    """Airflow's SQLite timestamps (UTC, naive or with offset) as epoch seconds."""
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace(" ", "T"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def airflow_breakdown(p: Paths, since: float) -> dict:
    """DAG runs queued after ``since`` (epoch s) and their tasks' timings, from the metadata DB."""
    runs = metadata_rows(
        p, "select dag_id, run_id, queued_at, start_date, end_date, state from dag_run"
    )
    tasks: dict[tuple[str, str], list[dict]] = {}
    for dag_id, run_id, task, queued, start, end, state in metadata_rows(
        p,
        "select dag_id, run_id, task_id, queued_dttm, start_date, end_date, state "
        "from task_instance",
    ):
        tasks.setdefault((dag_id, run_id), []).append(
            {
                "task": task,
                "queued_s": _rel(_ts(queued), since),
                "start_s": _rel(_ts(start), since),
                "end_s": _rel(_ts(end), since),
                "state": state,
            }
        )
    out: dict = {"runs": []}
    for dag_id, run_id, queued, start, end, state in runs:
        q = _ts(queued)
        if q is None or q < since - 1:
            continue
        out["runs"].append(
            {
                "dag_id": dag_id,
                "state": state,
                "queued_s": _rel(q, since),
                "start_s": _rel(_ts(start), since),
                "end_s": _rel(_ts(end), since),
                "tasks": sorted(tasks.get((dag_id, run_id), []), key=lambda t: t["start_s"] or 1e9),
            }
        )
    out["runs"].sort(key=lambda r: r["queued_s"] or 1e9)
    return out


def _rel(t: float | None, since: float) -> float | None:
    return None if t is None else round(t - since, 2)


def _segments(breakdown: dict, total: float) -> dict[str, float]:
    """Latency split: detection, each task's run, and the scheduler's gaps in between."""
    seg: dict[str, float] = {}
    last = 0.0
    for run in breakdown["runs"]:
        if run["dag_id"] not in ("scenetrack_ingest", "scenetrack_transform"):
            continue
        name = run["dag_id"].removeprefix("scenetrack_")
        if run["queued_s"] is not None:
            seg[f"wait before {name} run queued"] = round(run["queued_s"] - last, 2)
        last = run["queued_s"] or last
        for t in run["tasks"]:
            if t["start_s"] is None or t["end_s"] is None:
                continue
            seg[f"scheduling gap before {t['task']}"] = round(t["start_s"] - last, 2)
            seg[f"task {t['task']}"] = round(t["end_s"] - t["start_s"], 2)
            last = t["end_s"]
    # negative when the publish log line appeared before Airflow recorded the task's end
    seg["publish visible, relative to the last task's recorded end"] = round(total - last, 2)
    return seg


def _wait(what: str, cond, proc, timeout: float = WAIT_S, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead := proc.dead():
            raise RuntimeError(f"Airflow component(s) {dead} exited waiting for {what}")
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _published(p: Paths, n_before: int, since: float) -> bool:
    """A new version is published; raises when a DAG run since ``since`` failed instead."""
    if len(publish_log(p)) > n_before:
        return True
    failed = metadata_rows(p, "select queued_at from dag_run where state = 'failed'")
    if any((_ts(q) or 0) >= since - 1 for (q,) in failed):
        runs = [r for r in airflow_breakdown(p, since)["runs"] if r["state"] == "failed"]
        tasks = [t["task"] for r in runs for t in r["tasks"] if t["state"] == "failed"]
        raise RuntimeError(
            f"{runs[0]['dag_id']} failed ({', '.join(tasks)}); logs in {p.logs_dir / 'airflow'}"
        )
    return False


def _idle(p: Paths) -> bool:
    """No DAG run of this home is queued or running (the previous file is fully through)."""
    busy = metadata_rows(p, "select count(*) from dag_run where state in ('queued', 'running')")
    return busy[0][0] == 0


def measure(built_home: Path, delta: Path, work: Path, n_files: int = 3) -> dict:
    """Copy ``built_home`` to ``work``, run Airflow on it, land ``n_files`` 1k-row files."""
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(built_home, work / "home", symlinks=True)
    p = Paths(work / "home").ensure()
    shutil.rmtree(p.airflow_home, ignore_errors=True)  # a fresh metadata DB
    files = slice_delta(delta, work / "files", n_files)
    before = len(publish_log(p))
    if before == 0:
        raise ValueError(f"{built_home} has no published version: run the pipeline first")
    t_start = time.monotonic()
    proc = start_local(p, _free_port())  # scenetrack airflow's services, healthy
    rounds = []
    try:
        _wait(
            "the landing watcher to run in the triggerer", lambda: landing_watcher_running(p), proc
        )
        startup = time.monotonic() - t_start
        for f in files:
            _wait("the previous runs to finish", lambda: _idle(p), proc)
            n0 = len(publish_log(p))
            t0_wall, t0 = time.time(), time.monotonic()
            land(f, p.home / "landing")
            _wait(f"{f.name} published", lambda n0=n0, t=t0_wall: _published(p, n0, t), proc)
            seconds = time.monotonic() - t0
            _wait("the runs to finish", lambda: _idle(p), proc)
            bd = airflow_breakdown(p, t0_wall)
            rounds.append(
                {
                    "file": f.name,
                    "rows": _rows(f),
                    "seconds": round(seconds, 2),
                    "segments": _segments(bd, seconds),
                    "airflow": bd,
                }
            )
    finally:
        proc.stop()
    lat = [r["seconds"] for r in rounds]
    return {
        "what": "1k-row file renamed into landing/ -> new version in published/publish_log.jsonl "
        "(scenetrack airflow: LocalExecutor, SQLite metadata DB; dbt build + GX gate + publish)",
        "warehouse_home": str(built_home),
        "n": len(lat),
        "median": round(statistics.median(lat), 2),
        "min": min(lat),
        "max": max(lat),
        "standalone_startup_s": round(startup, 1),
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        "rounds": rounds,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.event_driven")
    ap.add_argument("--home", required=True, help="a built and published warehouse home")
    ap.add_argument("--delta", required=True, help="the 1 % submission CSV to cut files from")
    ap.add_argument("--files", type=int, default=3, help="files landed one after another")
    ap.add_argument("--work", default=None, help="scratch folder (default: <home>.latency)")
    ap.add_argument("--out", default=None, help="write the JSON result here too")
    args = ap.parse_args(argv)
    # SIGTERM ends the run through `finally`, so every Airflow service is stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(args.work or f"{args.home.rstrip('/')}.latency")
    res = measure(Path(args.home), Path(args.delta), work, args.files)
    text = json.dumps(res, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text + "\n")
    sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
