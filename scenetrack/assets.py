"""The platform's Airflow Assets: the data products one DAG produces and another consumes.

The chain, each link a declared Asset whose events carry metadata in ``extra``::

    landing folder (watched)   scenetrack_landed_submissions   trigger payload: file, size, mtime
      -> scenetrack_ingest     scenetrack_raw_submissions      files, rows loaded/quarantined
      -> scenetrack_transform  scenetrack_lifecycle            marts row counts (dbt via cosmos)
                               scenetrack_gate                 gate run id, outcome, warnings
                               scenetrack_published_marts      published version, tables
      -> scenetrack_evaluate   scenetrack_evaluator_outputs    report files

Kept light (``airflow.sdk`` and the small trigger module) because every DAG file imports it at
parse time.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, AssetWatcher

from scenetrack.config import home_from
from scenetrack.notify import ScenetrackNotifier
from scenetrack.triggers import LandingFolderTrigger

# Seconds between two looks at the landing folder (one os.scandir in the triggerer).
LANDING_POLL_SECONDS = 2.0


def landing_dir() -> str:
    """The watched folder: ``$SCENETRACK_HOME/landing`` (resolved at DAG-parse time)."""
    return str(home_from() / "landing")


LANDED_SUBMISSIONS = Asset(
    name="scenetrack_landed_submissions",
    uri="scenetrack://landing",
    watchers=[
        AssetWatcher(
            name="scenetrack_landing_watcher",
            trigger=LandingFolderTrigger(
                directory=landing_dir(), poll_interval=LANDING_POLL_SECONDS
            ),
        )
    ],
)
RAW_SUBMISSIONS = Asset(name="scenetrack_raw_submissions", uri="scenetrack://warehouse/raw")
LIFECYCLE = Asset(name="scenetrack_lifecycle", uri="scenetrack://warehouse/lifecycle")
GATE_RESULTS = Asset(name="scenetrack_gate", uri="scenetrack://warehouse/gate")
PUBLISHED_MARTS = Asset(name="scenetrack_published_marts", uri="scenetrack://warehouse/published")
EVALUATOR_OUTPUTS = Asset(name="scenetrack_evaluator_outputs", uri="scenetrack://reports/evaluator")

# Every task that writes the DuckDB work database runs in this one-slot pool (DuckDB allows a
# single writing process); the home's file lock backs it up for the CLI.
WRITER_POOL = "scenetrack_warehouse_writer"

DEFAULT_ARGS = {
    "owner": "scenetrack",
    # after the last retry only (scenetrack.notify): e-mail / webhook, zh + en
    "on_failure_callback": ScenetrackNotifier("task_failed"),
    "retries": 2,
    "retry_delay": timedelta(seconds=10),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=5),
}
