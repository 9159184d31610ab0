"""Event-driven end to end: a real Airflow (``scenetrack airflow``'s services: API server,
scheduler, dag-processor, triggerer, LocalExecutor, SQLite) on 127.0.0.1 in a temporary home;
files dropped into the landing folder reach the published marts with no one triggering anything.

Records the file-to-published latency in ``benchmarks/results/event_driven_latency.json``
(a measurement for the benchmark report, not an assertion).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import time
from pathlib import Path

import duckdb
import pytest

from scenetrack.airflow_runner import land, landing_watcher_running
from scenetrack.airflow_topology import Topology, group_alive, start_local
from scenetrack.config import PROJECT_DIR, Paths
from scenetrack.warehouse import writer_lock

pytestmark = pytest.mark.e2e

WAIT_S = 420  # per step, bounded; generous because CI machines are shared and slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, cond, topo: Topology, log: Path, timeout: float = WAIT_S, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if dead := topo.dead():
            pytest.fail(f"Airflow component(s) {dead} exited waiting for {what}; logs in {log}")
        value = cond()
        if value:
            return value
        time.sleep(every)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; log {log}:\n{tail}")


def _published_projects(p: Paths, city_code: str) -> int:
    if not p.published_db.exists():
        return 0
    try:
        con = duckdb.connect(str(p.published_db), read_only=True)
    except duckdb.Error:  # being swapped in
        return 0
    try:
        return con.execute(
            "select count(*) from fct_project_lifecycle where city_code = ?", [city_code]
        ).fetchone()[0]
    finally:
        con.close()


def _file_projects(f: Path) -> tuple[int, int]:
    """(data rows, distinct project ids) of a canonical events CSV."""
    with f.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows), len({r["project_id"] for r in rows})


def _city(f: Path) -> str:
    return f.stem.split("_")[-1]


def test_files_landing_reach_published_marts_exactly_once(tmp_path) -> None:
    from ingestion.generate import generate

    p = Paths(tmp_path / "home").ensure()
    landing = p.home / "landing"
    landing.mkdir()
    samples = {f.name: f for f in generate(tmp_path / "samples", cities=4, seed=11)}
    events = sorted(n for n in samples if n.startswith("events_") and n[7:-4].isdigit())
    assert len(events) >= 4, events
    first, together, later = events[0], events[1:3], events[3]

    log = p.logs_dir / "airflow-services"
    proc = start_local(p, _free_port())  # returns once /api/v2/monitor/health says healthy
    groups = [c.pid for c in proc.components.values()]
    latencies: dict[str, float] = {}
    try:
        _wait(
            "the landing watcher to run in the triggerer",
            lambda: landing_watcher_running(p),
            proc,
            log,
            timeout=180,
        )

        # 1. one file lands: the published marts include it, nobody triggered anything
        t0 = time.monotonic()
        land(samples[first], landing)
        _wait(
            f"{first} in the published marts",
            lambda: _published_projects(p, _city(samples[first])),
            proc,
            log,
        )
        latencies["one_file_s"] = round(time.monotonic() - t0, 1)

        # 2. two files land together; a third lands while their run is in progress
        t0 = time.monotonic()
        for name in together:
            land(samples[name], landing)
        _wait(
            "the ingest run to take the two files",
            lambda: all((p.home / "processed" / n).exists() for n in together),
            proc,
            log,
            every=0.2,
        )
        land(samples[later], landing)
        for name in [*together, later]:
            _wait(
                f"{name} in the published marts",
                lambda n=name: _published_projects(p, _city(samples[n])),
                proc,
                log,
            )
        latencies["two_files_then_one_during_the_run_s"] = round(time.monotonic() - t0, 1)
    finally:
        proc.stop()
    assert not any(group_alive(g) for g in groups)  # nothing of any component is left

    out = PROJECT_DIR / "benchmarks" / "results" / "event_driven_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "what": "file renamed into landing/ -> visible in published/scenetrack.duckdb "
                "(scenetrack airflow: LocalExecutor, SQLite metadata DB; watcher poll "
                "2 s; dbt build + GX gate + publish per run)",
                "cities": 4,
                "cpu_count": os.cpu_count(),
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                **latencies,
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
            indent=2,
        )
        + "\n"
    )

    # exactly once: one ledger row per file, seen once, every row accounted for
    landed = [first, *together, later]
    with writer_lock(p, timeout_s=60):
        con = duckdb.connect(str(p.work_db), read_only=True)
        try:
            ledger = {
                r[0]: r[1:]
                for r in con.execute(
                    "select file_name, times_seen, status, rows_read, rows_loaded, "
                    "rows_quarantined, file_sha256 from raw.file_ledger"
                ).fetchall()
            }
            raw_rows = dict(
                con.execute(
                    "select source_file_name, count(*) from raw.events group by 1"
                ).fetchall()
            )
        finally:
            con.close()
    assert sorted(ledger) == sorted(landed)
    for name in landed:
        times_seen, status, rows_read, loaded, quarantined, _sha = ledger[name]
        n_rows, _ = _file_projects(samples[name])
        assert (times_seen, status) == (1, "loaded"), name
        assert rows_read == n_rows == loaded + quarantined, name
        assert raw_rows.get(name, 0) == loaded, name
    assert sorted(f.name for f in (p.home / "processed").iterdir()) == sorted(landed)
    assert list(landing.iterdir()) == []
    for name in landed:  # the final published version holds every project of every file
        assert _published_projects(p, _city(samples[name])) == _file_projects(samples[name])[1]
