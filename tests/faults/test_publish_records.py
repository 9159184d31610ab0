"""What a publish writes about itself and what a recovery says it did: the records' fields,
their times in UTC whatever the machine's zone, readable log lines, comments that contain
quotes, and the repairs of ``recover`` named one by one (issue 24: the survivors of the full
mutation pass over ``scenetrack/publish.py``).

Expected values are worked out by hand in the comments; a time is checked against the clock
read around the call (a naive local time in Asia/Shanghai is 8 hours off).
"""

from __future__ import annotations

import getpass
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.publish import PublishError, live_record, publish, publish_log, recover, rollback
from tests.conftest import fetch
from tests.faults.helpers import gated, make_marts, parquet_not_live


@pytest.fixture
def shanghai_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone is Asia/Shanghai (UTC+8) for the test."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _utc(text: str) -> datetime:
    """An ISO time that must carry the UTC offset."""
    at = datetime.fromisoformat(text)
    assert at.utcoffset() == timedelta(0), text
    return at


def _near_now(at: datetime) -> bool:
    return abs(datetime.now(UTC) - at) < timedelta(minutes=5)


def _publish(p: Paths, run_id: str, projects: int):
    make_marts(p, projects)
    gated(p, run_id)
    return pipeline.publish(p, run_id)


def test_a_publish_records_who_and_when_in_utc_and_keeps_its_log_readable(
    home: Paths, shanghai_clock: None
) -> None:
    rec = _publish(home, "闸门-1", 10)
    assert rec.by == getpass.getuser()
    assert _near_now(_utc(rec.published_at))
    # the log line is text a person reads: the run id as written, not \u escapes
    raw = (home.published_dir / "publish_log.jsonl").read_bytes()
    assert "闸门-1".encode() in raw
    # the file describes itself: the same moment (publish_info), in UTC, by nobody in particular
    live = live_record(home)
    assert live is not None and live.by == "" and live.gate_run_id == "闸门-1"
    assert abs(_utc(live.published_at) - _utc(rec.published_at)) < timedelta(minutes=1)


def test_comments_with_quotes_reach_the_published_file(home: Paths) -> None:
    make_marts(home, 10)
    con = duckdb.connect(str(home.work_db))
    con.execute("comment on table marts.mart_city_scorecard is 'The city''s figures.'")
    con.execute("comment on column marts.fct_project_lifecycle.city_code is 'The project''s city.'")
    con.close()
    gated(home, "g1")
    pipeline.publish(home, "g1")
    [(table,)] = fetch(
        home.published_db,
        "select comment from duckdb_tables() where table_name = 'mart_city_scorecard'",
    )
    [(column,)] = fetch(
        home.published_db,
        "select comment from duckdb_columns() "
        "where table_name = 'fct_project_lifecycle' and column_name = 'city_code'",
    )
    assert (table, column) == ("The city's figures.", "The project's city.")


def test_recover_names_each_repair(home: Paths) -> None:
    _publish(home, "g1", 10)
    (home.published_dir / ".incoming-abc.duckdb").write_bytes(b"half")
    (home.published_dir / ".parquet-def").mkdir()
    (home.published_dir / ".parquet-def" / "x.parquet").write_bytes(b"half")
    shutil.copyfile(
        home.published_dir / "versions" / "v0001.duckdb",
        home.published_dir / "versions" / "v0005.duckdb",
    )
    assert recover(home) == [
        "removed the unfinished candidate .incoming-abc.duckdb",
        "removed the unfinished Parquet folder .parquet-def",
        "removed v0005.duckdb: built but never published",
    ]
    assert sorted(f.name for f in home.published_dir.iterdir() if f.name.startswith(".")) == []
    assert recover(home) == []


def _swap_in_without_a_log_line(p: Paths, version: int, published_at: str) -> None:
    """What a rollback or publish killed right after its swap leaves: kept version
    ``version`` is the published file (with ``published_at`` in its record), unlogged."""
    copy = p.published_dir / "swap.tmp"
    shutil.copyfile(p.published_dir / "versions" / f"v{version:04d}.duckdb", copy)
    con = duckdb.connect(str(copy))
    con.execute("update main.publish_info set published_at = cast(? as timestamp)", [published_at])
    con.close()
    os.replace(copy, p.published_db)


def test_a_lost_rollback_line_is_logged_as_a_rollback_now(
    home: Paths, shanghai_clock: None
) -> None:
    for i, n in enumerate((10, 20), start=1):
        _publish(home, f"g{i}", n)
    assert rollback(home, 1).version == 1
    # back to v2, its line lost: v2 is no newer than every logged version (1, 2, 1)
    _swap_in_without_a_log_line(home, 2, "2020-01-01 00:00:00")
    assert recover(home)[0] == "logged v2: swapped in, but its log line was lost"
    last = publish_log(home)[-1]
    assert (last.version, last.action, last.gate_run_id) == (2, "rollback", "g2")
    assert _near_now(_utc(last.published_at))  # when it was recovered, not v2's 2020 record


def test_a_lost_publish_line_keeps_the_time_the_file_records(home: Paths) -> None:
    _publish(home, "g1", 10)
    make_marts(home, 20)
    gated(home, "g2")
    publish(home, "g2")
    log = home.published_dir / "publish_log.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    log.write_text("".join(lines[:-1]), encoding="utf-8")  # v2's line lost after its swap
    _swap_in_without_a_log_line(home, 2, "2021-06-01 08:00:00")
    recover(home)
    last = publish_log(home)[-1]
    assert (last.version, last.action) == (2, "publish")
    assert last.published_at == "2021-06-01T08:00:00+00:00"


def test_parquet_copies_without_a_version_or_none_at_all_are_exported_again(
    home: Paths,
) -> None:
    _publish(home, "g1", 10)
    folder = home.published_dir / "parquet"
    shutil.rmtree(folder)
    folder.mkdir()  # an empty folder: no copy of any version
    assert recover(home) == ["re-exported the Parquet copies of v1"]
    # copies written by someone else carry no scenetrack_version
    shutil.rmtree(folder)
    folder.mkdir()
    con = duckdb.connect()
    con.execute(f"copy (select 1 as x) to '{folder / 'x.parquet'}' (format parquet)")
    con.close()
    assert recover(home) == ["re-exported the Parquet copies of v1"]
    assert sorted(f.name for f in folder.iterdir()) == sorted(
        t + ".parquet" for t in live_record(home).tables
    )
    # a copy that is not Parquet at all (cut short by hand, overwritten by a tool)
    (folder / "fct_project_lifecycle.parquet").write_bytes(b"not parquet")
    assert recover(home) == ["re-exported the Parquet copies of v1"]
    assert parquet_not_live(home) == []


def test_a_failed_publish_says_how_to_go_on(home: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    import scenetrack.publish as publishing

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    _publish(home, "g1", 10)
    make_marts(home, 20)
    gated(home, "g2")
    monkeypatch.setattr(publishing, "_build_candidate", full_disk)
    with pytest.raises(PublishError) as failed:
        publish(home, "g2")
    assert str(failed.value) == (
        "publishing v2 failed before the swap ([Errno 28] No space left on device); the "
        "published version v1 is unchanged and nothing of v2 was kept. Fix the cause (e.g. "
        "free disk space) and rerun."
    )
