"""
### scenetrack_evaluate — evaluator outputs from the published marts

**Starts when** the `scenetrack_published_marts` Asset is updated (a new version passed the gate
and was published by `scenetrack_transform`). **Produces** the `scenetrack_evaluator_outputs`
Asset, whose event carries the files written.

Calls `scenetrack.report.build_evaluator_outputs`: dbt docs (needs the work database, hence
the writer pool) and the static HTML report in Chinese and English under `published/`.
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
    # In the writer pool: `dbt docs generate` reads the work database's catalog.
    @task(outlets=[EVALUATOR_OUTPUTS], pool=WRITER_POOL)
    def build_evaluator_report(**context) -> dict:
        """Build dbt docs and the zh/en evaluator report from the published marts."""
        from scenetrack.config import paths
        from scenetrack.report import build_evaluator_outputs

        out = build_evaluator_outputs(paths())
        extra = {
            "reports": {lang: str(path) for lang, path in out.reports.items()},
            "dbt_docs": str(out.dbt_docs) if out.dbt_docs else None,
            "dbt_docs_error": out.dbt_docs_error,
        }
        context["outlet_events"][EVALUATOR_OUTPUTS].extra = extra
        return extra

    build_evaluator_report()


scenetrack_evaluate()
