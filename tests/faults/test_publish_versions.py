"""Version numbers, the publish log, pruning, rollback records and first-publish failures:
the behaviours mutation testing found no test watching (issue 24).

Each test states a rule of ``scenetrack/publish.py`` and checks it on small hand-made marts;
the expected values are worked out by hand in the comments.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from scenetrack import faults, pipeline
from scenetrack.config import Paths
from scenetrack.publish import (
    PublishError,
    live_record,
    publish,
    publish_log,
    recover,
    rollback,
)
from tests.conftest import fetch
from tests.faults.helpers import KILLED, gated, make_marts, published_version, run_step


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kept(p: Paths) -> list[str]:
    return sorted(f.name for f in (p.published_dir / "versions").glob("v*.duckdb"))


def _publish(p: Paths, run_id: str, projects: int):
    """New marts of ``projects`` rows, gated as ``run_id``, published."""
    make_marts(p, projects)
    gated(p, run_id)
    return pipeline.publish(p, run_id)


def test_a_publish_after_a_rollback_takes_a_new_number_and_keeps_every_version(
    home: Paths,
) -> None:
    for i, n in enumerate((10, 20, 30), start=1):
        assert _publish(home, f"g{i}", n).version == i
    v3 = _sha(home.published_dir / "versions" / "v0003.duckdb")
    assert rollback(home, 2).version == 2  # the log now ends with v2
    rec = _publish(home, "g4", 40)
    # one above every version ever logged or kept (3), not above the current one (2)
    assert rec.version == 4
    assert _kept(home) == ["v0001.duckdb", "v0002.duckdb", "v0003.duckdb", "v0004.duckdb"]
    assert _sha(home.published_dir / "versions" / "v0003.duckdb") == v3


def test_with_the_log_lost_after_a_rollback_the_kept_files_still_decide_the_number(
    home: Paths,
) -> None:
    """The log is the record, the kept files are the evidence: with the log gone (a restore
    from an old backup), v3's file must neither be reused as a number nor deleted."""
    for i, n in enumerate((10, 20, 30), start=1):
        _publish(home, f"g{i}", n)
    v3 = _sha(home.published_dir / "versions" / "v0003.duckdb")
    rollback(home, 2)
    (home.published_dir / "publish_log.jsonl").unlink()
    rec = _publish(home, "g4", 40)
    assert rec.version == 4  # not 3: v0003.duckdb is kept
    assert _kept(home)[-2:] == ["v0003.duckdb", "v0004.duckdb"]
    assert _sha(home.published_dir / "versions" / "v0003.duckdb") == v3


def test_pruning_keeps_exactly_the_newest_versions(home: Paths) -> None:
    make_marts(home, 10)
    for i in range(1, 5):
        gated(home, f"g{i}")
        publish(home, f"g{i}", keep=2)
    assert _kept(home) == ["v0003.duckdb", "v0004.duckdb"]
    assert published_version(home) == 4
    with pytest.raises(RuntimeError, match=r"version 1 is not kept; kept versions: \[3, 4\]"):
        rollback(home, 1)


def test_a_torn_last_line_is_cut_at_the_last_line_break_not_the_first(home: Paths) -> None:
    for i, n in enumerate((10, 20, 30), start=1):
        _publish(home, f"g{i}", n)
    log_file = home.published_dir / "publish_log.jsonl"
    lines = log_file.read_text(encoding="utf-8").splitlines()
    log_file.write_text("\n".join(lines) + '\n{"version": 4, "act', encoding="utf-8")
    assert [r.version for r in publish_log(home)] == [1, 2, 3]  # the torn line is ignored
    _publish(home, "g4", 40)
    kept = log_file.read_text(encoding="utf-8").splitlines()
    assert kept[:3] == lines  # the three whole lines before the tear stay as they were
    assert [json.loads(ln)["version"] for ln in kept] == [1, 2, 3, 4]


def test_a_corrupt_line_in_the_middle_of_the_log_is_an_error(home: Paths) -> None:
    for i, n in enumerate((10, 20, 30), start=1):
        _publish(home, f"g{i}", n)
    log_file = home.published_dir / "publish_log.jsonl"
    lines = log_file.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:20]  # not the last line: not a crash mid-append, a damaged log
    log_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):
        publish_log(home)


def test_rollback_defaults_to_the_previous_version_and_records_its_source(home: Paths) -> None:
    _publish(home, "g1", 10)
    second = _publish(home, "g2", 20)
    _publish(home, "g3", 30)
    rec = rollback(home)  # no version: the newest one before the current (v2, not v1)
    assert (rec.version, rec.action, rec.gate_run_id) == (2, "rollback", "g2")
    assert rec.tables == second.tables and rec.by == getpass.getuser()
    assert publish_log(home)[-1] == rec
    assert published_version(home) == 2
    assert rollback(home).version == 1
    with pytest.raises(RuntimeError, match="no kept version older than the current v1"):
        rollback(home)


def test_rollback_before_anything_was_published(home: Paths) -> None:
    with pytest.raises(RuntimeError, match=r"^nothing has been published yet$"):
        rollback(home)


def test_the_very_first_publish_killed_after_the_swap_is_recovered(home: Paths) -> None:
    make_marts(home, 10)
    gated(home, "g1")
    assert run_step("pipeline.publish(home, 'g1')", home, "publish:after_replace") == KILLED
    assert published_version(home) == 1 and publish_log(home) == []  # no log line yet
    assert recover(home) == [
        "logged v1: swapped in, but its log line was lost",
        "re-exported the Parquet copies of v1",
    ]
    [rec] = publish_log(home)
    assert (rec.version, rec.action, rec.gate_run_id) == (1, "publish", "g1")
    assert rec.by.endswith("(recovered)") and rec.tables["fct_project_lifecycle"] == 10


def test_a_failed_first_publish_names_no_published_version_and_leaves_nothing(
    home: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_marts(home, 10)
    gated(home, "g1")
    faults.reset()
    # out of space once the candidate has a table (whether a WAL is left: the test below)
    monkeypatch.setenv(faults.FAULT_ENV, "publish:in_candidate=enospc")
    with pytest.raises(PublishError) as failed:
        pipeline.publish(home, "g1")
    monkeypatch.delenv(faults.FAULT_ENV)
    assert "the published version (none) is unchanged" in str(failed.value)
    assert "nothing of v1 was kept" in str(failed.value)
    assert not home.published_db.exists()
    left = sorted(f.name for f in home.published_dir.iterdir() if f.name.startswith("."))
    assert left == []  # neither the candidate nor its WAL
    assert _kept(home) == []


def test_a_failed_candidate_is_removed_with_its_write_ahead_log(
    home: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB keeps a ``.wal`` beside a database whose last checkpoint failed (a full disk at
    close). Whether a real failure leaves one depends on when DuckDB wrote it, so this build
    leaves both files for certain, as such a failure does, and then fails."""
    import scenetrack.publish as publishing

    def fails_leaving_a_wal(p: Paths, target, gate_run_id: str, version: int):
        target.write_bytes(b"half a database")
        Path(str(target) + ".wal").write_bytes(b"its log")
        raise duckdb.IOException("could not write the checkpoint: no space left on device")

    _publish(home, "g1", 10)
    make_marts(home, 20)
    gated(home, "g2")
    monkeypatch.setattr(publishing, "_build_candidate", fails_leaving_a_wal)
    with pytest.raises(PublishError, match="the published version v1 is unchanged"):
        publish(home, "g2")
    assert sorted(f.name for f in home.published_dir.iterdir() if f.name.startswith(".")) == []
    assert _kept(home) == ["v0001.duckdb"] and published_version(home) == 1


def test_publish_never_opens_the_published_file_for_writing(home: Paths) -> None:
    """A BI tool holds the published file open read-only (another process); DuckDB would
    refuse a read-write open of it, so a publish that tried would fail here."""
    _publish(home, "g1", 10)
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                con = duckdb.connect({str(home.published_db)!r}, read_only=True)
                print(con.execute("select version from publish_info").fetchone()[0], flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "1"
        assert _publish(home, "g2", 20).version == 2
        assert recover(home) == []
        assert rollback(home, 1).version == 1
    finally:
        reader.communicate("done\n", timeout=60)
    assert reader.returncode == 0


def test_a_rollback_with_the_log_lost_is_described_by_the_restored_file(home: Paths) -> None:
    """No log line names v1 any more (the log was lost): the kept file itself says which gate
    run it holds and how many rows, and its Parquet copies are exported."""
    first = _publish(home, "g1", 10)
    _publish(home, "g2", 20)
    (home.published_dir / "publish_log.jsonl").unlink()
    rec = rollback(home, 1)
    assert (rec.version, rec.action, rec.gate_run_id) == (1, "rollback", "g1")
    assert rec.tables == first.tables and rec.tables["fct_project_lifecycle"] == 10
    parquet = sorted(f.stem for f in (home.published_dir / "parquet").glob("*.parquet"))
    assert parquet == sorted(first.tables)
    assert publish_log(home)[-1] == rec
    # when it was done, in UTC to the second
    at = datetime.fromisoformat(rec.published_at)
    assert at.utcoffset() == timedelta(0) and at.microsecond == 0
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=5)


def test_version_numbers_past_999_are_read_from_the_kept_files(home: Paths) -> None:
    """Kept files are named v0001 … v0999, v1000 …: the number is everything after the v."""
    earlier = {"version": 999, "action": "publish", "published_at": "2025-01-01T00:00:00+00:00"}
    earlier |= {"by": "someone", "gate_run_id": "g0", "tables": {}}
    (home.published_dir / "publish_log.jsonl").write_text(json.dumps(earlier) + "\n")
    assert _publish(home, "g1", 10).version == 1000  # one above the 999 logged
    assert _publish(home, "g2", 20).version == 1001
    assert rollback(home).version == 1000  # the kept version before v1001
    (home.published_dir / "publish_log.jsonl").unlink()
    # only the kept files know v1001 was published: the next number is 1002, not 1001 again
    assert _publish(home, "g3", 30).version == 1002
    assert _kept(home)[-3:] == ["v1000.duckdb", "v1001.duckdb", "v1002.duckdb"]


def test_the_published_file_is_written_for_readers_with_duckdb_1(home: Paths) -> None:
    """BI drivers bundle DuckDB 1.x: the file is written in a storage format they read
    (SCENETRACK_PUBLISH_STORAGE_VERSION, v1.1.0 by default), not this DuckDB's newest; a
    publish that starts from a copy of the live file keeps that format."""
    for run, rows in (("g1", 10), ("g2", 20)):
        _publish(home, run, rows)
        [(tags,)] = fetch(
            home.published_db,
            "select tags from duckdb_databases() where database_name = current_database()",
        )
        assert tags["storage_version"].startswith("v1."), run


def test_another_storage_format_asked_for_writes_a_new_file(home: Paths, monkeypatch) -> None:
    """The live file cannot be copied into a format it was not written in: after the setting
    changed, the next version is built anew in the format asked for (and the one after that
    starts from a copy of it again)."""

    def storage() -> str:
        [(tags,)] = fetch(
            home.published_db,
            "select tags from duckdb_databases() where database_name = current_database()",
        )
        return tags["storage_version"]

    _publish(home, "g1", 10)
    assert storage() == "v1.0.0+"
    monkeypatch.setenv("SCENETRACK_PUBLISH_STORAGE_VERSION", "latest")
    for run, rows in (("g2", 20), ("g3", 30)):
        rec = _publish(home, run, rows)
        assert storage().startswith("v2."), run
        assert fetch(home.published_db, "select count(*) from fct_project_lifecycle") == [(rows,)]
        assert rec.tables["fct_project_lifecycle"] == rows


def test_a_published_file_mostly_free_space_is_written_anew(home: Paths) -> None:
    """A copy keeps the space of what it replaces: once more of the live file is free than
    used, the next version is a new file again, so the published file stays near its data."""

    def blocks() -> tuple[int, int]:
        [(free, used)] = fetch(
            home.published_db, "select free_blocks, used_blocks from pragma_database_size()"
        )
        return free, used

    make_marts(home, 10, padding_rows=200_000)
    gated(home, "g1")
    pipeline.publish(home, "g1")
    make_marts(home, 20, padding_rows=10)  # the padding mart shrinks: copied whole into the copy
    gated(home, "g2")
    pipeline.publish(home, "g2")
    free, used = blocks()
    assert free > used  # the copy kept the old padding's space
    bloated = home.published_db.stat().st_size
    _publish(home, "g3", 30)
    free, used = blocks()
    assert free <= used and home.published_db.stat().st_size < bloated / 2
    assert fetch(home.published_db, "select count(*) from fct_project_lifecycle") == [(30,)]
    _publish(home, "g4", 40)  # and the one after starts from a copy again
    assert home.published_db.stat().st_size < bloated / 2


def test_a_work_database_without_marts_publishes_nothing(home: Paths) -> None:
    home.work_db.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(home.work_db))
    con.execute("create schema marts")
    con.close()
    gated(home, "g1")
    with pytest.raises(
        RuntimeError, match=r"^the work database holds no marts: run dbt build first$"
    ):
        publish(home, "g1")
    assert not home.published_db.exists() and _kept(home) == []
    assert [f.name for f in home.published_dir.iterdir() if f.name.startswith(".")] == []


def test_a_publish_shows_its_progress_by_step(home: Paths, monkeypatch) -> None:
    import io

    from scenetrack import progress

    monkeypatch.setenv("SCENETRACK_PROGRESS", "plain")
    out = io.StringIO()
    with progress.shown(out):
        _publish(home, "g1", 10)
    text = out.getvalue()
    # three marts (make_marts) copied into the candidate, then exported to Parquet
    assert "publish: copy marts: done 3/3 marts in " in text
    assert "publish: Parquet copies: done 3/3 marts in " in text


def test_a_publish_names_the_mart_it_is_copying(home: Paths, monkeypatch) -> None:
    """With updates never throttled, every mart shows up as the note of a copy line."""
    import io

    from scenetrack import progress

    monkeypatch.setenv("SCENETRACK_PROGRESS", "plain")
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    out = io.StringIO()
    with progress.shown(out):
        rec = _publish(home, "g1", 10)
    for step in ("publish: copy marts: ", "publish: Parquet copies: "):
        lines = [ln for ln in out.getvalue().splitlines() if step in ln]
        noted = {ln.rsplit(" — ", 1)[1] for ln in lines if " — " in ln}
        assert noted == set(rec.tables) and len(noted) == 3, step


def test_the_published_file_keeps_the_marts_table_comments_and_describes_itself(
    home: Paths,
) -> None:
    """dbt's model descriptions (persist_docs) are the marts' table comments: a BI tool shows
    them, so the published copy carries them; the file's own record is a publish."""
    make_marts(home, 10)
    con = duckdb.connect(str(home.work_db))
    con.execute("comment on table marts.mart_city_scorecard is 'One row per city and period.'")
    con.close()
    gated(home, "g1")
    rec = pipeline.publish(home, "g1")
    [(comment,)] = fetch(
        home.published_db,
        "select comment from duckdb_tables() where table_name = 'mart_city_scorecard'",
    )
    assert comment == "One row per city and period."
    live = live_record(home)
    assert (live.version, live.action, live.gate_run_id, live.tables) == (
        1,
        "publish",
        "g1",
        rec.tables,
    )
