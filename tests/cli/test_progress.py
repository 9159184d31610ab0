"""scenetrack.progress: counts, plain lines, dbt's JSON log, and progress relayed by a child."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

from scenetrack import progress
from scenetrack.transform import follow_dbt_log

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")


@pytest.fixture
def lines(monkeypatch) -> io.StringIO:
    """Progress shown as plain lines into a buffer, every update (no throttling)."""
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    monkeypatch.delenv(progress.MODE_ENV, raising=False)
    return io.StringIO()


def _texts(buf: io.StringIO) -> list[str]:
    out = buf.getvalue().splitlines()
    assert out and all(STAMP.match(ln) for ln in out), out
    return [STAMP.sub("", ln) for ln in out]


def test_task_counts_done_of_total_and_running_counts(lines) -> None:
    with progress.shown(lines), progress.task("ingest", 3, "files") as t:
        t.advance(note="a.csv", rows=10, quarantined=1)
        t.advance(note="b.csv", rows=5, quarantined=0)
        t.advance(note="c.csv", rows=1, quarantined=2)
    texts = _texts(lines)
    assert texts[0] == "ingest: 0/3 files"
    assert texts[1] == "ingest: 1/3 files · 10 rows · 1 quarantined — a.csv"
    assert re.fullmatch(r"ingest: done 3/3 files · 16 rows · 3 quarantined in \d+\.\d s", texts[-1])


def test_an_exception_ends_the_task_as_stopped(lines) -> None:
    with pytest.raises(KeyError), progress.shown(lines):
        for _ in progress.track(["x", "y"], "suites", "suites"):
            raise KeyError("boom")
    assert re.fullmatch(r"suites: stopped 0/2 suites in \d+\.\d s", _texts(lines)[-1])


def test_track_counts_each_item_when_the_next_is_asked_for(lines) -> None:
    seen = []
    with progress.shown(lines):
        for item in progress.track(["s1", "s2"], "quality gate", "suites", note=str.upper):
            seen.append(item)
    texts = _texts(lines)
    assert seen == ["s1", "s2"]
    assert "quality gate: 0/2 suites — S1" in texts
    assert "quality gate: 1/2 suites — S2" in texts
    assert texts[-1].startswith("quality gate: done 2/2 suites")


def test_plain_lines_are_throttled_but_start_and_end_always_show(monkeypatch) -> None:
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 3600.0)
    buf = io.StringIO()
    with progress.shown(buf), progress.task("dbt build", 500, "nodes") as t:
        for _ in range(500):
            t.advance()
    texts = _texts(buf)
    assert len(texts) == 2
    assert texts[0] == "dbt build: 0/500 nodes" and "done 500/500 nodes" in texts[1]


def test_descriptions_and_notes_are_escaped(lines) -> None:
    with progress.shown(lines), progress.task("ingest \x1b[2J", 1, "files") as t:
        t.advance(note="evil\nforged line")
    text = lines.getvalue()
    assert "\x1b" not in text
    assert "ingest \\x1b[2J: 1/1 files — evil\\nforged line" in text
    assert len(text.splitlines()) == 3


def test_off_shows_nothing(monkeypatch) -> None:
    monkeypatch.setenv(progress.MODE_ENV, "off")
    buf = io.StringIO()
    with progress.shown(buf), progress.task("x", 1) as t:
        t.advance()
    assert buf.getvalue() == ""


def _event(name: str, msg: str = "", **data) -> str:
    return json.dumps(
        {"info": {"name": name, "msg": msg, "ts": "2026-01-02T03:04:05.6Z"}, "data": data}
    )


def test_dbt_nodes_are_counted_from_its_json_log(lines) -> None:
    """A hand-written dbt 1.11 event stream: 3 nodes selected, run on two threads (a model and
    a test start, the test ends first), then one skipped; start lines and a repeated result
    do not count; a non-JSON line is kept as text."""
    node = lambda uid, name: {"unique_id": uid, "node_name": name}  # noqa: E731
    stream = [
        _event("MainReportVersion", "Running with dbt=1.11"),
        _event("ConcurrencyLine", "Concurrency: 2 threads", node_count=3),
        _event("LogStartLine", "1 of 3 START a", index=1, node_info=node("model.a", "a")),
        _event("LogStartLine", "2 of 3 START t", index=2, node_info=node("test.t", "t")),
        "UserWarning: something\n",
        _event("LogTestResult", "2 of 3 PASS t", index=2, node_info=node("test.t", "t")),
        _event("LogModelResult", "1 of 3 OK a", index=1, node_info=node("model.a", "a")),
        _event("LogModelResult", "1 of 3 OK a", index=1, node_info=node("model.a", "a")),
        _event("SkippingDetails", "3 of 3 SKIP b", index=3, node_info=node("model.b", "b")),
        _event("StatsLine", "Done. PASS=2 SKIP=1 TOTAL=3"),
    ]
    with progress.shown(lines), progress.task("dbt build", unit="nodes") as shown:
        text = follow_dbt_log(stream, shown)
    assert text.splitlines() == [
        "03:04:05  Running with dbt=1.11",
        "03:04:05  Concurrency: 2 threads",
        "03:04:05  1 of 3 START a",
        "03:04:05  2 of 3 START t",
        "UserWarning: something",
        "03:04:05  2 of 3 PASS t",
        "03:04:05  1 of 3 OK a",
        "03:04:05  1 of 3 OK a",
        "03:04:05  3 of 3 SKIP b",
        "03:04:05  Done. PASS=2 SKIP=1 TOTAL=3",
    ]
    texts = _texts(lines)
    assert texts[:-1] == [
        "dbt build: started",
        "dbt build: 1/3 nodes — t",
        "dbt build: 2/3 nodes — a",
        "dbt build: 3/3 nodes — b",
    ]
    assert re.fullmatch(r"dbt build: done 3/3 nodes in \d+\.\d s", texts[-1])


def test_dbt_docs_generate_shows_no_total_it_never_counts(lines) -> None:
    stream = [_event("ConcurrencyLine", node_count=88), _event("CatalogWritten", "Catalog")]
    with progress.shown(lines), progress.task("dbt docs", unit="nodes") as shown:
        follow_dbt_log(stream, shown)
    assert re.fullmatch(r"dbt docs: done in \d+\.\d s", _texts(lines)[-1])


CHILD = """
import os
from scenetrack import progress
progress.RELAY_INTERVAL_S = 0.0  # every update, not 5 a second
for _ in progress.track(["a", "b", "c"], "gate", "suites", note=str):
    pass
with progress.task("publish", 2, "marts") as t:
    t.advance()
    os._exit(3)  # dies mid-task: no end event
"""


def test_a_child_relays_its_progress_to_the_parent(lines) -> None:
    """A real child process with SCENETRACK_PROGRESS=relay; the parent shows its work as
    its own, prefixed, and ends as stopped the task the child never finished."""
    env = {**os.environ, progress.MODE_ENV: "relay"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 3
    relayed = proc.stderr.splitlines()
    assert relayed and all(ln.startswith(progress.RELAY_PREFIX) for ln in relayed)
    relay = progress.Relay(prefix="child: ")
    with progress.shown(lines):
        assert not relay("an ordinary log line\n")
        assert not relay(progress.RELAY_PREFIX + "{not json\n")
        for ln in relayed:
            assert relay(ln + "\n")
        assert not any("stopped" in t for t in _texts(lines))
        relay.close()
    texts = _texts(lines)
    assert texts[0] == "child: gate: 0/3 suites"
    assert any(t.startswith("child: gate: done 3/3 suites") for t in texts)
    assert re.fullmatch(r"child: publish: stopped 1/2 marts in \d+\.\d s", texts[-1])


def test_without_a_command_line_progress_goes_to_the_log(caplog, monkeypatch) -> None:
    """What Airflow tasks get: INFO records of scenetrack.progress (the task log stamps them)."""
    monkeypatch.delenv(progress.MODE_ENV, raising=False)
    with caplog.at_level("INFO", logger="scenetrack.progress"):
        for _ in progress.track(["a", "b"], "publish: copy marts", "marts"):
            pass
    records = [r for r in caplog.records if r.name == "scenetrack.progress"]
    assert all(r.levelname == "INFO" for r in records)
    assert records[0].getMessage() == "publish: copy marts: 0/2 marts"
    assert records[-1].getMessage().startswith("publish: copy marts: done 2/2 marts in ")
