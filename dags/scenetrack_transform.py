"""
### scenetrack_transform — dbt build, Great Expectations gate, atomic publish

**Starts when** the `scenetrack_raw_submissions` Asset is updated (by `scenetrack_ingest`).

**Tasks**: `dbt_build` runs one `dbt build` (seeds, models and their tests in dbt's order)
under the warehouse writer lock and records the `scenetrack_lifecycle` Asset; `quality_gate`
runs the GX suites (Asset `scenetrack_gate`), holding back the newest submissions of a city
whose rows alone fail it (per-city holdback: the marts are rebuilt without them and gated
again); `publish_marts` swaps the audited marts in as the next published version (Asset
`scenetrack_published_marts`), and refuses anything but what the gate validated. A failing `error`
expectation fails `quality_gate` (no retry: it is data, not a transient fault), so
`publish_marts` never runs and the last good version stays live. Every task writes the DuckDB
work database and runs in the one-slot pool `scenetrack_warehouse_writer`.

**Per-model tasks (astronomer-cosmos)**: with `SCENETRACK_AIRFLOW_DBT=cosmos` the dbt step is
rendered instead as a cosmos task group from the dbt manifest (one task per seed and model,
each followed by its tests), all in the same pool. It is not the default: on the reference
machine it made a transform run ~20 times slower (see docs/airflow.md). The manifest is made
by `dbt parse` (`scenetrack airflow`, `make airflow`, the demo); its path is
`$SCENETRACK_DBT_MANIFEST` or `$SCENETRACK_HOME/airflow/dbt_manifest/manifest.json`.

Logic: `scenetrack.pipeline`; dbt project: `dbt_project/`; suites: `expectations/`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from scenetrack.assets import (
    DEFAULT_ARGS,
    GATE_RESULTS,
    LIFECYCLE,
    PUBLISHED_MARTS,
    RAW_SUBMISSIONS,
    WRITER_POOL,
)
from scenetrack.config import settings
from scenetrack.notify import ScenetrackNotifier

DBT_MODE_ENV = "SCENETRACK_AIRFLOW_DBT"
# 'build' (default) or 'cosmos'; any other value fails the parse with an error naming the variable
DBT_MODE = settings().airflow_dbt


def _marts_rows() -> dict:
    """Row counts of the marts in the work DB: the lifecycle Asset event's metadata."""
    from scenetrack.config import paths
    from scenetrack.warehouse import connect_work

    con = connect_work(paths())
    try:
        rows = con.execute(
            "select table_name, estimated_size from duckdb_tables() "
            "where schema_name = 'marts' order by table_name"
        ).fetchall()
    finally:
        con.close()
    return {name: int(n) for name, n in rows}


def _cosmos_task_group():
    """The dbt project as cosmos tasks (one per seed/model + its tests), from the manifest."""
    import sys
    from pathlib import Path

    from scenetrack.airflow_runner import MANIFEST_ENV, dbt_manifest_path
    from scenetrack.config import DBT_PROJECT_DIR, Paths, home_from

    manifest = dbt_manifest_path()
    if not manifest.exists():
        # Raised at parse time so the UI's "import errors" panel says exactly what to do.
        raise FileNotFoundError(
            f"scenetrack_transform ({DBT_MODE_ENV}=cosmos) renders its dbt tasks from "
            f"{manifest}, which does not exist. Create it with `scenetrack airflow` or "
            "`make airflow` (both run `dbt parse`), point "
            f"${MANIFEST_ENV} at an existing manifest.json, or unset {DBT_MODE_ENV}."
        )
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import InvocationMode, LoadMode, TestBehavior

    return DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=manifest,
            project_name="scenetrack",
            install_dbt_deps=False,
        ),
        profile_config=ProfileConfig(
            profile_name="scenetrack",
            target_name="duckdb",
            profiles_yml_filepath=DBT_PROJECT_DIR / "profiles.yml",
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            # a relationships test between two models runs after both, not after the first
            should_detach_multiple_parents_tests=True,
            emit_datasets=False,  # the platform declares its own Assets (scenetrack.assets)
            enable_owner_inheritance=False,
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=Path(sys.executable).with_name("dbt"),
            invocation_mode=InvocationMode.SUBPROCESS,
        ),
        operator_args={
            "pool": WRITER_POOL,
            "append_env": True,
            "env": {
                "SCENETRACK_WORK_DB": str(Paths(home_from()).work_db),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DO_NOT_TRACK": "1",
            },
        },
        default_args=DEFAULT_ARGS,
    )


with DAG(
    dag_id="scenetrack_transform",
    description="raw layer -> dbt lifecycle and marts -> GX gate -> published warehouse",
    schedule=[RAW_SUBMISSIONS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "dbt", "great_expectations", "publish"]
    + (["cosmos"] if DBT_MODE == "cosmos" else []),
    doc_md=__doc__,
) as dag:
    if DBT_MODE == "cosmos":
        dbt = _cosmos_task_group()

        @task(outlets=[LIFECYCLE], pool=WRITER_POOL)
        def lifecycle_built(**context) -> dict:
            """Record the lifecycle Asset once every cosmos dbt task has passed."""
            extra = {"marts_rows": _marts_rows(), "dbt": "cosmos"}
            context["outlet_events"][LIFECYCLE].extra = extra
            return extra

        built = lifecycle_built()
        dbt >> built
    else:

        @task(outlets=[LIFECYCLE], pool=WRITER_POOL)
        def dbt_build(**context) -> dict:
            """dbt build (seeds, staging, lifecycle, marts and their tests) into the work DB."""
            from scenetrack.airflow_warehouse import task_paths
            from scenetrack.pipeline import build

            nodes = build(task_paths())
            extra = {"dbt_nodes": nodes, "marts_rows": _marts_rows()}
            context["outlet_events"][LIFECYCLE].extra = extra
            return extra

        built = dbt_build()

    @task(
        outlets=[GATE_RESULTS],
        pool=WRITER_POOL,
        retries=0,
        on_failure_callback=ScenetrackNotifier("gate_blocked"),  # names checks, city, what to do
    )
    def quality_gate(**context) -> str:
        """Run the GX suites; a failing `error` expectation fails this task (no retry: data),
        unless it belongs to some cities only: their newest submissions are then held back,
        the marts rebuilt without them and gated again (scenetrack.holdback)."""
        from scenetrack.airflow_warehouse import task_paths
        from scenetrack.pipeline import gate, held_note, held_now

        home = task_paths()
        result = gate(home)
        print(result.summary())
        held = held_now(home)
        if held:
            print(held_note(held))
        if result.held_back:  # this run held a city back: tell someone, once
            ScenetrackNotifier("held_back").notify({**context, "held_back": result.held_back})
        context["outlet_events"][GATE_RESULTS].extra = {
            "gate_run_id": result.run_id,
            "outcome": "passed",
            "warnings": len(result.warnings),
            "held": [{"city_code": h.city_code, "file": h.file_name} for h in held],
        }
        return result.run_id

    @task(outlets=[PUBLISHED_MARTS], pool=WRITER_POOL)
    def publish_marts(gate_run_id: str, **context) -> dict:
        """Swap the audited marts in as the next published version (same gate run: same bytes)."""
        from scenetrack.airflow_warehouse import task_paths
        from scenetrack.pipeline import publish

        rec = publish(task_paths(), gate_run_id)
        extra = {"version": rec.version, "gate_run_id": gate_run_id, "tables": rec.tables}
        context["outlet_events"][PUBLISHED_MARTS].extra = extra
        return extra

    run_id = quality_gate()
    built >> run_id
    publish_marts(run_id)
