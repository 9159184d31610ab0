"""
### scenetrack_watch — cities that stopped reporting

**Runs daily.** Finds the cities whose newest report is older than
`SCENETRACK_FRESHNESS_DAYS` (90 by default; the quality gate's freshness rule,
`expectations/source_freshness.json`) and sends one alert naming them, in Chinese and English
(`scenetrack.notify`, connections `scenetrack_smtp` / `scenetrack_alerts_webhook`). A quiet
city submits nothing, so nothing event-driven would ever notice it: this is the one scheduled
DAG. Reads the warehouse only (under the writer lock on DuckDB, which refuses readers beside
a writer process).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scenetrack.assets import DEFAULT_ARGS, WRITER_POOL


@dag(
    dag_id="scenetrack_watch",
    description="cities silent for SCENETRACK_FRESHNESS_DAYS -> one alert (scenetrack.notify)",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "alerts"],
    doc_md=__doc__,
)
def scenetrack_watch():
    @task(pool=WRITER_POOL)
    def cities_gone_quiet(**context) -> dict:
        """Alert once per day about every city silent for longer than the freshness limit."""
        from scenetrack.airflow_warehouse import task_paths
        from scenetrack.config import settings
        from scenetrack.notify import ScenetrackNotifier, quiet_cities

        quiet = quiet_cities(task_paths())
        if quiet:
            ScenetrackNotifier("city_silent")(
                {**context, "quiet_cities": quiet, "freshness_days": settings().freshness_days}
            )
        return quiet

    cities_gone_quiet()


scenetrack_watch()
