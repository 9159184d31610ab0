"""
### scenetrack_transform — dbt models (cosmos), Great Expectations gate, atomic publish

**Starts when** the `scenetrack_raw_submissions` Asset is updated (by `scenetrack_ingest`).

**Tasks**: the `dbt` task group is rendered by astronomer-cosmos from the dbt manifest: one task
per seed and per model, each followed by a task running that model's dbt tests
(`TestBehavior.AFTER_EACH`), in dbt's dependency order. Then `lifecycle_built` records the
`scenetrack_lifecycle` Asset, `quality_gate` runs the GX suites (Asset `scenetrack_gate`), and
`publish_marts` swaps the audited marts in (Asset `scenetrack_published_marts`). A failing
`error` expectation fails `quality_gate` (no retry: it is data, not a transient fault), so
`publish_marts` never runs and the last good version stays live.

Every task writes the DuckDB work database, so every task, dbt ones included, runs in the
one-slot pool `scenetrack_warehouse_writer`.

The manifest is made by `dbt parse` (`scenetrack airflow`, `make airflow` and the demo do it);
its path is `$SCENETRACK_DBT_MANIFEST` or `$SCENETRACK_HOME/airflow/dbt_manifest/manifest.json`.
Logic: `scenetrack.pipeline` (gate, publish); dbt project: `dbt_project/`; suites:
`expectations/`.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from scenetrack.airflow_runner import MANIFEST_ENV, dbt_manifest_path
from scenetrack.assets import (
    DEFAULT_ARGS,
    GATE_RESULTS,
    LIFECYCLE,
    PUBLISHED_MARTS,
    RAW_SUBMISSIONS,
    WRITER_POOL,
)
from scenetrack.config import DBT_PROJECT_DIR, Paths, home_from

MANIFEST = dbt_manifest_path()
if not MANIFEST.exists():
    # Raised at parse time so the UI's "import errors" panel says exactly what to do.
    raise FileNotFoundError(
        f"scenetrack_transform renders its dbt tasks from {MANIFEST}, which does not exist. "
        "Create it with `scenetrack airflow` / `make airflow` (they run `dbt parse`), or "
        "`python -c 'from scenetrack.airflow_runner import ensure_dbt_manifest; "
        "from scenetrack.config import paths; ensure_dbt_manifest(paths())'`, "
        f"or point ${MANIFEST_ENV} at an existing manifest.json."
    )

from cosmos import (  # noqa: E402  (after the manifest check: a clear error first)
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import InvocationMode, LoadMode, TestBehavior  # noqa: E402

WORK_DB = Paths(home_from()).work_db
DBT_EXE = Path(sys.executable).with_name("dbt")

with DAG(
    dag_id="scenetrack_transform",
    description="raw layer -> dbt lifecycle and marts (cosmos) -> GX gate -> published warehouse",
    schedule=[RAW_SUBMISSIONS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "dbt", "cosmos", "great_expectations", "publish"],
    doc_md=__doc__,
) as dag:
    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT_DIR,
            manifest_path=MANIFEST,
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
            emit_datasets=False,  # the platform declares its own Assets (scenetrack.assets)
            enable_owner_inheritance=False,
        ),
        execution_config=ExecutionConfig(
            dbt_executable_path=DBT_EXE, invocation_mode=InvocationMode.SUBPROCESS
        ),
        operator_args={
            "pool": WRITER_POOL,
            "append_env": True,
            "env": {
                "SCENETRACK_WORK_DB": str(WORK_DB),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
                "DO_NOT_TRACK": "1",
            },
        },
        default_args=DEFAULT_ARGS,
    )

    @task(outlets=[LIFECYCLE], pool=WRITER_POOL)
    def lifecycle_built(**context) -> dict:
        """Record the lifecycle Asset: projects staged and marts row counts in the work DB."""
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
        extra = {"marts_rows": {name: int(n) for name, n in rows}}
        context["outlet_events"][LIFECYCLE].extra = extra
        return extra

    @task(outlets=[GATE_RESULTS], pool=WRITER_POOL, retries=0)
    def quality_gate(**context) -> str:
        """Run the GX suites; a failing `error` expectation fails this task (no retry: data)."""
        from scenetrack.config import paths
        from scenetrack.pipeline import gate

        result = gate(paths())
        print(result.summary())
        context["outlet_events"][GATE_RESULTS].extra = {
            "gate_run_id": result.run_id,
            "outcome": "passed",
            "warnings": len(result.warnings),
        }
        return result.run_id

    @task(outlets=[PUBLISHED_MARTS], pool=WRITER_POOL)
    def publish_marts(gate_run_id: str, **context) -> dict:
        """Swap the audited marts in as the next published version (same gate run: same bytes)."""
        from scenetrack.config import paths
        from scenetrack.pipeline import publish

        rec = publish(paths(), gate_run_id)
        extra = {"version": rec.version, "gate_run_id": gate_run_id, "tables": rec.tables}
        context["outlet_events"][PUBLISHED_MARTS].extra = extra
        return extra

    built = lifecycle_built()
    run_id = quality_gate()
    dbt >> built >> run_id
    publish_marts(run_id)
