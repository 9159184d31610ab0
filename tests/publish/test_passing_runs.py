"""``audited.passing_runs``: what the gate's scope is decided from (scenetrack.gate.scope) —
every passing run's time and stored fingerprint, newest first; failed runs never count."""

from __future__ import annotations

from datetime import datetime

import duckdb

from scenetrack import audited


def test_no_gate_run_table_means_no_passing_run() -> None:
    assert audited.passing_runs(duckdb.connect()) == []


def test_passing_runs_newest_first_failed_ones_left_out() -> None:
    con = duckdb.connect()
    con.execute(audited.GATE_RUNS_DDL)
    runs = [  # run_id, run_at, passed, dbt run seq in the fingerprint
        ("a", datetime(2026, 1, 1, 8), True, 1),
        ("b", datetime(2026, 1, 2, 8), False, 2),
        ("c", datetime(2026, 1, 3, 8), True, 3),
        ("d", datetime(2026, 1, 3, 8), True, 4),  # same time as c: the later id first
    ]
    for run_id, at, ok, seq in runs:
        audited.record(con, run_id, at, ok, {"dbt_run_seq": seq, "marts": {"fct": seq}})
    assert audited.passing_runs(con) == [
        (datetime(2026, 1, 3, 8), {"dbt_run_seq": 4, "marts": {"fct": 4}}),
        (datetime(2026, 1, 3, 8), {"dbt_run_seq": 3, "marts": {"fct": 3}}),
        (datetime(2026, 1, 1, 8), {"dbt_run_seq": 1, "marts": {"fct": 1}}),
    ]
