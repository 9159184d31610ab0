"""
### scenetrack_replay — load quarantined rows an added alias makes readable

**Starts when** an operator triggers it (no schedule), after adding an alias or a reference the
platform lacked (`dbt_project/seeds/value_aliases.csv`, `ingestion/city_aliases.csv`): the
quarantined rows of the archived submissions are read again and those that now pass are
loaded, exactly once, without asking the city to send its file again. **Produces** the
`scenetrack_raw_submissions` Asset when rows were loaded, so `scenetrack_transform` builds,
gates and publishes them; a replay that loads nothing is skipped.

**Params**: `reason` (only rows quarantined for it, e.g. `unknown_city`) and `file` (only the
submission whose sha256 is or starts with it); both empty: every waiting row. The same as
`scenetrack replay [--reason R] [--file SHA]`; runs in the one-slot writer pool and under the
home's writer lock. Logic: `scenetrack.pipeline.replay`, `ingestion.replay`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from scenetrack.assets import DEFAULT_ARGS, RAW_SUBMISSIONS, WRITER_POOL


@dag(
    dag_id="scenetrack_replay",
    description="quarantined rows -> raw layer, after an alias or reference was added (manual)",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "ingestion"],
    doc_md=__doc__,
    params={
        "reason": Param(None, type=["null", "string"], description="a row reason code"),
        "file": Param(None, type=["null", "string"], description="a submission's sha256"),
    },
)
def scenetrack_replay():
    @task(outlets=[RAW_SUBMISSIONS], pool=WRITER_POOL)
    def replay_quarantined(**context) -> dict:
        """Re-read the waiting rows; skip when nothing loads."""
        from airflow.sdk.exceptions import AirflowSkipException

        from scenetrack.config import paths
        from scenetrack.pipeline import replay

        params = context["params"]
        receipts = replay(
            paths(),
            params.get("reason") or None,
            params.get("file") or None,
            by="airflow (scenetrack_replay)",
        )
        for r in receipts:
            print(r.line())
        summary = {
            "files": [r.file for r in receipts],
            "rows_loaded": sum(r.rows_loaded for r in receipts if r.status == "replayed"),
            "rows_quarantined": sum(r.rows_quarantined for r in receipts),
            "replayed": True,
        }
        if not summary["rows_loaded"]:
            raise AirflowSkipException(
                f"nothing loaded: {summary['rows_quarantined']} row(s) still wait"
            )
        context["outlet_events"][RAW_SUBMISSIONS].extra = summary
        return summary

    replay_quarantined()


scenetrack_replay()
