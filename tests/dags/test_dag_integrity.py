"""Every DAG file imports cleanly, holds a DAG and follows the platform's policies.

Modelled on Airflow's own example-DAG test: parse through ``DagBag``, then check policy.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from scenetrack.config import DAGS_DIR, PROJECT_DIR

HEAVY = ("great_expectations", "dbt", "pandas", "duckdb", "pyarrow")
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))
DAG_IDS = [
    "scenetrack_ingest",
    "scenetrack_transform",
    "scenetrack_evaluate",
    "scenetrack_watch",
    "scenetrack_replay",
]
WRITER_POOL = "scenetrack_warehouse_writer"
# Tasks that read only the published file (never the work DB) and so stay out of the pool.
READERS = {("scenetrack_evaluate", "build_evaluator_report")}


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)


def test_dag_folder_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(DAG_IDS) <= set(dagbag.dag_ids)


def test_every_file_holds_a_dag(dagbag) -> None:
    files = {str(d.fileloc) for d in dagbag.dags.values()}
    assert {str(f) for f in DAG_FILES} == files


def _check_policy(dag) -> None:
    from datetime import timedelta

    assert dag.tags and "scenetrack" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.description and dag.doc_md
    for t in dag.tasks:
        assert t.owner == "scenetrack", t.task_id
        # someone is told when a task fails for good (scenetrack.notify), once
        kinds = [getattr(cb, "kind", None) for cb in t.on_failure_callback or []]
        assert kinds == ["gate_blocked" if t.task_id == "quality_gate" else "task_failed"], t
        if t.task_id == "quality_gate":
            assert t.retries == 0  # a failed gate is data, not a transient fault
        else:
            assert t.retries >= 1, t.task_id
            assert t.retry_exponential_backoff, t.task_id
            assert t.retry_delay >= timedelta(seconds=5), t.task_id
        # every other task of these DAGs writes the work DB (or the home): one writer at a time
        if (dag.dag_id, t.task_id) in READERS:
            assert t.pool != WRITER_POOL, t.task_id
        else:
            assert t.pool == WRITER_POOL, t.task_id


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_dag_policy(dagbag, dag_id: str) -> None:
    _check_policy(dagbag.dags[dag_id])


def test_transform_is_scheduled_on_the_raw_asset_and_publishes_one(dagbag) -> None:
    from scenetrack.assets import PUBLISHED_MARTS, RAW_SUBMISSIONS

    ingest, transform = dagbag.dags["scenetrack_ingest"], dagbag.dags["scenetrack_transform"]
    assert RAW_SUBMISSIONS in ingest.get_task("ingest_landed_files").outlets
    scheduled_on = list(transform.timetable.asset_condition.objects)
    assert scheduled_on == [RAW_SUBMISSIONS]
    assert PUBLISHED_MARTS in transform.get_task("publish_marts").outlets
    order = [t.task_id for t in transform.topological_sort()]
    assert order == ["dbt_build", "quality_gate", "publish_marts"]


def test_the_asset_chain_is_declared_end_to_end(dagbag) -> None:
    """landing (watched) -> raw -> lifecycle -> gate -> published -> evaluator outputs."""
    from scenetrack.assets import (
        EVALUATOR_OUTPUTS,
        GATE_RESULTS,
        LANDED_SUBMISSIONS,
        LIFECYCLE,
        PUBLISHED_MARTS,
    )
    from scenetrack.triggers import LandingFolderTrigger

    ingest, transform = dagbag.dags["scenetrack_ingest"], dagbag.dags["scenetrack_transform"]
    evaluate = dagbag.dags["scenetrack_evaluate"]
    assert list(ingest.timetable.asset_condition.objects) == [LANDED_SUBMISSIONS]
    (watcher,) = LANDED_SUBMISSIONS.watchers
    assert isinstance(watcher.trigger, LandingFolderTrigger)
    assert watcher.trigger.directory.endswith("landing")
    assert LIFECYCLE in transform.get_task("dbt_build").outlets
    assert GATE_RESULTS in transform.get_task("quality_gate").outlets
    assert list(evaluate.timetable.asset_condition.objects) == [PUBLISHED_MARTS]
    assert EVALUATOR_OUTPUTS in evaluate.get_task("build_evaluator_report").outlets


def test_replay_is_manual_with_params_and_feeds_the_raw_asset(dagbag) -> None:
    from scenetrack.assets import RAW_SUBMISSIONS

    dag = dagbag.dags["scenetrack_replay"]
    assert type(dag.timetable).__name__ == "NullTimetable"  # triggered by hand, never scheduled
    assert set(dag.params) == {"reason", "file"}
    assert dag.params["reason"] is None and dag.params["file"] is None
    task = dag.get_task("replay_quarantined")
    assert RAW_SUBMISSIONS in task.outlets  # transform builds, gates and publishes after it


def test_evaluate_holds_the_writer_pool_only_for_dbt_docs(dagbag) -> None:
    """dbt docs (and the quality panel) in the pool; the report after it, outside the pool."""
    from scenetrack.assets import EVALUATOR_OUTPUTS

    evaluate = dagbag.dags["scenetrack_evaluate"]
    order = [t.task_id for t in evaluate.topological_sort()]
    assert order == ["generate_dbt_docs", "build_evaluator_report"]
    pooled = [t.task_id for t in evaluate.tasks if t.pool == WRITER_POOL]
    assert pooled == ["generate_dbt_docs"]
    assert evaluate.get_task("build_evaluator_report").pool == "default_pool"
    assert evaluate.get_task("generate_dbt_docs").outlets == []
    assert evaluate.get_task("build_evaluator_report").outlets == [EVALUATOR_OUTPUTS]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    """A dbt manifest made the way `scenetrack airflow` makes it (`dbt parse`)."""
    from scenetrack.airflow_runner import ensure_dbt_manifest
    from scenetrack.config import Paths

    p = Paths(tmp_path_factory.mktemp("manifest") / "home").ensure()
    return ensure_dbt_manifest(p, p.home / "manifest" / "manifest.json")


def test_cosmos_rendering_one_task_per_model_all_in_the_writer_pool(manifest, monkeypatch) -> None:
    """SCENETRACK_AIRFLOW_DBT=cosmos: the dbt step as cosmos tasks rendered from the manifest."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SCENETRACK_AIRFLOW_DBT", "cosmos")
    monkeypatch.setenv("SCENETRACK_DBT_MANIFEST", str(manifest))
    bag = DagBag(dag_folder=str(DAGS_DIR / "scenetrack_transform.py"), safe_mode=False)
    assert bag.import_errors == {}
    dag = bag.dags["scenetrack_transform"]
    _check_policy(dag)  # cosmos tasks included: owner, retries, pool
    ids = {t.task_id for t in dag.tasks}
    models = json.loads(manifest.read_text())["nodes"].values()
    for node in models:
        if node["resource_type"] == "model":
            assert f"dbt.{node['name']}_run" in ids or f"dbt.{node['name']}.run" in ids, node
    order = [t.task_id for t in dag.topological_sort()]
    assert order[-3:] == ["lifecycle_built", "quality_gate", "publish_marts"]


def test_cosmos_rendering_without_a_manifest_says_how_to_make_one(tmp_path, monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("SCENETRACK_AIRFLOW_DBT", "cosmos")
    monkeypatch.setenv("SCENETRACK_DBT_MANIFEST", str(tmp_path / "missing" / "manifest.json"))
    bag = DagBag(dag_folder=str(DAGS_DIR / "scenetrack_transform.py"), safe_mode=False)
    (err,) = bag.import_errors.values()
    assert "manifest.json" in err and "scenetrack airflow" in err


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda f: f.name)
def test_dag_file_has_no_heavy_imports_at_parse_time(dag_file) -> None:
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {str(dag_file)!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_DIR, check=True
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_cosmos_rendering_has_no_heavy_imports_at_parse_time(manifest) -> None:
    dag_file = str(DAGS_DIR / "scenetrack_transform.py")
    code = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('d', {dag_file!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    env = {
        **os.environ,
        "SCENETRACK_AIRFLOW_DBT": "cosmos",
        "SCENETRACK_DBT_MANIFEST": str(manifest),
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        check=True,
        env=env,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


# --- the landing-folder trigger -------------------------------------------------------------


def test_trigger_serializes_and_round_trips(tmp_path) -> None:
    import importlib

    from scenetrack.triggers import LandingFolderTrigger

    trig = LandingFolderTrigger(directory=str(tmp_path), poll_interval=0.05)
    classpath, kwargs = trig.serialize()
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    json.dumps(kwargs)  # plain JSON: what the metadata DB stores
    from airflow.triggers.base import BaseEventTrigger

    assert isinstance(again, BaseEventTrigger)  # usable in an AssetWatcher


def _collect(trigger, actions, settle: float = 0.3) -> list[dict]:
    """Run the trigger while ``actions`` (callables) happen, one per settle period."""

    async def go() -> list[dict]:
        got: list[dict] = []

        async def consume() -> None:
            async for ev in trigger.run():
                got.append(ev.payload)

        task = asyncio.create_task(consume())
        try:
            for act in actions:
                act()
                await asyncio.sleep(settle)
            await asyncio.sleep(settle)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        return got

    return asyncio.run(go())


def test_trigger_fires_once_per_new_complete_file_never_for_part_or_dot_files(tmp_path) -> None:
    from scenetrack.triggers import LandingFolderTrigger

    landing = tmp_path / "landing"  # created only later: a missing folder is not an error
    trig = LandingFolderTrigger(directory=str(landing), poll_interval=0.02)

    def mkdir() -> None:
        landing.mkdir()

    def start_upload() -> None:
        (landing / "a.csv.part").write_text("half")
        (landing / ".b.csv").write_text("hidden")
        (landing / "sub").mkdir()

    def finish_upload() -> None:
        (landing / "a.csv.part").rename(landing / "a.csv")

    def two_at_once() -> None:
        (landing / "c.csv").write_text("c")
        (landing / "d.xlsx").write_text("d")

    def ingested() -> None:  # the ingest task moves files away
        (landing / "a.csv").rename(tmp_path / "a.csv")

    def same_name_again() -> None:  # a later file with the same name is a new submission
        (tmp_path / "a.csv").rename(landing / "a.csv")

    got = _collect(
        trig,
        [mkdir, start_upload, finish_upload, two_at_once, lambda: None, ingested, same_name_again],
    )
    assert [e["file"] for e in got] == ["a.csv", "c.csv", "d.xlsx", "a.csv"]
    assert all(e["directory"] == str(landing) and e["size"] >= 1 for e in got)


def test_trigger_restarted_reports_files_still_waiting(tmp_path) -> None:
    """A restarted triggerer re-reports what is still in landing/: the ingest run takes it."""
    from scenetrack.triggers import LandingFolderTrigger

    (tmp_path / "x.csv").write_text("x")
    trig = LandingFolderTrigger(directory=str(tmp_path), poll_interval=0.02)
    assert [e["file"] for e in _collect(trig, [lambda: None])] == ["x.csv"]
    assert [e["file"] for e in _collect(trig, [lambda: None])] == ["x.csv"]


def test_trigger_fires_for_files_in_a_city_channel_folder(tmp_path) -> None:
    """landing/<city>/ is that city's channel: its files fire too (named with their folder);
    a folder deeper down, a hidden folder and a .part upload do not."""
    from scenetrack.triggers import LandingFolderTrigger

    landing = tmp_path / "landing"
    (landing / "无锡" / "deeper").mkdir(parents=True)
    (landing / ".staging").mkdir()
    trig = LandingFolderTrigger(directory=str(landing), poll_interval=0.02)

    def drop() -> None:
        (landing / "无锡" / "清单.csv").write_text("x")
        (landing / "无锡" / "next.csv.part").write_text("half")
        (landing / "无锡" / "deeper" / "lost.csv").write_text("y")
        (landing / ".staging" / "hidden.csv").write_text("z")
        (landing / "root.csv").write_text("r")

    got = _collect(trig, [drop])
    assert sorted(e["file"] for e in got) == ["root.csv", "无锡/清单.csv"]
