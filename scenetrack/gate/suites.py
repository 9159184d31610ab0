"""The suite files (``expectations/*.json``) as read from disk, and the run-time values they
refer to: suite parameters, the volume guard's floors and how a guard's verdict is explained,
the date freshness is measured against, and the two knobs (``VOLUME_MAX_DROP``,
``FRESHNESS_DAYS``) read from the settings when asked."""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from scenetrack.config import EXPECTATIONS_DIR, settings
from scenetrack.gate.types import SEVERITIES, ExpectationOutcome, GateConfigError

_KNOBS = {"VOLUME_MAX_DROP": "volume_max_drop", "FRESHNESS_DAYS": "freshness_days"}
"""Module attributes read from the settings when asked (PEP 562; setting one overrides it).
``VOLUME_MAX_DROP`` (``SCENETRACK_VOLUME_MAX_DROP``), volume guard: a mart may not lose more
than this share of the rows it had in the published version (a silent half-file or a broken
join shows up as a sudden drop). ``FRESHNESS_DAYS`` (``SCENETRACK_FRESHNESS_DAYS``): a city
counts as reporting when its newest report is at most this many days old."""


def __getattr__(name: str) -> Any:
    if name in _KNOBS:
        return getattr(settings(), _KNOBS[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _knob(name: str) -> Any:
    """A knob as this module's attribute: an override set on the module (or on
    ``scenetrack.gate``, which sets it here too), else the setting."""
    return getattr(sys.modules[__name__], name)


@dataclass(frozen=True)
class SuiteSpec:
    """A suite file as read from disk, before GX sees it."""

    name: str
    path: Path
    batch_query: str
    id_columns: tuple[str, ...]
    expectations: tuple[dict[str, Any], ...]
    meta: dict[str, Any]
    # a suite validated in two parts (scenetrack.gate.scope): "changed_rows" or "whole_batch";
    # outcomes keep the suite's name, GX's objects take gx_name
    part: str | None = None

    @property
    def gx_name(self) -> str:
        """The name of this suite's (or part's) GX suite, asset, validation and checkpoint."""
        return self.name if self.part is None else f"{self.name}.{self.part}"


def load_suite_specs(suites_dir: Path = EXPECTATIONS_DIR) -> list[SuiteSpec]:
    """Read and structurally check every ``*.json`` suite in ``suites_dir`` (sorted by name).

    Checks what GX would otherwise forgive silently: GX's ``ExpectationSuite`` *logs and drops*
    an invalid expectation, which would make the gate check less than the file promises. So
    every expectation needs a ``type``, ``kwargs`` and a known ``meta.severity``, and the suite
    needs ``meta.batch_query``; the name must match the file name.
    """
    files = sorted(Path(suites_dir).glob("*.json"))
    if not files:
        raise GateConfigError(f"no suite files (*.json) in {suites_dir}")
    specs = []
    for f in files:
        try:
            raw = json.loads(f.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise GateConfigError(f"{f}: not valid JSON: {exc}") from exc
        name = raw.get("name")
        if name != f.stem:
            raise GateConfigError(f"{f}: suite name {name!r} must equal the file name {f.stem!r}")
        meta = dict(raw.get("meta") or {})
        query = meta.get("batch_query")
        if isinstance(query, list) and all(isinstance(line, str) for line in query):
            query = "\n".join(query)  # a list of lines keeps long SQL readable in JSON
        if not isinstance(query, str) or not query.strip():
            raise GateConfigError(f"{f}: meta.batch_query (the SQL the suite checks) is missing")
        meta["batch_query"] = query
        exps = raw.get("expectations")
        if not isinstance(exps, list) or not exps:
            raise GateConfigError(f"{f}: no expectations")
        for i, e in enumerate(exps):
            sev = (e.get("meta") or {}).get("severity")
            if not isinstance(e.get("type"), str) or not isinstance(e.get("kwargs"), dict):
                raise GateConfigError(f"{f}: expectation #{i} needs 'type' and 'kwargs'")
            if sev not in SEVERITIES:
                raise GateConfigError(
                    f"{f}: expectation #{i} ({e['type']}) meta.severity must be one of "
                    f"{sorted(SEVERITIES)}, got {sev!r}"
                )
        specs.append(
            SuiteSpec(
                name=name,
                path=f,
                batch_query=query,
                id_columns=tuple(meta.get("id_columns") or ()),
                expectations=tuple(exps),
                meta=meta,
            )
        )
    return specs


def volume_floors(
    baseline_counts: dict[str, int] | None, max_drop: float | None = None
) -> dict[str, int]:
    """``min_rows_<table>`` parameters: the fewest rows each mart may have after this run
    (``max_drop``: default :data:`VOLUME_MAX_DROP`, read when called).

    With no published version yet (no baseline) every floor is 0: the first publish is free.
    """
    max_drop = _knob("VOLUME_MAX_DROP") if max_drop is None else max_drop
    floors: dict[str, int] = {}
    for f in EXPECTATIONS_DIR.glob("*.json"):
        for name in re.findall(r'"\$PARAMETER":\s*"(min_rows_\w+)"', f.read_text()):
            table = name.removeprefix("min_rows_")
            floors[name] = math.floor((baseline_counts or {}).get(table, 0) * (1 - max_drop))
    return floors


def _volume_table(expectation: dict[str, Any]) -> str | None:
    """The mart a volume-guard expectation guards (its ``min_rows_<table>`` parameter)."""
    bound = expectation["kwargs"].get("min_value")
    name = bound.get("$PARAMETER") if isinstance(bound, dict) else None
    if isinstance(name, str) and name.startswith("min_rows_"):
        return name.removeprefix("min_rows_")
    return None


def explain_volume_guards(
    specs: Sequence[SuiteSpec],
    outcomes: Sequence[ExpectationOutcome],
    baseline_counts: dict[str, int] | None,
    max_drop: float | None = None,
) -> list[ExpectationOutcome]:
    """``outcomes`` with every volume guard's observed value saying what it compared: the
    rows now, the floor, the published baseline it comes from and the knob that sets it
    (``max_drop``: default :data:`VOLUME_MAX_DROP`, read when called)."""
    max_drop = _knob("VOLUME_MAX_DROP") if max_drop is None else max_drop
    # a suite's k-th row-count outcome is its k-th row-count expectation: row counts keep
    # their order when a scoped run validates the suite in parts (scenetrack.gate.scope)
    guards = {
        (spec.name, k): _volume_table(e)
        for spec in specs
        for k, e in enumerate(e for e in spec.expectations if e["type"] in ROW_COUNT_EXPECTATIONS)
    }
    explained, seen = [], dict.fromkeys((s.name for s in specs), 0)
    for o in outcomes:
        if o.expectation not in ROW_COUNT_EXPECTATIONS:
            explained.append(o)
            continue
        k = seen.get(o.suite, 0)
        seen[o.suite] = k + 1
        table = guards.get((o.suite, k))
        if table is None:
            explained.append(o)
            continue
        baseline = (baseline_counts or {}).get(table)
        if baseline is None:
            text = f"{o.observed_value} rows; no published version yet, so no floor"
        else:
            floor = math.floor(baseline * (1 - max_drop))
            text = (
                f"{o.observed_value} rows; floor {floor} = the {baseline} rows of the "
                f"published version less {max_drop:.0%} (knob: SCENETRACK_VOLUME_MAX_DROP="
                f"{max_drop:g})"
            )
        explained.append(replace(o, observed_value=text))
    return explained


def freshness_date(run_date: date) -> date:
    """The date freshness is measured against: the evaluation's as-of date when one is pinned
    (``SCENETRACK_REFERENCE_DATE``, the marts' ``reference_date``: one date for marts, gate and
    report), else the run date. Dates are still bounded by the run date: a report dated after
    the as-of date is a later report of a past evaluation (the demo's corrections arrive in
    January for data as of 31 December), a date after the run date is a typo."""
    from scenetrack.config import REFERENCE_DATE_ENV, as_of_date

    as_of, basis = as_of_date()
    return as_of if basis == REFERENCE_DATE_ENV else run_date


def suite_parameters(
    run_date: date, baseline_counts: dict[str, int] | None = None
) -> dict[str, Any]:
    """The run-time values suites refer to with ``{"$PARAMETER": name}``.

    ``fresh_since`` is the oldest last-report date that counts as fresh; ``min_rows_<table>``
    are the volume floors against the published version (see :func:`volume_floors`). City
    codes are no parameter: that every code is in the city dimension is dbt's relationships
    test, which runs before the gate.
    """
    return {
        "run_date": run_date.isoformat(),
        "run_year": run_date.year,
        "fresh_since": (
            freshness_date(run_date) - timedelta(days=_knob("FRESHNESS_DAYS"))
        ).isoformat(),
        **volume_floors(baseline_counts),
    }


ROW_COUNT_EXPECTATIONS = frozenset(
    {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
)
"""Table-level expectations that only need the number of rows, not any column."""
