"""One as-of date everywhere: the gate measures freshness against the date the marts are
built for (``SCENETRACK_REFERENCE_DATE``), not against the day it happens to run; dates are
still bounded by the run date."""

from __future__ import annotations

from datetime import date

from scenetrack import pipeline
from scenetrack.config import Paths
from tests.conftest import event, write_csv


def test_the_gate_measures_freshness_as_of_the_marts_reference_date(tmp_path, monkeypatch):
    # the data was reported up to 2025-12-20 and is evaluated as of 2025-12-31: fresh (11 days);
    # measured against the machine's clock (a later year here) every city would be stale.
    # A correction reported after the as-of date (as the demo's, in January) is no typo.
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    p = Paths(tmp_path / "home").ensure()
    rows = [
        event("合肥", "P1", "opportunity", "enter", "2025-10-10", reported="2025-12-20"),
        event("无锡", "W1", "opportunity", "enter", "2025-11-01", reported="2025-12-20"),
        event("无锡", "W1", "opportunity", "enter", "2025-11-02", reported="2026-01-15"),
    ]
    pipeline.ingest_paths(p, [write_csv(tmp_path / "events.csv", rows)])
    pipeline.build(p)
    result = pipeline.gate(p)
    assert result.passed, result.summary()
    assert result.as_of == date(2025, 12, 31)
    assert result.run_date == date.today()
    assert [w.suite for w in result.warnings if w.suite == "source_freshness"] == []
    assert "data as of 2025-12-31" in result.summary()
