"""The gate's verdicts: one expectation's outcome, one run's result, and the rule that decides
whether publication may go ahead (:func:`passed`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

SEVERITIES: dict[str, str] = {"error": "critical", "warn": "warning"}
"""Our severities and the GX ``FailureSeverity`` each maps to (shown in Data Docs)."""


class GateConfigError(ValueError):
    """A suite file is malformed; the gate refuses to run rather than check less than it says."""


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's verdict, flattened for the summary, the audit table and the CLI.

    ``observed_value`` is a readable rendering of what GX saw (an aggregate value, or "k of n
    rows unexpected"); ``unexpected_sample`` is JSON of up to :data:`SAMPLE_SIZE` offending
    values together with the suite's key columns, so an operator can find the rows.
    """

    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    unexpected_sample: str | None
    notes: str | None
    # The cities of every unexpected row of a failing ``error`` check, when its suite names a
    # city column (``meta.city_column``) and GX could list the rows; None: not attributable
    # to cities (a row count, a reference table, too many rows), so it blocks everyone.
    cities: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        """``suite: expectation(column)``, the name an operator searches for."""
        col = f"({self.column})" if self.column else ""
        return f"{self.suite}: {self.expectation}{col}"


@dataclass(frozen=True)
class GateResult:
    """Everything one gate run decided; ``passed`` is what publication depends on."""

    run_id: str
    run_date: date
    outcomes: list[ExpectationOutcome]
    data_docs_index: Path | None
    # submissions this gate held back before it passed (per-city holdback, scenetrack.holdback;
    # Hold.to_dict() each): someone must be told
    held_back: tuple[dict, ...] = ()
    as_of: date | None = None  # the date freshness was measured against (freshness_date)
    scope: str | None = None  # which rows it validated, and why (scenetrack.gate.scope)

    @property
    def passed(self) -> bool:
        """True when no ``error`` expectation failed (warnings never block)."""
        return passed(self.outcomes)

    @property
    def failures(self) -> list[ExpectationOutcome]:
        """Failing ``error`` expectations: each one blocks publication."""
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failing ``warn`` expectations: recorded and reported, never blocking."""
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]

    @property
    def failing_cities(self) -> dict[str, list[str]] | None:
        """City -> the failing checks its rows fail, when every failure can be put on cities;
        None when some failure belongs to no city (it blocks the whole publish)."""
        if not self.failures or any(o.cities is None for o in self.failures):
            return None
        by_city: dict[str, list[str]] = {}
        for o in self.failures:
            for city in o.cities or ():
                by_city.setdefault(city, []).append(o.label)
        return by_city

    def summary(self) -> str:
        """One readable block for the CLI and the Airflow task log.

        Names every failing expectation (errors first, then warnings) with what GX observed,
        a sample of the offending rows and why the rule exists, then where the Data Docs are.
        """
        verdict = "PASSED" if self.passed else "FAILED (publication blocked)"
        suites = sorted({o.suite for o in self.outcomes})
        lines = [
            f"Quality gate {self.run_id} (run date {self.run_date.isoformat()}"
            + (f", data as of {self.as_of.isoformat()}" if self.as_of else "")
            + f"): {verdict}",
            f"  {len(self.outcomes)} checks in {len(suites)} suites; "
            f"{len(self.failures)} error failure(s), {len(self.warnings)} warning(s)",
        ]
        if self.scope:
            lines.append(f"  validated: {self.scope}")
        for tag, group in (("ERROR", self.failures), ("WARN", self.warnings)):
            for o in group:
                lines.append(f"  {tag} {o.label}")
                if o.observed_value is not None:
                    lines.append(f"      observed: {o.observed_value}")
                if o.cities:
                    lines.append(f"      cities:   {', '.join(o.cities)}")
                if o.unexpected_sample:
                    lines.append(f"      sample:   {o.unexpected_sample}")
                if o.notes:
                    lines.append(f"      why:      {o.notes}")
        if self.data_docs_index is not None:
            lines.append(f"  Data Docs: {self.data_docs_index.as_uri()}")
        failed = sorted({o.suite for o in (*self.failures, *self.warnings)})
        lines.append(
            "  Runbook: "
            + (
                ", ".join(f"expectations/RUNBOOK.md#{s}" for s in failed)
                or "expectations/README.md"
            )
        )
        return "\n".join(lines)


def passed(outcomes: Sequence[ExpectationOutcome]) -> bool:
    """True when no ``error`` expectation failed (the rule :attr:`GateResult.passed` states)."""
    return not any(not o.success and o.severity == "error" for o in outcomes)
