"""Gate on what changed: which rows a gate run validates, and why.

A suite whose file names a ``meta.scope_column`` (the models' ``dbt_run_seq``: the number of
the dbt run that last wrote the row) is validated in two parts once a gate has passed:

- ``changed_rows``: its row-wise checks over the rows dbt wrote after the run the last passing
  gate validated (``<scope_column> > N``), the same rule as the dbt tests' ``where`` config
  (``dbt_project/macros/get_where_subquery.sql``);
- ``whole_batch``: every other check over the whole batch; for the lifecycle, events and
  transitions suites that is the row counts (the volume guard), read as a count.

Why a row-wise check on the changed rows gives the verdict a full read would give:

- a row-wise check (:data:`ROW_WISE_PREFIXES`, no ``mostly``, no uniqueness) decides each row
  on that row alone, so a row can only start failing when some run rewrites it, and every run
  stamps the rows it writes with its number;
- the rows numbered up to N existed when the gate that validated run N passed, and passed it
  or an earlier one (induction from the first gate, which reads every row); a failing gate
  records nothing that narrows the next one, so its rows stay in scope until a gate passes;
- the run-time bounds only widen: ``run_date`` and ``run_year`` are upper bounds and never go
  back (a run date before the last passing gate's makes the run full), and a change to any
  suite file makes it full (the old rows never met the new rule).

What a scoped run does not do: report the ``warn`` failures of rows it did not read (a warning
is shown by the run that read the row, and by every full run). A full run happens when asked
(``scenetrack run --full``), for the first gate, after a suite or run-date change, and when the
last passing full run is older than ``SCENETRACK_GATE_FULL_EVERY_HOURS`` (the periodic audit).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scenetrack.gate.suites import ROW_COUNT_EXPECTATIONS, SuiteSpec
from scenetrack.gate.types import GateConfigError

ROW_WISE_PREFIXES = (
    "expect_column_values_to_",
    "expect_column_pair_values_",
    "expect_multicolumn_sum_to_equal",
    "expect_select_column_values_to_be_unique_within_record",
)
"""Expectation families that decide every row on its own values (GX's map metrics)."""

ACROSS_ROWS = frozenset({"expect_column_values_to_be_unique"})
"""Map expectations whose verdict for a row depends on the other rows."""

CHANGED_ROWS = "changed_rows"
WHOLE_BATCH = "whole_batch"


def row_wise(expectation: dict[str, Any]) -> bool:
    """Whether a check decides each row on that row alone (so old rows keep their verdict)."""
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if kind in ACROSS_ROWS or not kind.startswith(ROW_WISE_PREFIXES):
        return False
    mostly = kwargs.get("mostly")
    return mostly is None or mostly == 1  # a share of the rows is a property of them all


@dataclass(frozen=True)
class GateScope:
    """Which rows a gate run validates: every row (``since`` None) or the rows of the scoped
    suites that dbt runs numbered after ``since`` wrote; ``why`` says which and why."""

    since: int | None
    why: str

    @property
    def full(self) -> bool:
        return self.since is None


def split(spec: SuiteSpec, since: int) -> list[SuiteSpec]:
    """``spec`` as its ``changed_rows`` and ``whole_batch`` parts (a part with no check is
    left out); a suite without ``meta.scope_column`` is returned as it is."""
    column = spec.meta.get("scope_column")
    if not column:
        return [spec]
    if not isinstance(column, str) or not column.isidentifier():
        raise GateConfigError(f"{spec.path}: meta.scope_column must be a column name")
    rows = tuple(e for e in spec.expectations if row_wise(e))
    rest = tuple(e for e in spec.expectations if not row_wise(e))
    parts = []
    if rows:
        query = (
            f"select * from (\n{spec.batch_query.strip().rstrip(';')}\n) as whole_batch\n"
            f'where "{column}" > {int(since)}'
        )
        meta = {**spec.meta, "batch_query": query, "scope": f"{column} > {int(since)}"}
        parts.append(
            replace(spec, batch_query=query, expectations=rows, meta=meta, part=CHANGED_ROWS)
        )
    if rest:
        counts_only = all(e["type"] in ROW_COUNT_EXPECTATIONS for e in rest)
        meta = {k: v for k, v in spec.meta.items() if not (counts_only and k == "city_column")}
        parts.append(
            replace(
                spec,
                expectations=rest,
                meta=meta,
                id_columns=() if counts_only else spec.id_columns,
                part=WHOLE_BATCH,
            )
        )
    return parts


def scoped_specs(specs: Sequence[SuiteSpec], scope: GateScope) -> list[SuiteSpec]:
    """The suites a run validates: as they are for a full run, else split (:func:`split`)."""
    if scope.since is None:
        return list(specs)
    return [part for spec in specs for part in split(spec, scope.since)]


def suites_digest(specs: Sequence[SuiteSpec]) -> str:
    """SHA-256 over every suite file's name and bytes: a changed rule makes the next run full."""
    h = hashlib.sha256()
    for spec in sorted(specs, key=lambda s: s.name):
        h.update(spec.name.encode() + b"\0" + spec.path.read_bytes() + b"\0")
    return h.hexdigest()


@dataclass(frozen=True)
class PassedGate:
    """What a passing gate run recorded about itself (``audit.gate_runs.fingerprint``)."""

    run_at: datetime
    dbt_run_seq: int | None
    suites_sha256: str | None
    run_date: date | None
    full: bool


def passed_gate(run_at: datetime, fingerprint: dict[str, Any]) -> PassedGate:
    """A passing run's record, read from its stored fingerprint (older runs lack the ``gate``
    part: they count as full runs of unknown suites, so the next run is full)."""
    gate = fingerprint.get("gate") or {}
    seq = fingerprint.get("dbt_run_seq")
    day = gate.get("run_date")
    return PassedGate(
        run_at=run_at,
        dbt_run_seq=None if seq is None else int(seq),
        suites_sha256=gate.get("suites_sha256"),
        run_date=date.fromisoformat(day) if day else None,
        full=bool(gate.get("full", True)),
    )


def choose_scope(
    last_passed: PassedGate | None,
    last_full_passed_at: datetime | None,
    digest: str,
    run_date: date,
    now: datetime,
    full_every: timedelta,
    asked_full: bool = False,
) -> GateScope:
    """Every row or only the changed ones, by the rules of this module's docstring."""
    if asked_full:
        return GateScope(None, "every row: a full validation was asked for")
    if last_passed is None:
        return GateScope(None, "every row: no gate has passed yet")
    if last_passed.dbt_run_seq is None:
        return GateScope(None, "every row: the last passing gate validated no dbt run")
    if last_passed.suites_sha256 != digest:
        return GateScope(None, "every row: the suites changed since the last passing gate")
    if last_passed.run_date is None or run_date < last_passed.run_date:
        return GateScope(None, "every row: the run date is before the last passing gate's")
    if full_every <= timedelta(0):
        return GateScope(None, "every row: SCENETRACK_GATE_FULL_EVERY_HOURS is 0")
    if last_full_passed_at is None or now - last_full_passed_at >= full_every:
        hours = full_every.total_seconds() / 3600
        return GateScope(
            None, f"every row: the periodic full validation (every {hours:g} h) is due"
        )
    return GateScope(
        last_passed.dbt_run_seq,
        f"rows dbt wrote after run {last_passed.dbt_run_seq} (the last passing gate's)",
    )


def scope_from_runs(
    passing: Sequence[tuple[datetime, dict[str, Any]]],
    digest: str,
    run_date: date,
    asked_full: bool = False,
) -> GateScope:
    """:func:`choose_scope` from the passing runs' times and stored fingerprints, newest first
    (``scenetrack.audited.passing_runs``), now and ``SCENETRACK_GATE_FULL_EVERY_HOURS``."""
    from scenetrack.config import settings

    records = [passed_gate(run_at, fp) for run_at, fp in passing]
    return choose_scope(
        records[0] if records else None,
        next((r.run_at for r in records if r.full), None),
        digest,
        run_date,
        datetime.now(UTC).replace(tzinfo=None),
        timedelta(hours=settings().gate_full_every_hours),
        asked_full=asked_full,
    )


def scope_record(scope: GateScope, digest: str, run_date: date) -> dict[str, Any]:
    """The ``gate`` part of a run's stored fingerprint, read back by :func:`passed_gate`."""
    return {
        "suites_sha256": digest,
        "run_date": run_date.isoformat(),
        "full": scope.full,
        "since": scope.since,
    }
