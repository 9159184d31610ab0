"""
### scenetrack_transform — dbt build, Great Expectations gate, atomic publish

**Starts when** the `scenetrack_raw_submissions` Asset is updated (by `scenetrack_ingest`).
**Produces** the `scenetrack_published_marts` Asset: a new published DuckDB version, swapped in
atomically only when the gate passes. A failing `error` expectation fails `quality_gate`, so
`publish_marts` never runs and the last good version stays live.

Logic: `scenetrack.pipeline` (build, gate, publish); suites: `expectations/`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scenetrack.assets import DEFAULT_ARGS, PUBLISHED_MARTS, RAW_SUBMISSIONS, WRITER_POOL


@dag(
    dag_id="scenetrack_transform",
    description="raw layer -> dbt lifecycle and marts -> GX gate -> published warehouse",
    schedule=[RAW_SUBMISSIONS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "dbt", "great_expectations", "publish"],
    doc_md=__doc__,
)
def scenetrack_transform():
    @task(pool=WRITER_POOL)
    def dbt_build() -> int:
        """dbt build (seeds, staging, lifecycle, marts and their tests) into the work DB."""
        from scenetrack.config import paths
        from scenetrack.pipeline import build

        return build(paths())

    @task(pool=WRITER_POOL, retries=0)
    def quality_gate() -> str:
        """Run the GX suites; a failing `error` expectation fails this task (no retry: data)."""
        from scenetrack.config import paths
        from scenetrack.pipeline import gate

        result = gate(paths())
        print(result.summary())
        return result.run_id

    @task(outlets=[PUBLISHED_MARTS], pool=WRITER_POOL)
    def publish_marts(gate_run_id: str, **context) -> dict:
        """Swap the audited marts in as the next published version."""
        from scenetrack.config import paths
        from scenetrack.pipeline import publish

        rec = publish(paths(), gate_run_id)
        extra = {"version": rec.version, "gate_run_id": gate_run_id, "tables": rec.tables}
        context["outlet_events"][PUBLISHED_MARTS].extra = extra
        return extra

    built = dbt_build()
    run_id = quality_gate()
    built >> run_id
    publish_marts(run_id)


scenetrack_transform()
