"""Every DAG file imports cleanly, holds a DAG and follows the platform's policies.

Modelled on Airflow's own example-DAG test: parse through ``DagBag``, then check policy.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scenetrack.config import DAGS_DIR, PROJECT_DIR

HEAVY = ("great_expectations", "dbt", "pandas", "duckdb", "pyarrow")
DAG_FILES = sorted(DAGS_DIR.glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)


def test_dag_folder_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert {"scenetrack_ingest", "scenetrack_transform"} <= set(dagbag.dag_ids)


def test_every_file_holds_a_dag(dagbag) -> None:
    files = {str(d.fileloc) for d in dagbag.dags.values()}
    assert {str(f) for f in DAG_FILES} == files


@pytest.mark.parametrize("dag_id", ["scenetrack_ingest", "scenetrack_transform"])
def test_dag_policy(dagbag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.tags and "scenetrack" in dag.tags
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.description and dag.doc_md
    for t in dag.tasks:
        assert t.owner == "scenetrack"
        assert t.retries >= 1 or t.task_id == "quality_gate", t.task_id
        assert t.pool == "scenetrack_warehouse_writer", t.task_id


def test_transform_is_scheduled_on_the_raw_asset_and_publishes_one(dagbag) -> None:
    from scenetrack.assets import PUBLISHED_MARTS, RAW_SUBMISSIONS

    ingest, transform = dagbag.dags["scenetrack_ingest"], dagbag.dags["scenetrack_transform"]
    assert RAW_SUBMISSIONS in ingest.get_task("ingest_landed_files").outlets
    scheduled_on = list(transform.timetable.asset_condition.objects)
    assert scheduled_on == [RAW_SUBMISSIONS]
    assert PUBLISHED_MARTS in transform.get_task("publish_marts").outlets
    order = [t.task_id for t in transform.topological_sort()]
    assert order == ["dbt_build", "quality_gate", "publish_marts"]


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
