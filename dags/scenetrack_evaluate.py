"""
### scenetrack_evaluate — evaluator outputs from the published marts

**Starts when** the `scenetrack_published_marts` Asset is updated (a new version passed the gate
and was published by `scenetrack_transform`). **Produces** the `scenetrack_evaluator_outputs`
Asset, whose event carries the files written.

Calls `scenetrack.report.build_report(paths())`. When that module is not installed in this
deployment, the task is skipped with a message saying so (no asset event).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scenetrack.assets import DEFAULT_ARGS, EVALUATOR_OUTPUTS, PUBLISHED_MARTS, WRITER_POOL


def _jsonable(value):
    """The report's return value, reduced to what an asset event's extra can hold."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


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
    # In the writer pool: the report reads the published file and may record into the home.
    @task(outlets=[EVALUATOR_OUTPUTS], pool=WRITER_POOL)
    def build_evaluator_report(**context) -> dict:
        """Build the evaluator report from the published marts; skip if the module is absent."""
        import importlib
        import importlib.util

        from airflow.sdk.exceptions import AirflowSkipException

        from scenetrack.config import paths

        # absent: skip; present but broken (an error inside it) fails the task: a bug to see
        spec = importlib.util.find_spec("scenetrack.report")
        module = importlib.import_module("scenetrack.report") if spec else None
        build_report = getattr(module, "build_report", None)
        if build_report is None:
            raise AirflowSkipException(
                "scenetrack.report.build_report is not available in this deployment: no "
                "evaluator outputs were built (the published marts are unaffected)"
            )
        result = build_report(paths())
        extra = {"result": _jsonable(result)}
        context["outlet_events"][EVALUATOR_OUTPUTS].extra = extra
        return extra

    build_evaluator_report()


scenetrack_evaluate()
