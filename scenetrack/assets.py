"""The platform's Airflow Assets: the data products one DAG produces and another consumes.

Kept light (only ``airflow.sdk``) because every DAG file imports it at parse time.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset

RAW_SUBMISSIONS = Asset(name="scenetrack_raw_submissions", uri="scenetrack://warehouse/raw")
PUBLISHED_MARTS = Asset(name="scenetrack_published_marts", uri="scenetrack://warehouse/published")

# Every task that writes the DuckDB work database runs in this one-slot pool (DuckDB allows a
# single writing process); the home's file lock backs it up for the CLI.
WRITER_POOL = "scenetrack_warehouse_writer"

DEFAULT_ARGS = {
    "owner": "scenetrack",
    "retries": 2,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=5),
}
