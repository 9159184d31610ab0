"""Pipeline builds test only the rows written since the last passing build, and never forget a
failure: a bad row stays in the tests' scope until a build passes.

The rule is in ``dbt_project/macros/get_where_subquery.sql``; ``scenetrack.transform.dbt_build``
keeps the record. Each fault below is a row written straight into the staged events, standing
for a run that wrote a bad row (a duplicate event key), with the run number (dbt_run_seq) such
a run would have given it.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from ingestion.generate import generate
from scenetrack.config import Paths
from scenetrack.pipeline import build, ingest_paths
from scenetrack.transform import DbtBuildError, last_passing_build, run_dbt

UNIQUE_TEST = "test.scenetrack.unique_stg_raw__events_event_key."


def _compiled_test(p: Paths, prefix: str) -> str:
    folder = p.dbt_target_dir / "run" / "scenetrack" / "models" / "staging" / "_staging.yml"
    return next(folder.glob(f"{prefix}*.sql")).read_text()


def _run_seq(p: Paths, invocation_id: str | None) -> int:
    """The number dbt's on-run-start hook gave the invocation (audit.dbt_runs)."""
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        return con.execute(
            "select run_seq from audit.dbt_runs where invocation_id = ?", [invocation_id]
        ).fetchone()[0]
    finally:
        con.close()


def _duplicate_an_event(p: Paths, run_seq: int) -> str:
    """Write a second row for one staged event, numbered as written by run ``run_seq``."""
    con = duckdb.connect(str(p.work_db))
    try:
        key = con.execute("select min(event_key) from staging.stg_raw__events").fetchone()[0]
        con.execute(
            "insert into staging.stg_raw__events "
            "select * replace (? as dbt_run_seq) "
            "from staging.stg_raw__events where event_key = ?",
            [run_seq, key],
        )
    finally:
        con.close()
    return key


def _an_event_of_no_known_city(p: Paths, run_seq: int) -> None:
    """Write a staged event whose city is in no reference list (a child row without its
    parent for the relationships test), numbered as written by run ``run_seq``."""
    con = duckdb.connect(str(p.work_db))
    try:
        con.execute(
            "insert into staging.stg_raw__events "
            "select * replace ('orphan-event' as event_key, '999999' as city_code, "
            "? as dbt_run_seq) from staging.stg_raw__events "
            "where event_key = (select min(event_key) from staging.stg_raw__events) limit 1",
            [run_seq],
        )
    finally:
        con.close()


def _remove_the_event_of_no_known_city(p: Paths) -> None:
    con = duckdb.connect(str(p.work_db))
    try:
        (removed,) = con.execute(
            "delete from staging.stg_raw__events where event_key = 'orphan-event'"
        ).fetchone()
        assert removed == 1
    finally:
        con.close()


def _remove_duplicate(p: Paths, key: str) -> None:
    con = duckdb.connect(str(p.work_db))
    try:
        con.execute(
            "delete from staging.stg_raw__events where event_key = ? and rowid = "
            "(select max(rowid) from staging.stg_raw__events where event_key = ?)",
            [key, key],
        )
        assert (
            con.execute(
                "select count(*) from staging.stg_raw__events where event_key = ?", [key]
            ).fetchone()[0]
            == 1
        )
    finally:
        con.close()


def test_a_failure_stays_in_scope_until_a_build_passes(tmp_path) -> None:
    home = Paths(tmp_path / "h").ensure()
    ingest_paths(home, generate(tmp_path / "subs", cities=3, seed=11))

    build(home)  # the first build: no record yet, every row is tested
    first = last_passing_build(home)
    assert first is not None
    first_seq = _run_seq(home, first)
    assert "__last_passing_build__" not in _compiled_test(home, "unique_stg_raw__events")
    assert "dbt_run_seq >" not in _compiled_test(home, "unique_stg_raw__events")

    # a run after the last passing build wrote a duplicate and an event of no known city: the
    # next build fails on both ...
    key = _duplicate_an_event(home, first_seq + 1)
    _an_event_of_no_known_city(home, first_seq + 1)
    with pytest.raises(DbtBuildError) as failed:
        build(home)
    assert "unique_stg_raw__events_event_key" in str(failed.value)
    assert "relationships_stg_raw__events_city_code" in str(failed.value)
    scoped = _compiled_test(home, "unique_stg_raw__events")
    assert f"where invocation_id = '{first}'" in scoped
    # a relationships test is scoped on its child side (the rows of the model it tests)
    related = _compiled_test(home, "relationships_stg_raw__events")
    assert f"where invocation_id = '{first}'" in related
    # ... the record does not move ...
    assert last_passing_build(home) == first
    # ... so the build after it still sees the duplicate, though no new data arrived
    with pytest.raises(DbtBuildError) as again:
        build(home)
    assert "unique_stg_raw__events_event_key" in str(again.value)
    assert "relationships_stg_raw__events_city_code" in str(again.value)
    assert last_passing_build(home) == first

    _remove_duplicate(home, key)
    _remove_the_event_of_no_known_city(home)
    build(home)
    second = last_passing_build(home)
    assert second is not None and _run_seq(home, second) > first_seq + 2  # two failed builds

    # What the scope leaves out: a row numbered up to the last passing build (which no later
    # run can write; rows carry their run's number) is not read by a pipeline build, while a
    # plain `dbt test` still reads every row.
    _duplicate_an_event(home, first_seq)
    build(home)
    plain = run_dbt(home, ["test", "--select", "stg_raw__events"])
    assert not plain.success
    unique = [status for node, status in plain.nodes.items() if node.startswith(UNIQUE_TEST)]
    assert unique == ["fail"]


def test_the_record_is_ignored_when_missing_or_broken(tmp_path) -> None:
    home = Paths(tmp_path / "h").ensure()
    assert last_passing_build(home) is None
    home.last_passing_build.write_text("not json")
    assert last_passing_build(home) is None
    home.last_passing_build.write_text(json.dumps({"ended_at": "2026-01-01 00:00:00"}))
    assert last_passing_build(home) is None
    home.last_passing_build.write_text(json.dumps({"invocation_id": 7}))
    assert last_passing_build(home) is None
    invocation = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    home.last_passing_build.write_text(json.dumps({"invocation_id": invocation}))
    assert last_passing_build(home) == invocation
