"""
### scenetrack_ingest — city submissions into the raw layer

**Starts when** a run is triggered (the demo and operators trigger it after files land in
`$SCENETRACK_HOME/landing/`). **Produces** the `scenetrack_raw_submissions` Asset, whose event
carries the files, rows loaded and rows quarantined; that event starts `scenetrack_transform`.

Every landed file is recorded in the ledger; each row is loaded or quarantined with a reason;
files move to `processed/` or `rejected/` and are never deleted. Logic: `scenetrack.pipeline`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from scenetrack.assets import DEFAULT_ARGS, RAW_SUBMISSIONS, WRITER_POOL


@dag(
    dag_id="scenetrack_ingest",
    description="Landed city submissions -> raw layer, ledger and quarantine",
    schedule=None,
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

        from scenetrack.config import paths
        from scenetrack.pipeline import ingest_landing

        receipts = ingest_landing(paths())
        if not receipts:
            raise AirflowSkipException("no complete files in the landing folder")
        for r in receipts:
            print(r.line())
        summary = {
            "files": [r.file for r in receipts],
            "rows_loaded": sum(r.rows_loaded for r in receipts),
            "rows_quarantined": sum(r.rows_quarantined for r in receipts),
            "files_rejected": sum(r.status == "rejected" for r in receipts),
        }
        context["outlet_events"][RAW_SUBMISSIONS].extra = summary
        return summary

    ingest_landed_files()


scenetrack_ingest()
