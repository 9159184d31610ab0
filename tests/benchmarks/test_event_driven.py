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
