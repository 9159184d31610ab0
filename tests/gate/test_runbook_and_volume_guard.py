"""Every check has a runbook entry; the volume guard guards what should not shrink (issue 17,
finding 7).

Before: when stalled projects advanced, the watchlist shrank by more than half and the gate
blocked every run as an error, with no baseline in the message and no runbook entry.
"""

from __future__ import annotations

import re

import duckdb

from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.gate import load_suite_specs
from scenetrack.runbook import RUNBOOK, main, render
from tests.conftest import event, write_csv

GUARDED = {"fct_project_lifecycle", "fct_stage_transitions", "mart_city_scorecard"}


def _guarded_tables() -> set[str]:
    return {
        spec.name
        for spec in load_suite_specs()
        for e in spec.expectations
        if "min_rows_" in str(e["kwargs"].get("min_value"))
    }


def test_the_volume_guard_is_on_the_facts_and_the_scorecard_only() -> None:
    assert _guarded_tables() == GUARDED


def test_the_committed_runbook_is_current_and_has_every_check() -> None:
    assert main(["--check"]) == 0
    text = RUNBOOK.read_text(encoding="utf-8")
    assert text == render()
    for spec in load_suite_specs():
        section = text.split(f"\n## {spec.name}\n", 1)[1].split("\n## ", 1)[0]
        entries = re.findall(r"^\d+\. \*\*(error|warn)\*\*", section, flags=re.M)
        assert len(entries) == len(spec.expectations), spec.name
        assert section.count("   - what to do: ") == len(spec.expectations), spec.name
        if spec.name in GUARDED:
            assert "SCENETRACK_VOLUME_MAX_DROP" in section
        if spec.meta.get("city_column"):
            assert "scenetrack release --city" in section


def test_stalled_projects_advancing_is_good_news_not_a_block(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    home = Paths(tmp_path / "home").ensure()
    waiting = [
        event("合肥", f"P{i}", "opportunity", "enter", "2025-01-10", reported="2025-01-11")
        for i in range(4)
    ]
    pipeline.ingest_paths(home, [write_csv(tmp_path / "waiting.csv", waiting)])
    pipeline.run(home)
    # three of the four stalled projects start their pilot: the watchlist shrinks by 75 %
    moved = [
        event("合肥", f"P{i}", "validation", "enter", "2025-12-01", reported="2025-12-02")
        for i in range(3)
    ]
    pipeline.ingest_paths(home, [write_csv(tmp_path / "moved.csv", moved)])
    assert pipeline.run(home).published_version == 2
    con = duckdb.connect(str(home.published_db), read_only=True)
    try:
        assert con.execute("select project_key from mart_stalled_projects").fetchall() == [
            ("340100:P3",)
        ]
    finally:
        con.close()
