"""
### scenetrack_evaluate — evaluator outputs from the published marts

**Starts when** the `scenetrack_published_marts` Asset is updated (a new version passed the gate
and was published by `scenetrack_transform`). **Produces** the `scenetrack_evaluator_outputs`
Asset, whose event carries the files written.

Two tasks, so that the one-slot writer pool is held only for what needs the work database:

1. `generate_dbt_docs` (writer pool): `dbt docs generate` reads the work database's catalog;
   the same task reads the data-quality panel (last gate run, quarantine per city), which
   exists only in the work database, and hands it on as a small XCom
   (`scenetrack.report.read_work_database`).
2. `build_evaluator_report` (no pool): the static HTML report in Chinese and English under
   `published/report/`, from the *published* file only (`render_evaluator_report`); an ingest
   or dbt build may run meanwhile.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scenetrack.assets import DEFAULT_ARGS, EVALUATOR_OUTPUTS, PUBLISHED_MARTS, WRITER_POOL


@dag(
    dag_id="scenetrack_evaluate",
    description="published marts -> evaluator report (scenetrack.report)",
    schedule=[PUBLISHED_MARTS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "report"],
    doc_md=__doc__,
)
def scenetrack_evaluate():
    # In the writer pool: `dbt docs generate` and the quality panel read the work database.
    @task(pool=WRITER_POOL)
    def generate_dbt_docs() -> dict:
        """Publish dbt docs and read the data-quality panel from the work database."""
        from scenetrack.airflow_warehouse import task_paths
        from scenetrack.report import read_work_database

        return read_work_database(task_paths()).to_json()

    # Outside the pool: reads only the published file, so it never holds the writer's.
    @task(outlets=[EVALUATOR_OUTPUTS])
    def build_evaluator_report(work: dict, **context) -> dict:
        """Render the zh/en evaluator report from the published marts."""
        from scenetrack.airflow_warehouse import task_paths
        from scenetrack.report import WorkDatabaseReadings, render_evaluator_report

        readings = WorkDatabaseReadings.from_json(work)
        reports = render_evaluator_report(task_paths(), readings.quality)
        extra = {
            "reports": {lang: str(path) for lang, path in reports.items()},
            "dbt_docs": str(readings.dbt_docs) if readings.dbt_docs else None,
            "dbt_docs_error": readings.dbt_docs_error,
        }
        context["outlet_events"][EVALUATOR_OUTPUTS].extra = extra
        return extra

    build_evaluator_report(generate_dbt_docs())


scenetrack_evaluate()
