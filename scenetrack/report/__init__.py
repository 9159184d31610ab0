"""Evaluator outputs: the static HTML report and dbt's documentation, beside the published marts.

``build_evaluator_outputs(p)`` is the hook to call after every publish (the Airflow task that
runs on the published asset calls it): dbt docs first, so the report can link them, then the
report in Chinese (``report/index.html``) and English (``report/en/index.html``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scenetrack.config import Paths
from scenetrack.report.build import build_report
from scenetrack.report.dbt_docs import DbtDocsError, publish_dbt_docs

__all__ = ["EvaluatorOutputs", "build_evaluator_outputs", "build_report", "publish_dbt_docs"]


@dataclass(frozen=True)
class EvaluatorOutputs:
    reports: dict[str, Path]  # lang -> index.html
    dbt_docs: Path | None
    dbt_docs_error: str | None


def build_evaluator_outputs(p: Paths, dbt_docs: bool = True) -> EvaluatorOutputs:
    """Publish dbt docs, then build the report in zh and en from the published warehouse.

    A dbt docs failure does not stop the report (evaluators still get their figures); it is
    returned in ``dbt_docs_error`` and the report says the docs are not generated.
    """
    from scenetrack.report.data import read_report_data

    docs: Path | None = None
    error: str | None = None
    if dbt_docs:
        try:
            docs = publish_dbt_docs(p)
        except (DbtDocsError, RuntimeError) as exc:
            error = str(exc)
    data = read_report_data(p)
    reports = {lang: build_report(p, lang, data=data) for lang in ("zh", "en")}
    return EvaluatorOutputs(reports, docs, error)
