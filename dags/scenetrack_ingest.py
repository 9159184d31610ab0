"""
### scenetrack_ingest — city submissions into the raw layer

**Starts when** a file lands: the `scenetrack_landed_submissions` Asset is watched by
`scenetrack.triggers.LandingFolderTrigger`, which runs in the triggerer and emits one asset
event per new complete file in `$SCENETRACK_HOME/landing/` (no one presses a button; a manual
trigger or `airflow dags test` works too). **Produces** the `scenetrack_raw_submissions` Asset,
whose event carries the files, rows loaded and rows quarantined; that event starts
`scenetrack_transform`.

**Landing protocol**: upload under a name starting with `.` or ending in `.part`, then rename
to the final name; such names are never picked up, so a half-written file is never ingested.

A run ingests every complete file in the folder at that moment, so events that arrive while a
run is going are served by it or by the next run; a run that finds the folder empty is
skipped (and emits no asset event). Every landed file is recorded in the ledger (deduplicated
by content hash); each row is loaded or quarantined with a reason; files move to `processed/`
or, unreadable, to `rejected/` beside their receipt; nothing is deleted.
Logic: `scenetrack.pipeline`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scenetrack.assets import DEFAULT_ARGS, LANDED_SUBMISSIONS, RAW_SUBMISSIONS, WRITER_POOL


def _announced(context) -> list[str]:
    """Files named by the watcher events that started this run (metadata only; never fails)."""
    try:
        return sorted(
            {
                str(e.extra["payload"]["file"])
                for events in (context.get("triggering_asset_events") or {}).values()
                for e in events
                if isinstance((e.extra or {}).get("payload"), dict) and "file" in e.extra["payload"]
            }
        )
    except Exception:  # noqa: BLE001 - a metadata lookup must not fail an ingest
        return []


@dag(
    dag_id="scenetrack_ingest",
    description="Landed city submissions -> raw layer, ledger and quarantine",
    schedule=[LANDED_SUBMISSIONS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["scenetrack", "ingestion"],
    doc_md=__doc__,
)
def scenetrack_ingest():
    @task(outlets=[RAW_SUBMISSIONS], pool=WRITER_POOL)
    def ingest_landed_files(**context) -> dict:
        """Ingest every complete file in the landing folder; skip when none landed."""
        from airflow.sdk.exceptions import AirflowSkipException

        from scenetrack.airflow_warehouse import task_paths
        from scenetrack.pipeline import ingest_landing

        announced = _announced(context)  # before ingesting: nothing may fail after the move
        receipts = ingest_landing(task_paths())
        if not receipts:
            raise AirflowSkipException(
                "no complete files in the landing folder (an earlier run took them)"
            )
        for r in receipts:
            print(r.line())
        summary = {
            "files": [r.file for r in receipts],
            "announced_by_watcher": announced,
            "rows_loaded": sum(r.rows_loaded for r in receipts),
            "rows_quarantined": sum(r.rows_quarantined for r in receipts),
            "files_rejected": sum(r.status == "rejected" for r in receipts),
        }
        context["outlet_events"][RAW_SUBMISSIONS].extra = summary
        return summary

    ingest_landed_files()


scenetrack_ingest()
