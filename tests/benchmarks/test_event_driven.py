"""The pieces of the file-to-published benchmark that need no Airflow: cutting the files and
splitting a latency into Airflow's segments (the Airflow path itself runs in
tests/e2e/test_event_driven.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks.event_driven import _segments, slice_delta


def _write(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["city", "project_id"])
        for i in range(n):
            w.writerow(["合肥", f"P{i}"])
    return path


def _read(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as f:
        return [r["project_id"] for r in csv.DictReader(f)]


def test_slices_are_consecutive_disjoint_and_sized(tmp_path: Path) -> None:
    delta = _write(tmp_path / "delta.csv", 2500)
    files = slice_delta(delta, tmp_path / "out", 2, rows=1000)
    assert [_read(f) for f in files] == [
        [f"P{i}" for i in range(0, 1000)],
        [f"P{i}" for i in range(1000, 2000)],
    ]


def test_small_submission_gives_smaller_files_never_empty(tmp_path: Path) -> None:
    delta = _write(tmp_path / "delta.csv", 7)
    files = slice_delta(delta, tmp_path / "out", 3, rows=1000)
    assert [len(_read(f)) for f in files] == [2, 2, 2]  # 7 // 3
    with pytest.raises(ValueError, match="too few"):
        slice_delta(_write(tmp_path / "tiny.csv", 2), tmp_path / "out2", 3)


def test_segments_add_up_to_the_measured_latency() -> None:
    # land at 0 s; ingest run queued at 2.0, its task 2.5-10.0; transform queued at 11.0,
    # dbt 11.5-30.0, gate 30.5-40.0, publish 40.5-45.0; the publish is seen at 45.5
    bd = {
        "runs": [
            {
                "dag_id": "scenetrack_ingest",
                "queued_s": 2.0,
                "tasks": [{"task": "ingest_landed_files", "start_s": 2.5, "end_s": 10.0}],
            },
            {
                "dag_id": "scenetrack_transform",
                "queued_s": 11.0,
                "tasks": [
                    {"task": "dbt_build", "start_s": 11.5, "end_s": 30.0},
                    {"task": "quality_gate", "start_s": 30.5, "end_s": 40.0},
                    {"task": "publish_marts", "start_s": 40.5, "end_s": 45.0},
                ],
            },
            {"dag_id": "scenetrack_evaluate", "queued_s": 45.2, "tasks": []},
        ]
    }
    seg = _segments(bd, 45.5)
    assert seg == {
        "wait before ingest run queued": 2.0,
        "scheduling gap before ingest_landed_files": 0.5,
        "task ingest_landed_files": 7.5,
        "wait before transform run queued": 1.0,
        "scheduling gap before dbt_build": 0.5,
        "task dbt_build": 18.5,
        "scheduling gap before quality_gate": 0.5,
        "task quality_gate": 9.5,
        "scheduling gap before publish_marts": 0.5,
        "task publish_marts": 4.5,
        "publish visible, relative to the last task's recorded end": 0.5,
    }
    assert sum(seg.values()) == pytest.approx(45.5)


def test_breakdown_reads_runs_after_the_landing_with_their_tasks(tmp_path: Path) -> None:
    import sqlite3
    from datetime import UTC, datetime

    from benchmarks.event_driven import _idle, _published, airflow_breakdown
    from scenetrack.config import Paths

    p = Paths(tmp_path / "home").ensure()
    p.airflow_home.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(p.airflow_home / "airflow.db")
    con.execute("create table dag_run (dag_id, run_id, queued_at, start_date, end_date, state)")
    con.execute(
        "create table task_instance (dag_id, run_id, task_id, queued_dttm, start_date, "
        "end_date, state)"
    )
    con.executemany(
        "insert into dag_run values (?, ?, ?, ?, ?, ?)",
        [  # an earlier run (before the landing) and the two runs of this file
            ("scenetrack_ingest", "old", "2026-01-01 09:00:00", None, None, "success"),
            ("scenetrack_ingest", "r1", "2026-01-01 10:00:02", None, None, "success"),
            ("scenetrack_transform", "r2", "2026-01-01 10:00:11", None, None, "running"),
        ],
    )
    con.executemany(
        "insert into task_instance values (?, ?, ?, ?, ?, ?, ?)",
        [
            ("scenetrack_ingest", "old", "ingest_landed_files", None, None, None, "success"),
            ("scenetrack_ingest", "r1", "ingest_landed_files", None,
             "2026-01-01 10:00:02.500", "2026-01-01 10:00:10", "success"),
            ("scenetrack_transform", "r2", "dbt_build", None,
             "2026-01-01 10:00:11.500", None, "running"),
        ],
    )  # fmt: skip
    con.commit()
    landed = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC).timestamp()

    bd = airflow_breakdown(p, landed)
    assert [(r["dag_id"], r["queued_s"]) for r in bd["runs"]] == [
        ("scenetrack_ingest", 2.0),
        ("scenetrack_transform", 11.0),
    ]
    assert bd["runs"][0]["tasks"] == [
        {
            "task": "ingest_landed_files",
            "queued_s": None,
            "start_s": 2.5,
            "end_s": 10.0,
            "state": "success",
        }
    ]
    assert not _idle(p)  # the transform run is still running
    assert _published(p, 0, landed) is False  # nothing published, nothing failed

    con.execute("update dag_run set state = 'failed' where run_id = 'r2'")
    con.execute("update task_instance set state = 'failed' where run_id = 'r2'")
    con.commit()
    con.close()
    assert _idle(p)
    with pytest.raises(RuntimeError, match=r"scenetrack_transform failed \(dbt_build\)"):
        _published(p, 0, landed)
