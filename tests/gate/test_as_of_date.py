"""One as-of date everywhere: the gate measures freshness against the date the marts are
built for (``SCENETRACK_REFERENCE_DATE``), not against the day it happens to run."""

from __future__ import annotations

from datetime import date

from scenetrack import pipeline
from scenetrack.config import Paths
from tests.conftest import event, write_csv


def test_the_gate_runs_as_of_the_marts_reference_date(tmp_path, monkeypatch) -> None:
    # the data was reported on 2025-12-20 and is evaluated as of 2025-12-31: fresh (11 days);
    # measured against the machine's clock (a later year here) every city would be stale
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    p = Paths(tmp_path / "home").ensure()
    rows = [
        event("合肥", "P1", "opportunity", "enter", "2025-10-10", reported="2025-12-20"),
        event("无锡", "W1", "opportunity", "enter", "2025-11-01", reported="2025-12-20"),
    ]
    pipeline.ingest_paths(p, [write_csv(tmp_path / "events.csv", rows)])
    pipeline.build(p)
    result = pipeline.gate(p)
    assert result.run_date == date(2025, 12, 31)
    assert [w.suite for w in result.warnings if w.suite == "source_freshness"] == []
