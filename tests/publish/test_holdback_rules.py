"""The rules of per-city holdback and of the publish fingerprint, on a small raw layer written by
hand (no dbt, no GX): which submissions are the newest, what a hold and a release change, and
what publish refuses.
"""

from __future__ import annotations

import contextlib
import json
import re
from datetime import datetime

import duckdb
import pytest

from scenetrack import audited, holdback
from scenetrack.warehouse import RAW_DDL

A, B, C = "a" * 64, "b" * 64, "c" * 64  # three submitted files
HEFEI, WUXI = "340100", "320200"


@pytest.fixture
def con():
    """A raw layer: file A (load 1) has 合肥 and 无锡 events, B (load 2) 合肥 capabilities and
    无锡 events, C (load 3) 无锡 events only."""
    db = duckdb.connect()
    db.execute(RAW_DDL)
    for sha, name, load_id in ((A, "a.csv", 1), (B, "b.csv", 2), (C, "c.csv", 3)):
        db.execute(
            "insert into raw.file_ledger (file_sha256, file_name, file_size, rows_read, "
            "rows_loaded, rows_quarantined, status, first_seen_at, last_seen_at, times_seen, "
            "load_id) values (?, ?, 1, 1, 1, 0, 'loaded', now(), now(), 1, ?)",
            [sha, name, load_id],
        )
    events = [(A, HEFEI, 1), (A, WUXI, 1), (B, WUXI, 2), (C, WUXI, 3)]
    for sha, city, load_id in events:
        db.execute(
            "insert into raw.events (source_file_sha256, source_file_name, source_line, "
            "city_code, project_id, stage_code, event_type, event_date, "
            "event_date_precision, loaded_at, load_id) values "
            "(?, 'f', 2, ?, 'P', 'opportunity', 'enter', date '2025-01-01', 'day', now(), ?)",
            [sha, city, load_id],
        )
    db.execute(
        "insert into raw.capabilities (source_file_sha256, source_file_name, source_line, "
        "city_code, capability_id, published_on, published_on_precision, loaded_at, load_id) "
        "values (?, 'b.csv', 2, ?, 'C1', date '2025-01-01', 'day', now(), 2)",
        [B, HEFEI],
    )
    yield db
    db.close()


def test_the_newest_submissions_of_a_city_are_its_files_after_the_published_load(con) -> None:
    assert holdback.newest_submissions(con, [HEFEI], 0) == [(A, HEFEI), (B, HEFEI)]
    assert holdback.newest_submissions(con, [HEFEI], 1) == [(B, HEFEI)]  # B: capabilities
    assert holdback.newest_submissions(con, [HEFEI], 2) == []
    # by city code (320200 before 340100), then file
    assert holdback.newest_submissions(con, [HEFEI, WUXI], 1) == [(B, WUXI), (C, WUXI), (B, HEFEI)]
    assert holdback.newest_submissions(con, [], 0) == []


def test_a_hold_is_per_file_and_city_and_a_release_ends_it(con) -> None:
    assert holdback.changes(con) == 0
    assert holdback.hold(con, [(B, HEFEI)], "gate r1", ["s: expect_x(c)"]) == 1
    assert holdback.changes(con) == 1
    [h] = holdback.active(con)
    assert (h.source_file_sha256, h.file_name, h.city_code, h.held_by, h.checks) == (
        B,
        "b.csv",
        HEFEI,
        "gate r1",
        ["s: expect_x(c)"],
    )
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", h.held_at)
    assert h.to_dict() == {
        "source_file_sha256": B,
        "file_name": "b.csv",
        "city_code": HEFEI,
        "held_at": h.held_at,
        "held_by": "gate r1",
        "checks": ["s: expect_x(c)"],
    }
    # held already: not the newest submission to hold again; 无锡's rows of B are not held
    assert holdback.newest_submissions(con, [HEFEI, WUXI], 1) == [(B, WUXI), (C, WUXI)]
    assert holdback.active(con, WUXI) == []
    assert holdback.release(con, WUXI, None, "op") == 0
    assert holdback.release(con, HEFEI, A, "op") == 0  # not that file
    assert holdback.release(con, HEFEI, None, "op") == 1
    assert holdback.changes(con) == 2  # one hold, one release
    assert holdback.active(con) == []
    assert holdback.release(con, HEFEI, None, "op") == 0  # released once
    assert holdback.newest_submissions(con, [HEFEI], 1) == [(B, HEFEI)]


def test_the_checks_are_kept_readable_in_the_table(con) -> None:
    holdback.hold(con, [(A, HEFEI)], "gate r1", ["金额超出范围: stg_raw__events"])
    [(reason,)] = con.execute("select reason from raw.file_holds").fetchall()
    assert reason == '["金额超出范围: stg_raw__events"]'  # what an operator's SQL shows


def test_another_citys_hold_on_the_same_file_is_no_hold_of_this_city(con) -> None:
    holdback.hold(con, [(A, WUXI)], "op", ["x"])
    assert holdback.hold_files(con, HEFEI, A, "op", "mine too") == 1
    assert {h.city_code for h in holdback.active(con) if h.source_file_sha256 == A} == {
        HEFEI,
        WUXI,
    }


def test_an_operators_hold_takes_every_file_of_the_city_or_one(con) -> None:
    assert holdback.hold_files(con, WUXI, C, "op", "checking") == 1
    assert holdback.hold_files(con, WUXI, None, "op", "checking") == 2  # A and B, C is held
    assert sorted(h.source_file_sha256 for h in holdback.active(con, WUXI)) == [A, B, C]
    assert [h.checks for h in holdback.active(con, WUXI)] == [["checking"]] * 3
    assert holdback.hold_files(con, WUXI, None, "op", "again") == 0


def test_a_reason_that_is_no_json_list_is_kept_as_one_check(con) -> None:
    con.execute(
        "insert into raw.file_holds values (?, ?, now(), 'op', 'plain text', null, null)",
        [A, HEFEI],
    )
    con.execute(
        "insert into raw.file_holds values (?, ?, now(), 'op', '\"one\"', null, null)",
        [A, WUXI],
    )
    assert {h.city_code: h.checks for h in holdback.active(con)} == {
        HEFEI: ["plain text"],
        WUXI: ["one"],
    }


# --------------------------------------------------------------------------- fingerprint


def _marts(con, rows: int, run: int | None) -> None:
    con.execute("create schema if not exists marts")
    con.execute(f"create or replace table marts.fct as select range as i from range({rows})")
    con.execute("create or replace table marts.dim as select 1 as i")
    con.execute("create or replace view marts.v as select 1 as i")  # views are not marts
    con.execute("create schema if not exists audit")
    con.execute("create table if not exists audit.dbt_runs (run_seq bigint, invocation_id varchar)")
    if run is not None:
        con.execute("insert into audit.dbt_runs values (?, ?)", [run, f"inv{run}"])


def test_a_fingerprint_of_an_empty_warehouse() -> None:
    empty = duckdb.connect()
    try:
        empty.execute(RAW_DDL)  # a ledger with no file in it
        assert audited.fingerprint(empty) == {
            "dbt_run_seq": None,
            "marts": {},
            "loaded_through": None,
        }
    finally:
        empty.close()


def test_a_fingerprint_is_the_last_run_and_the_row_count_of_every_mart(con) -> None:
    assert audited.fingerprint(con) == {"dbt_run_seq": None, "marts": {}, "loaded_through": 3}
    _marts(con, 5, 1)
    _marts(con, 7, 4)
    assert audited.fingerprint(con) == {
        "dbt_run_seq": 4,
        "marts": {"dim": 1, "fct": 7},
        "loaded_through": 3,
    }


def test_publish_refuses_what_the_gate_did_not_validate(con) -> None:
    def connection():
        return contextlib.nullcontext(con)

    with pytest.raises(audited.PublishRefusedError) as unknown:
        audited.verify(connection, "r0")  # no gate run table yet
    assert str(unknown.value) == (
        "refusing to publish: gate run 'r0' is not recorded in audit.gate_runs (was the gate "
        "run on this warehouse?). Run `scenetrack run`: build, gate, publish."
    )
    con.execute(audited.GATE_RUNS_DDL)
    _marts(con, 5, 1)
    at = datetime(2025, 12, 31)
    audited.record(con, "r1", at, True, audited.fingerprint(con))
    audited.record(con, "r2", at, False, audited.fingerprint(con))
    audited.verify(connection, "r1")  # what it validated is there: accepted
    with pytest.raises(audited.PublishRefusedError) as failed:
        audited.verify(connection, "r2")
    assert str(failed.value) == (
        "refusing to publish: gate run r2 did not pass. Fix the data (see `scenetrack status` "
        "and expectations/README.md), then `scenetrack run`."
    )
    with pytest.raises(audited.PublishRefusedError, match="not recorded"):
        audited.verify(connection, "r3")
    _marts(con, 6, 1)  # a row more, same run: a hand edit
    with pytest.raises(audited.PublishRefusedError) as rows:
        audited.verify(connection, "r1")
    assert "(fct: 5 rows validated, 6 now)" in str(rows.value)
    _marts(con, 5, 2)  # the same rows from a later run
    with pytest.raises(audited.PublishRefusedError) as run:
        audited.verify(connection, "r1")
    assert str(run.value) == (
        "refusing to publish: the marts changed after gate run r1 validated them (dbt run 1 "
        "was validated, the marts are now from dbt run 2); nothing was published. Run the gate "
        "on what is there now: `scenetrack run` (or let the next scenetrack_transform run do it)."
    )
    con.execute("drop table marts.dim")  # a mart gone: every difference is named
    with pytest.raises(audited.PublishRefusedError) as gone:
        audited.verify(connection, "r1")
    assert (
        "(dbt run 1 was validated, the marts are now from dbt run 2; dim: 1 rows validated, "
        "None now)" in str(gone.value)
    )
    con.execute("create table marts.dim as select 1 as i")
    audited.record(con, "r9", at, True, {})  # a gate run that fingerprinted nothing
    with pytest.raises(audited.PublishRefusedError) as nothing:
        audited.verify(connection, "r9")
    assert "dim: None rows validated, 1 now; fct: None rows validated, 5 now" in str(nothing.value)
    audited.record(con, "r1", at, True, audited.fingerprint(con))  # a retry replaces its row
    audited.verify(connection, "r1")
    assert con.execute("select count(*) from audit.gate_runs where run_id = 'r1'").fetchone() == (
        1,
    )
    assert json.loads(
        con.execute("select fingerprint from audit.gate_runs where run_id = 'r2'").fetchone()[0]
    )["marts"] == {"dim": 1, "fct": 5}


def test_loaded_through_is_what_a_gate_run_had_in_its_ledger(con) -> None:
    def connection():
        return contextlib.nullcontext(con)

    assert audited.loaded_through(connection, None) == 0
    assert audited.loaded_through(connection, "r1") == 0  # no gate run table
    con.execute(audited.GATE_RUNS_DDL)
    audited.record(con, "r1", datetime(2025, 1, 1), True, audited.fingerprint(con))
    assert audited.loaded_through(connection, "r1") == 3
    assert audited.loaded_through(connection, "unknown") == 0
    audited.record(con, "r2", datetime(2025, 1, 1), True, {"loaded_through": None})
    assert audited.loaded_through(connection, "r2") == 0  # nothing was loaded then
