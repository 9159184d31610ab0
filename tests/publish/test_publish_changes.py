"""A candidate that starts as a copy of the live file is brought to the work marts by writing
only what changed, and ends equal to them whatever changed (hand-made marts, worked out)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import duckdb
import pytest

from scenetrack import faults, progress
from scenetrack.publish_changes import MartChange, bring_up_to_date, fingerprint, incremental_keys

KEYS = {"fct": "project_key"}


def _candidate(tmp_path: Path, live: list[str], work: list[str]) -> duckdb.DuckDBPyConnection:
    """A candidate file holding the ``live`` tables, with a work database attached holding the
    ``work`` tables in schema ``marts``."""
    w = duckdb.connect(str(tmp_path / "work.duckdb"))
    w.execute("create schema marts")
    for sql in work:
        w.execute(sql)
    w.close()
    con = duckdb.connect(str(tmp_path / "candidate.duckdb"))
    for sql in live:
        con.execute(sql)
    con.execute(f"attach '{tmp_path / 'work.duckdb'}' as work (read_only)")
    return con


def _rows(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple]:
    return sorted(con.execute(f"select * from {relation}").fetchall())


def _main_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    sql = "select table_name from duckdb_tables() where database_name = current_database()"
    return {r[0] for r in con.execute(sql).fetchall()}


def _how(changes) -> dict[str, str]:
    return {c.table: c.how for c in changes}


FCT = "create table {schema}fct(project_key varchar, dbt_run_seq bigint, stage varchar)"


def test_an_incremental_mart_takes_the_rewritten_keys_and_loses_the_dropped_ones(tmp_path):
    """Live: a, b (run 1), c (run 2). Work: a untouched, b rewritten by run 3 (two rows now),
    c dropped (the watchlist's post-hook removes keys), d new in run 3."""
    con = _candidate(
        tmp_path,
        [
            FCT.format(schema=""),
            "insert into fct values ('a', 1, 'x'), ('b', 1, 'y'), ('c', 2, 'z')",
        ],
        [
            FCT.format(schema="marts."),
            "insert into marts.fct values ('a', 1, 'x'), ('b', 3, 'y2'), ('b', 3, 'y3'), "
            "('d', 3, 'w')",
        ],
    )
    changes = bring_up_to_date(con, "work.marts", KEYS, {})
    assert _how(changes) == {"fct": "rows"}
    assert _rows(con, "main.fct") == [
        ("a", 1, "x"),
        ("b", 3, "y2"),
        ("b", 3, "y3"),
        ("d", 3, "w"),
    ]
    assert changes[0].rows == 4
    assert changes[0].fingerprint == fingerprint(con, "work.marts.fct", "project_key")


def test_an_incremental_mart_with_nothing_newer_is_kept(tmp_path):
    rows = "insert into {schema}fct values ('a', 1, 'x'), ('b', 2, 'y')"
    con = _candidate(
        tmp_path,
        [FCT.format(schema=""), rows.format(schema="")],
        [FCT.format(schema="marts."), rows.format(schema="marts.")],
    )
    assert _how(bring_up_to_date(con, "work.marts", KEYS, {})) == {"fct": "kept"}
    assert _rows(con, "main.fct") == [("a", 1, "x"), ("b", 2, "y")]


def test_a_work_database_numbered_anew_is_copied_whole(tmp_path):
    """The work database was rebuilt from nothing: its run numbers start again below the live
    copy's highest, so no row looks newer; the fingerprints differ and the mart is copied."""
    con = _candidate(
        tmp_path,
        [FCT.format(schema=""), "insert into fct values ('a', 5, 'x'), ('b', 5, 'y')"],
        [FCT.format(schema="marts."), "insert into marts.fct values ('a', 1, 'x2'), ('b', 1, 'y')"],
    )
    assert _how(bring_up_to_date(con, "work.marts", KEYS, {})) == {"fct": "copied"}
    assert _rows(con, "main.fct") == [("a", 1, "x2"), ("b", 1, "y")]


def test_other_marts_are_kept_when_equal_and_copied_when_not(tmp_path):
    """No unique key: a table mart is compared whole. The same rows in another order are the
    same mart; one value changed is another; new columns, new and removed marts too."""
    con = _candidate(
        tmp_path,
        [
            "create table same as select * from (values (1, 'a'), (2, 'b')) t(i, s)",
            "create table changed as select * from (values (1, 'a'), (2, 'b')) t(i, s)",
            "create table widened as select * from (values (1, 'a')) t(i, s)",
            "create table retired as select 1 as i",
        ],
        [
            "create table marts.same as select * from (values (2, 'b'), (1, 'a')) t(i, s)",
            "create table marts.changed as select * from (values (1, 'a'), (2, 'c')) t(i, s)",
            "create table marts.widened as select * from (values (1, 'a', true)) t(i, s, f)",
            "create table marts.added as select 7 as i",
        ],
    )
    changes = bring_up_to_date(con, "work.marts", {}, {})
    assert _how(changes) == {
        "added": "copied",
        "changed": "copied",
        "same": "kept",
        "widened": "copied",
        "retired": "dropped",
    }
    for t in ("same", "changed", "widened", "added"):
        assert _rows(con, f"main.{t}") == _rows(con, f"work.marts.{t}"), t
    assert changes[-1] == MartChange("retired", "dropped", 0, "")
    tables = _main_tables(con)
    assert "retired" not in tables


def test_a_recorded_fingerprint_is_trusted_instead_of_reading_the_live_mart(tmp_path):
    """The fingerprint the live file recorded when published decides: a record that does not
    match the work mart (whatever the live rows) means the mart is copied."""
    make = "create table {schema}m as select * from (values (1, 'a')) t(i, s)"
    con = _candidate(tmp_path, [make.format(schema="")], [make.format(schema="marts.")])
    assert _how(bring_up_to_date(con, "work.marts", {}, {"m": "r:1:0"})) == {"m": "copied"}
    recorded = {"m": fingerprint(con, "work.marts.m", None)}
    assert _how(bring_up_to_date(con, "work.marts", {}, recorded)) == {"m": "kept"}


def test_fingerprints_tell_marts_apart(tmp_path):
    con = duckdb.connect()
    con.execute(
        "create table a as select * from (values ('p', 1, 'x'), ('q', 2, 'y')) t(k, dbt_run_seq, v)"
    )
    con.execute(
        "create table b as select * from (values ('q', 2, 'y'), ('p', 1, 'x')) t(k, dbt_run_seq, v)"
    )
    con.execute(
        "create table c as select * from (values ('p', 1, 'x'), ('q', 2, 'z')) t(k, dbt_run_seq, v)"
    )
    con.execute(
        "create table d as select * from (values ('p', 1, 'x'), ('q', 3, 'y')) t(k, dbt_run_seq, v)"
    )
    assert fingerprint(con, "a", None) == fingerprint(con, "b", None)  # order does not count
    assert fingerprint(con, "a", None) != fingerprint(con, "c", None)
    assert fingerprint(con, "a", "k") == fingerprint(con, "c", "k")  # key and run number only
    assert fingerprint(con, "a", "k") != fingerprint(con, "d", "k")
    assert fingerprint(con, "a", None).startswith("r:2:")
    assert fingerprint(con, "a", "k").startswith("k:2:")
    con.execute("create table e (k varchar, dbt_run_seq bigint)")
    assert fingerprint(con, "e", "k") == "k:0:0"


def test_the_incremental_marts_and_their_keys_come_from_dbts_manifest(tmp_path):
    def model(name, schema, materialized, key=None, alias=None):
        config = {"materialized": materialized, **({"unique_key": key} if key else {})}
        return {
            "resource_type": "model",
            "name": name,
            "alias": alias,
            "schema": schema,
            "config": config,
        }

    nodes = {
        "model.s.fct": model("fct", "marts", "incremental", "project_key"),
        "model.s.renamed": model("renamed", "marts", "incremental", "k", alias="shown_as"),
        "model.s.table": model("table", "marts", "table"),
        "model.s.staged": model("staged", "staging", "incremental", "event_key"),
        "model.s.composite": model("composite", "marts", "incremental", ["a", "b"]),
        "seed.s.fct": {"resource_type": "seed", "name": "x", "schema": "marts", "config": {}},
        "model.s.说明": {
            **model("说明", "marts", "incremental", "项目"),
            "description": "场景项目",
        },
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}, ensure_ascii=False), encoding="utf-8")
    assert incremental_keys(manifest, "marts") == {
        "fct": "project_key",
        "shown_as": "k",
        "说明": "项目",
    }
    assert incremental_keys(tmp_path / "none.json", "marts") == {}


def test_a_work_database_without_marts_is_refused(tmp_path):
    con = _candidate(tmp_path, ["create table t as select 1 as i"], [])
    with pytest.raises(
        RuntimeError, match="^the work database holds no marts: run dbt build first$"
    ):
        bring_up_to_date(con, "work.marts", {}, {})


def test_an_incremental_mart_with_new_columns_is_copied_whole(tmp_path):
    """dbt's on_schema_change: fail makes a full refresh add a column: the live rows cannot take
    the new rows, so the mart is copied whole."""
    con = _candidate(
        tmp_path,
        [FCT.format(schema=""), "insert into fct values ('a', 1, 'x')"],
        [
            "create table marts.fct as select 'a' as project_key, 2::bigint as dbt_run_seq, "
            "'x' as stage, 10 as amount"
        ],
    )
    assert _how(bring_up_to_date(con, "work.marts", KEYS, {})) == {"fct": "copied"}
    assert _rows(con, "main.fct") == [("a", 2, "x", 10)]


@pytest.mark.parametrize(
    ("work", "rows"),
    [
        # only a new key: nothing deleted, one row inserted
        ("('a', 1, 'x'), ('b', 1, 'y'), ('n', 2, 'new')", 3),
        # only a key dropped: nothing newer, the counts say one is left over
        ("('a', 1, 'x')", 1),
    ],
)
def test_a_new_key_alone_or_a_dropped_key_alone_is_a_change_of_rows(tmp_path, work, rows):
    con = _candidate(
        tmp_path,
        [FCT.format(schema=""), "insert into fct values ('a', 1, 'x'), ('b', 1, 'y')"],
        [FCT.format(schema="marts."), f"insert into marts.fct values {work}"],
    )
    changes = bring_up_to_date(con, "work.marts", KEYS, {})
    assert _how(changes) == {"fct": "rows"} and changes[0].rows == rows
    assert _rows(con, "main.fct") == _rows(con, "work.marts.fct")


@pytest.mark.parametrize(
    "columns",
    ["'a' as project_key, 'x' as stage", "'a' as other_key, 1::bigint as dbt_run_seq"],
)
def test_a_mart_named_incremental_without_its_key_or_run_number_is_compared_whole(
    tmp_path, columns
):
    """The manifest names a key, but the mart lacks the key or the run number column: it
    cannot be brought up to date by rows, so it is compared (and fingerprinted) whole."""
    make = "create table {schema}fct as select " + columns
    con = _candidate(tmp_path, [make.format(schema="")], [make.format(schema="marts.")])
    changes = bring_up_to_date(con, "work.marts", KEYS, {})
    assert _how(changes) == {"fct": "kept"}
    assert changes[0].fingerprint.startswith("r:1:")


def test_publish_info_stays_and_progress_names_each_mart(tmp_path, monkeypatch):
    """publish_info is the file's own record, not a mart the work database lost; the copy
    step shows its progress mart by mart."""
    con = _candidate(
        tmp_path,
        ["create table publish_info as select 1 as version", "create table a as select 1 as i"],
        ["create table marts.a as select 1 as i", "create table marts.b as select 2 as i"],
    )
    monkeypatch.setenv("SCENETRACK_PROGRESS", "plain")
    monkeypatch.setattr(progress, "LINE_INTERVAL_S", 0.0)
    out = io.StringIO()
    with progress.shown(out):
        changes = bring_up_to_date(con, "work.marts", {}, {})
    assert [c.table for c in changes] == ["a", "b"]
    tables = _main_tables(con)
    assert tables == {"publish_info", "a", "b"}
    lines = out.getvalue().splitlines()
    assert any("publish: copy marts: done 2/2 marts in " in ln for ln in lines)
    noted = {
        ln.rsplit(" — ", 1)[1] for ln in lines if "publish: copy marts: " in ln and " — " in ln
    }
    assert noted == {"a", "b"}


def test_a_fault_armed_in_the_copy_stops_it_after_the_first_mart(tmp_path, monkeypatch):
    con = _candidate(
        tmp_path,
        [],
        ["create table marts.a as select 1 as i", "create table marts.b as select 2 as i"],
    )
    faults.reset()
    monkeypatch.setenv(faults.FAULT_ENV, "publish:in_candidate=enospc")
    with pytest.raises(OSError, match="injected at publish:in_candidate"):
        bring_up_to_date(con, "work.marts", {}, {})
    tables = _main_tables(con)
    assert tables == {"a"}
    faults.reset()
