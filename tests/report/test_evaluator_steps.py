"""The two steps of the evaluator outputs, as the Airflow DAG runs them in two tasks.

Step 1 (writer pool) reads the work database; step 2 (no pool) must not open it at all, so it
can render while another process writes. The fixture's work DB holds gate run ``run-2`` (2
checks, 1 warning, 0 failures) and 3 quarantined rows (2 Hefei, 1 unattributed).
"""

from __future__ import annotations

import json

import duckdb

from scenetrack.config import Paths
from tests.report.conftest import start_writer
from tests.report.pages import read_page


def test_readings_travel_as_plain_json(published_home: Paths) -> None:
    from scenetrack.report import WorkDatabaseReadings, read_work_database

    readings = read_work_database(published_home, dbt_docs=False)
    again = WorkDatabaseReadings.from_json(json.loads(json.dumps(readings.to_json())))
    assert again == readings
    q = again.quality
    assert q.available
    assert q.gate["run_id"] == "run-2" and q.gate["passed"] is True
    assert (q.gate["checks"], q.gate["failures"], q.gate["warnings"]) == (2, 0, 1)
    assert [(r["suite"], r["severity"]) for r in q.problems] == [("source_freshness", "warn")]
    assert q.quarantine_total == 3
    assert {r["city_code"]: r["rows_quarantined"] for r in q.quarantine} == {"340100": 2, None: 1}
    assert (again.dbt_docs, again.dbt_docs_error) == (None, None)


def test_render_never_opens_the_work_db_while_a_writer_holds_it(
    published_home: Paths, monkeypatch
) -> None:
    """Another process writes the work DB; the report still shows the panel handed to it."""
    from scenetrack.report import read_work_database, render_evaluator_report

    readings = read_work_database(published_home, dbt_docs=False)
    opened: list[str] = []
    connect = duckdb.connect

    def recording_connect(database=":memory:", *args, **kwargs):
        opened.append(str(database))
        return connect(database, *args, **kwargs)

    holder = start_writer(published_home.work_db, "create table raw.still_writing as select 1 as x")
    monkeypatch.setattr(duckdb, "connect", recording_connect)
    try:
        reports = render_evaluator_report(published_home, readings.quality)
        out, _ = holder.communicate("go\n", timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert out.strip() == "wrote"  # the writer was never in the report's way
    assert str(published_home.work_db) not in opened
    assert str(published_home.published_db) in opened
    for lang in ("zh", "en"):
        page = read_page(reports[lang])
        assert page.figures["gate_status"][0] == "passed"
        assert page.figures["gate_warnings"][0] == "1"
        assert page.figures["quarantine_total"][0] == "3"
        city = read_page(reports[lang].parent / "city" / "340100.html")
        assert city.figures["city_rows_quarantined"][0] == "2"


def test_quality_unavailable_when_the_writer_lock_is_not_free(published_home: Paths) -> None:
    from scenetrack.report import read_work_database
    from scenetrack.warehouse import writer_lock

    with writer_lock(published_home):
        readings = read_work_database(published_home, dbt_docs=False, lock_timeout_s=0.3)
    assert readings.quality.available is False
    assert "being written" in readings.quality.reason
    assert readings.to_json()["quality"]["available"] is False
