"""Evaluator outputs: the static HTML report and dbt's documentation, beside the published marts.

``build_evaluator_outputs(p)`` is the hook to call after every publish: dbt docs first, so the
report can link them, then the report in Chinese (``report/index.html``) and English
(``report/en/index.html``). It is two steps, which the Airflow DAG ``scenetrack_evaluate``
runs as two tasks so that only the first holds the one-slot writer pool:

1. :func:`read_work_database`: ``dbt docs generate`` (dbt reads the work database's catalog)
   and the data-quality panel (the last gate run and the quarantine exist only in the work
   database), each under the home's writer lock. Its result is small and JSON-able
   (:meth:`WorkDatabaseReadings.to_json`), so it travels as an XCom.
2. :func:`render_evaluator_report`: the zh/en pages, from the *published* file (and its kept
   previous version, the publish log, the Data Docs beside it) and the readings of step 1.
   It never opens the work database, so it may run while ingest or dbt write it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scenetrack.config import Paths
from scenetrack.report.build import build_report
from scenetrack.report.data import Quality
from scenetrack.report.dbt_docs import DbtDocsError, publish_dbt_docs

__all__ = [
    "EvaluatorOutputs",
    "WorkDatabaseReadings",
    "build_evaluator_outputs",
    "build_report",
    "publish_dbt_docs",
    "read_work_database",
    "render_evaluator_report",
]


@dataclass(frozen=True)
class EvaluatorOutputs:
    reports: dict[str, Path]  # lang -> index.html
    dbt_docs: Path | None
    dbt_docs_error: str | None


@dataclass(frozen=True)
class WorkDatabaseReadings:
    """What the report needs from the work database: dbt docs' outcome and the quality panel."""

    dbt_docs: Path | None
    dbt_docs_error: str | None
    quality: Quality

    def to_json(self) -> dict:
        """Plain JSON (a few KB: failed checks and per-city quarantine counts) for an XCom."""
        return {
            "dbt_docs": str(self.dbt_docs) if self.dbt_docs else None,
            "dbt_docs_error": self.dbt_docs_error,
            "quality": self.quality.to_json(),
        }

    @classmethod
    def from_json(cls, d: dict) -> WorkDatabaseReadings:
        return cls(
            dbt_docs=Path(d["dbt_docs"]) if d["dbt_docs"] else None,
            dbt_docs_error=d["dbt_docs_error"],
            quality=Quality.from_json(d["quality"]),
        )


def read_work_database(
    p: Paths, dbt_docs: bool = True, lock_timeout_s: float = 600.0
) -> WorkDatabaseReadings:
    """Step 1 (the writer pool's share): publish dbt docs, then read the data-quality panel.

    A dbt docs failure does not stop the report (evaluators still get their figures); it is
    returned in ``dbt_docs_error`` and the report says the docs are not generated. The panel is
    read under the writer lock, so a CLI writer is not refused by this read-only session; a lock
    not obtained in ``lock_timeout_s`` makes the panel "unavailable", never a failure.
    """
    from scenetrack.report.data import read_quality
    from scenetrack.warehouse import WriterBusyError, writer_lock

    docs: Path | None = None
    error: str | None = None
    if dbt_docs:
        try:
            docs = publish_dbt_docs(p, lock_timeout_s=lock_timeout_s)
        except (DbtDocsError, RuntimeError) as exc:
            error = str(exc)
    try:
        with writer_lock(p, timeout_s=lock_timeout_s):
            quality = read_quality(p)
    except WriterBusyError as exc:
        quality = Quality(available=False, reason=str(exc))
    return WorkDatabaseReadings(docs, error, quality)


def render_evaluator_report(p: Paths, quality: Quality) -> dict[str, Path]:
    """Step 2 (outside the writer pool): the report in zh and en; returns lang -> index.html.

    Reads the published warehouse read-only and takes the quality panel as given: the work
    database is not opened.
    """
    from scenetrack.report.data import read_report_data

    data = read_report_data(p, quality=quality)
    return {lang: build_report(p, lang, data=data) for lang in ("zh", "en")}


def build_evaluator_outputs(p: Paths, dbt_docs: bool = True) -> EvaluatorOutputs:
    """Both steps in one process (``scenetrack report --with-docs``): docs, then the report."""
    work = read_work_database(p, dbt_docs=dbt_docs)
    reports = render_evaluator_report(p, work.quality)
    return EvaluatorOutputs(reports, work.dbt_docs, work.dbt_docs_error)
