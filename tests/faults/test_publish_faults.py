"""The publish swap killed at every point, or out of disk: readers see the old or the new
version (never damage), the retry converges on the same published warehouse, no version
number is reused, nothing is left behind.

These tests publish small hand-made marts (publishing needs only ``marts.*`` in the work
DB); ``test_pipeline_faults.py`` does the same with the real dbt-built marts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from scenetrack import faults, pipeline
from scenetrack.config import Paths
from scenetrack.publish import PublishError, publish_log, recover, rollback
from tests.faults.helpers import (
    KILLED,
    differences,
    gated,
    make_marts,
    parquet_not_live,
    published_version,
    run_step,
    small_tmpfs,
)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(p: Paths) -> list[str]:
    return sorted(f.name for f in p.published_dir.iterdir() if f.name.startswith("."))


@pytest.fixture
def v1(home: Paths) -> Paths:
    """v1 published (gate run g1); the work DB then holds the next, larger marts, validated by
    gate run g2."""
    make_marts(home, 30)
    gated(home, "g1")
    pipeline.publish(home, "g1")
    make_marts(home, 45)
    gated(home, "g2")
    return home


@pytest.fixture
def uninterrupted(tmp_path: Path) -> Paths:
    """The same two publishes with no fault: the published file every recovery must equal."""
    p = Paths(tmp_path / "clean").ensure()
    make_marts(p, 30)
    gated(p, "g1")
    pipeline.publish(p, "g1")
    make_marts(p, 45)
    gated(p, "g2")
    pipeline.publish(p, "g2")
    return p


def _assert_converged(p: Paths, clean: Paths, versions: list[int]) -> None:
    live = published_version(p)
    log = publish_log(p)
    assert [r.version for r in log] == versions and log[-1].version == live
    assert log[-1].gate_run_id == "g2" and log[-1].tables["fct_project_lifecycle"] == 45
    assert _leftovers(p) == []
    kept = sorted(f.name for f in (p.published_dir / "versions").iterdir())
    assert kept == [f"v{v:04d}.duckdb" for v in sorted(set(versions))]
    assert parquet_not_live(p) == []
    assert differences(p.published_db, clean.published_db) == []


# (where the child dies, the version readers see right after the crash)
KILLS = [
    ("publish:in_candidate", 1),  # half-built candidate (and its WAL) beside the live file
    ("publish:before_replace", 1),  # candidate complete and kept as v0002, not swapped in
    ("publish:after_replace", 2),  # swapped in; the log line is lost
    ("publish:after_log", 2),  # logged; versions not pruned, Parquet still v1's
    ("publish:parquet@2", 2),  # Parquet export half-way (a .parquet-* staging folder)
]


@pytest.mark.parametrize(("fault", "seen"), KILLS)
def test_publish_killed_then_retried_converges(
    v1: Paths, uninterrupted: Paths, fault: str, seen: int
) -> None:
    """The Airflow retry of ``publish_marts`` (same gate run) after SIGKILL anywhere."""
    assert run_step("pipeline.publish(home, 'g2')", v1, fault) == KILLED
    assert published_version(v1) == seen  # old or new, opens read-only, consistent
    rec = pipeline.publish(v1, "g2")  # the retry
    assert rec.version == 2 and rec.gate_run_id == "g2"
    _assert_converged(v1, uninterrupted, [1, 2])
    again = pipeline.publish(v1, "g2")  # a retry of a finished publish is a no-op
    assert again == rec and [r.version for r in publish_log(v1)] == [1, 2]


def test_rerun_after_a_crash_past_the_swap_never_reuses_the_version(
    v1: Paths, uninterrupted: Paths
) -> None:
    """``scenetrack run`` again (a new gate run) after the log line of v2 was lost: v3."""
    assert run_step("pipeline.publish(home, 'g2')", v1, "publish:after_replace") == KILLED
    first = _sha(v1.published_db)
    gated(v1, "g3")  # the rerun's gate validates the same marts
    rec = pipeline.publish(v1, "g3")
    assert rec.version == 3  # v2 was visible to readers: its number stays its own
    log = publish_log(v1)
    assert [(r.version, r.action, r.gate_run_id) for r in log] == [
        (1, "publish", "g1"),
        (2, "publish", "g2"),  # recovered from the published file itself
        (3, "publish", "g3"),
    ]
    assert log[1].by.endswith("(recovered)")
    assert _sha(v1.published_dir / "versions" / "v0002.duckdb") == first
    assert differences(v1.published_db, uninterrupted.published_db) == []


def test_rollback_killed_after_the_swap_is_logged_on_the_next_start(v1: Paths) -> None:
    pipeline.publish(v1, "g2")
    assert (
        run_step(
            "from scenetrack.publish import rollback\nrollback(home)", v1, "rollback:after_replace"
        )
        == KILLED
    )
    assert published_version(v1) == 1 and publish_log(v1)[-1].version == 2  # out of sync
    assert recover(v1) == [
        "logged v1: swapped in, but its log line was lost",
        "re-exported the Parquet copies of v1",
    ]
    assert [(r.version, r.action) for r in publish_log(v1)] == [
        (1, "publish"),
        (2, "publish"),
        (1, "rollback"),
    ]
    assert rollback(v1, 2).version == 2 and published_version(v1) == 2
    assert recover(v1) == []


def test_disk_full_while_building_the_candidate_injected(v1: Paths, uninterrupted: Paths) -> None:
    before, log = _sha(v1.published_db), publish_log(v1)
    code = (
        "from scenetrack.publish import PublishError\n"
        "try:\n    pipeline.publish(home, 'g2')\n"
        "except PublishError as exc:\n    print(exc)\n    raise SystemExit(0)\n"
        "raise SystemExit('published despite the full disk')\n"
    )
    assert run_step(code, v1, "publish:build_candidate=enospc") == 0
    assert _sha(v1.published_db) == before and publish_log(v1) == log
    assert _leftovers(v1) == [] and not (v1.published_dir / "versions" / "v0002.duckdb").exists()
    pipeline.publish(v1, "g2")  # space freed: the retry publishes v2
    _assert_converged(v1, uninterrupted, [1, 2])


def test_disk_full_while_building_the_candidate_on_a_small_filesystem(
    home: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real ENOSPC: ``published/`` is a 6 MiB tmpfs; v1 fits, v2's candidate does not.
    Where the machine does not allow mounting, ENOSPC is injected at the candidate."""
    with small_tmpfs(home.published_dir, "6m") as mounted:
        make_marts(home, 30)
        gated(home, "g1")
        pipeline.publish(home, "g1")
        before, log = _sha(home.published_db), publish_log(home)
        make_marts(home, 45, padding_rows=400_000)  # ~25 MB of incompressible text
        gated(home, "g2")
        if not mounted:
            faults.reset()
            monkeypatch.setenv(faults.FAULT_ENV, "publish:build_candidate=enospc")
        with pytest.raises(PublishError, match="No space left on device") as err:
            pipeline.publish(home, "g2")
        monkeypatch.delenv(faults.FAULT_ENV, raising=False)
        assert "published version v1 is unchanged" in str(err.value)
        assert _sha(home.published_db) == before and publish_log(home) == log
        assert published_version(home) == 1
        assert _leftovers(home) == []
        kept = sorted(f.name for f in (home.published_dir / "versions").iterdir())
        assert kept == ["v0001.duckdb"]
        make_marts(home, 45)  # space freed (the padding dropped): the retry publishes v2
        gated(home, "g2")  # gated again: the marts changed
        assert pipeline.publish(home, "g2").version == 2 and published_version(home) == 2


def test_a_torn_log_line_is_cut_off_and_restored_from_the_published_file(v1: Paths) -> None:
    pipeline.publish(v1, "g2")
    log_file = v1.published_dir / "publish_log.jsonl"
    lines = log_file.read_text(encoding="utf-8").splitlines()
    log_file.write_text(lines[0] + "\n" + lines[1][:25], encoding="utf-8")  # crash mid-append
    assert [r.version for r in publish_log(v1)] == [1]
    recover(v1)
    assert [r.version for r in publish_log(v1)] == [1, 2]
    assert all(json.loads(ln) for ln in log_file.read_text(encoding="utf-8").splitlines())
