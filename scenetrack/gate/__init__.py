"""The quality gate: Great Expectations suites that must pass before the marts are published.

How a run works, and why:

1. Every ``expectations/<model>.json`` is a GX ExpectationSuite in GX's own JSON shape. Its
   top-level ``meta.batch_query`` is the SQL whose result the suite checks (a string, or a list
   of lines for long queries), so the file says *what* it checks as well as *how*. Each
   expectation carries ``meta.severity`` (``error`` blocks publication, ``warn`` is recorded and
   shown but does not block) and ``meta.notes`` (why the rule exists), which the summary and the
   audit table repeat.
2. The work database is opened **read-only** and each suite's batch query is read into a
   pandas DataFrame just before GX validates it (one frame in memory at a time). GX 1.24's SQL
   datasource over duckdb-engine returns empty metrics (every expectation "passes" on
   nothing), so GX validates the DataFrames through its pandas datasource instead. As a guard
   against that failure mode coming back by another route, each result's ``element_count`` is
   compared with the rows the query returned.
3. What is read is cut to what is checked, and typed so GX compares vectorised (this took the
   gate at 1M events from ~23 s and 2.5 GiB to ~5.6 s and 0.95 GiB; expectations/README.md
   has the figures): only the columns the expectations name (:func:`columns_needed`, wrapped
   around the batch query by :func:`projected_query`), fetched as Arrow; DATE as
   ``datetime64[ns]`` and integers as ``int64`` (:func:`gx_dtypes`), with date bounds
   handed to GX as midnights (:func:`gx_bound`); no per-row Python on the way. (The
   PostgreSQL reader, ``scenetrack/postgres/gate.py``, reads whole batches; the typing
   applies to its frames too.) At 10M events memory is the limit (6.1 GiB before, now
   ~3.8 GiB): batches are streamed out of DuckDB and copied out of its memory
   (:func:`_read_frame`), repetitive string columns that only plain checks read become
   categoricals (:func:`categorical_columns`, :func:`gx_categoricals`), and DuckDB's and
   Arrow's caches are handed back between suites.
4. Values known only at run time are GX *suite parameters* (``{"$PARAMETER": "run_date"}`` in
   a suite), passed to ``Checkpoint.run(expectation_parameters=...)``: ``run_date`` (ISO date),
   ``run_year``, ``fresh_since`` and the volume floors. The suites stay static and honest;
   nothing is string-substituted into SQL.
5. One Checkpoint per suite (each batch is a different DataFrame); GX Data Docs of the whole run
   are rendered once at the end as a static site under ``gate_dir/data_docs``. The GX context
   is ephemeral: nothing but the Data Docs is written, no state carries over between runs, and
   the site always shows exactly the latest run. History lives in ``audit.gate_results``.
6. After a passing gate, the suites over tables that grow with history are validated over the
   rows dbt wrote since (their row-wise checks) and as a row count (the rest):
   :mod:`~scenetrack.gate.scope` says when that gives the full run's verdicts and when every
   row is read instead.
7. Only after all of that (the read-only session closed) is the work database opened
   **read-write** (DuckDB allows one writer process) to store every outcome in
   ``audit.gate_results``.

``import great_expectations`` takes seconds, so it happens inside functions only: the CLI, the
Airflow DAG parser and ``scenetrack status`` import this module without paying for it.

The package, by job (each module imports only those listed before it):

- :mod:`~scenetrack.gate.types`: the verdicts (:class:`ExpectationOutcome`,
  :class:`GateResult`, :func:`passed`) and :class:`GateConfigError`;
- :mod:`~scenetrack.gate.suites`: the suite files, suite parameters, volume floors and their
  explanations, the freshness date, the knobs;
- :mod:`~scenetrack.gate.scope`: which rows a run validates (point 6);
- :mod:`~scenetrack.gate.frames`: the batches as pandas DataFrames (point 3), read from DuckDB;
- :mod:`~scenetrack.gate.validate`: GX (points 4 and 5), outcomes, city attribution;
- :mod:`~scenetrack.gate.audit`: ``audit.gate_results`` (point 7) and the last run's outcome;
- this module: :func:`run_gate` and the names above, re-exported. Where the batches come from
  and where the outcomes go is a :class:`GateWarehouse` handed in by the caller (DuckDB when
  none is): PostgreSQL's, ``scenetrack.postgres.gate.PgGateWarehouse``, imports from this
  package, never the other way round, and hands GX each batch as a query
  (:class:`~scenetrack.gate.frames.SqlBatch`) that GX's SQL datasource validates in place.

Setting one of the names re-exported here on ``scenetrack.gate`` (a test's monkeypatch of
``ARROW_BATCH_ROWS``, ``gx_categoricals``, ``VOLUME_MAX_DROP``) sets it in the submodules
that read it too, so it works as it did when the gate was one module.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

from scenetrack.config import EXPECTATIONS_DIR
from scenetrack.faults import checkpoint
from scenetrack.gate import audit, frames, scope, suites, types, validate
from scenetrack.gate.audit import (
    GATE_RESULT_COLUMNS,
    GATE_RESULTS_DDL,
    _store,
    gate_result_rows,
    insert_gate_results_sql,
    last_gate_outcome,
)
from scenetrack.gate.frames import (
    _EXACT_FLOAT_INT,
    ARROW_BATCH_ROWS,
    CATEGORICAL_EXPECTATIONS,
    CATEGORICAL_MAX_DISTINCT_SHARE,
    CATEGORICAL_SAMPLE_ROWS,
    COLUMN_KWARGS,
    DUCKDB_CACHE_MAX_BYTES,
    ISO_DATE,
    ROW_LEVEL_PREFIXES,
    BatchReader,
    _arrow_types_mapper,
    _duckdb_batches,
    _duckdb_cached_bytes,
    _heap_frozen,
    _midnight,
    _owned_array,
    _owned_schema,
    _quote,
    _read_frame,
    _release_arrow_memory,
    _repetitive,
    _strip_sql,
    _without_batch_fingerprint,
    categorical_columns,
    columns_needed,
    gx_bound,
    gx_categoricals,
    gx_dtypes,
    projected_query,
)
from scenetrack.gate.scope import (
    GateScope,
    scope_from_runs,
    scope_record,
    scoped_specs,
    suites_digest,
)
from scenetrack.gate.suites import (
    _KNOBS,
    ROW_COUNT_EXPECTATIONS,
    SuiteSpec,
    _volume_table,
    explain_volume_guards,
    freshness_date,
    load_suite_specs,
    suite_parameters,
    volume_floors,
)
from scenetrack.gate.types import (
    SEVERITIES,
    ExpectationOutcome,
    GateConfigError,
    GateResult,
    passed,
)
from scenetrack.gate.validate import (
    ATTRIBUTION_MAX_ROWS,
    DATA_DOCS_SITE,
    DATASOURCE_NAME,
    SAMPLE_SIZE,
    _cities_of_failures,
    _column_of,
    _dumps,
    _exception_message,
    _found_unexpected_rows,
    _gx,
    _gx_suite,
    _jsonable,
    _outcome,
    _query_failed,
    _row_count_guard,
    _run_checkpoint,
    _validate,
)

__all__ = [
    "ARROW_BATCH_ROWS",
    "ATTRIBUTION_MAX_ROWS",
    "BatchReader",
    "CATEGORICAL_EXPECTATIONS",
    "CATEGORICAL_MAX_DISTINCT_SHARE",
    "CATEGORICAL_SAMPLE_ROWS",
    "COLUMN_KWARGS",
    "DATASOURCE_NAME",
    "DATA_DOCS_SITE",
    "DUCKDB_CACHE_MAX_BYTES",
    "DuckDBGateWarehouse",
    "ExpectationOutcome",
    "GATE_RESULTS_DDL",
    "GATE_RESULT_COLUMNS",
    "GateConfigError",
    "GateResult",
    "GateScope",
    "GateWarehouse",
    "ISO_DATE",
    "ROW_COUNT_EXPECTATIONS",
    "ROW_LEVEL_PREFIXES",
    "SAMPLE_SIZE",
    "SEVERITIES",
    "SuiteSpec",
    "_EXACT_FLOAT_INT",
    "_arrow_types_mapper",
    "_cities_of_failures",
    "_column_of",
    "_duckdb_batches",
    "_duckdb_cached_bytes",
    "_dumps",
    "_exception_message",
    "_found_unexpected_rows",
    "_gx",
    "_gx_suite",
    "_heap_frozen",
    "_jsonable",
    "_midnight",
    "_outcome",
    "_owned_array",
    "_owned_schema",
    "_query_failed",
    "_quote",
    "_read_frame",
    "_release_arrow_memory",
    "_repetitive",
    "_row_count_guard",
    "_run_checkpoint",
    "_store",
    "_strip_sql",
    "_validate",
    "_volume_table",
    "_without_batch_fingerprint",
    "categorical_columns",
    "columns_needed",
    "explain_volume_guards",
    "freshness_date",
    "gate_result_rows",
    "gx_bound",
    "gx_categoricals",
    "gx_dtypes",
    "insert_gate_results_sql",
    "last_gate_outcome",
    "load_suite_specs",
    "passed",
    "projected_query",
    "run_gate",
    "suite_parameters",
    "volume_floors",
]
"""Every name ``scenetrack/gate.py`` had, re-exported (tests and benchmarks import private
ones too)."""

_SUBMODULES = (types, suites, scope, frames, validate, audit)
_MISSING = object()


def __getattr__(name: str) -> Any:
    if name in _KNOBS:  # VOLUME_MAX_DROP, FRESHNESS_DAYS: read from the settings when asked
        return getattr(suites, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(ModuleType):
    """``scenetrack.gate`` itself: setting (or deleting) a name on it does the same in every
    submodule that holds the same object under that name, and a knob (:data:`suites._KNOBS`)
    in :mod:`~scenetrack.gate.suites`, which reads it."""

    def _readers(self, name: str) -> list[ModuleType]:
        here = self.__dict__.get(name, _MISSING)
        return [
            m
            for m in _SUBMODULES
            if (name in _KNOBS and m is suites)
            or (here is not _MISSING and m.__dict__.get(name, _MISSING) is here)
        ]

    def __setattr__(self, name: str, value: Any) -> None:
        readers = self._readers(name)
        super().__setattr__(name, value)
        for module in readers:
            setattr(module, name, value)

    def __delattr__(self, name: str) -> None:
        readers = self._readers(name)
        super().__delattr__(name)
        for module in readers:
            if name in module.__dict__:
                delattr(module, name)


class GateWarehouse(Protocol):
    """Where a gate run reads its batches and stores its outcomes."""

    def batches(
        self, specs: list[SuiteSpec], run_date: date, baseline_counts: dict[str, int] | None
    ) -> AbstractContextManager[tuple[list[SuiteSpec], BatchReader, dict[str, Any]]]:
        """One consistent read of the warehouse: the suites in the order to validate them, a
        reader of one suite's batch (a DataFrame, or its query's error message) and the suite
        parameters."""
        ...

    def store(
        self,
        run_id: str,
        run_at: datetime,
        outcomes: list[ExpectationOutcome],
        fingerprint: dict[str, Any],
    ) -> None:
        """Store the run's outcomes in ``audit.gate_results`` and its verdict with
        ``fingerprint`` in ``audit.gate_runs``, in one transaction."""
        ...


@dataclass(frozen=True)
class DuckDBGateWarehouse:
    """The work database: read-only while GX validates (:func:`frames._duckdb_batches`, the
    largest batch first), read-write only to store (:func:`audit._store`)."""

    work_db: Path

    def batches(
        self, specs: list[SuiteSpec], run_date: date, baseline_counts: dict[str, int] | None
    ) -> AbstractContextManager[tuple[list[SuiteSpec], BatchReader, dict[str, Any]]]:
        return _duckdb_batches(self.work_db, specs, run_date, baseline_counts)

    def store(
        self,
        run_id: str,
        run_at: datetime,
        outcomes: list[ExpectationOutcome],
        fingerprint: dict[str, Any],
    ) -> None:
        _store(self.work_db, run_id, run_at, outcomes, fingerprint)


def run_gate(
    work_db: Path,
    gate_dir: Path,
    run_id: str,
    run_date: date | None = None,
    suites_dir: Path = EXPECTATIONS_DIR,
    baseline_counts: dict[str, int] | None = None,
    warehouse: GateWarehouse | None = None,
    fingerprint: dict[str, Any] | None = None,
    passing_runs: list[tuple[datetime, dict[str, Any]]] | None = None,
    full: bool = False,
) -> GateResult:
    """Validate every suite; render GX Data Docs as a static site under ``gate_dir/data_docs``;
    then store every outcome in the work DB table ``audit.gate_results`` (run_id, run_at, suite,
    expectation, column_name, severity, success, observed_value, unexpected_count,
    unexpected_sample, notes): schema/table created if missing, rows appended.

    ``run_date`` (default: today) is the upper bound for every date the data may carry: a date
    after the run date is a typo or a wrong column, never a fact. The caller holds the writer
    lock; ``baseline_counts`` (rows per mart in the published version) arm the volume guard.
    This function opens the work DB read-only first and read-write only at the end, never
    both at once. ``run_at`` is stored as naive UTC.

    ``warehouse``: validate another warehouse instead (``SCENETRACK_WAREHOUSE``: the caller
    passes ``scenetrack.postgres.gate.PgGateWarehouse``): batches are validated in it and outcomes
    stored in its ``audit.gate_results``; ``work_db`` is unused. Default: the work database.
    ``fingerprint``: what the caller saw under the writer lock before the gate read anything
    (scenetrack.audited.fingerprint), stored with the verdict in ``audit.gate_runs`` so that
    publish can refuse anything else; an empty one when not given (nothing publishes it).
    ``passing_runs``: the passing gate runs so far (``scenetrack.audited.passing_runs``):
    with them, the suites over growing tables read only the rows changed since the last one
    (:mod:`scenetrack.gate.scope`) unless ``full``; without them every row is read. The
    run's scope, suites digest and run date are stored with the fingerprint.
    """
    if warehouse is None:
        warehouse = DuckDBGateWarehouse(Path(work_db))
    fingerprint = fingerprint if fingerprint is not None else {}
    run_date = run_date or date.today()
    run_at = datetime.now(UTC).replace(tzinfo=None)
    specs = load_suite_specs(suites_dir)
    digest = suites_digest(specs)
    scope = (
        GateScope(None, "every row")
        if passing_runs is None
        else scope_from_runs(passing_runs, digest, run_date, asked_full=full)
    )
    fingerprint = {**fingerprint, "gate": scope_record(scope, digest, run_date)}
    docs_dir = Path(gate_dir) / "data_docs"
    with warehouse.batches(scoped_specs(specs, scope), run_date, baseline_counts) as batches:
        in_order, read, params = batches
        outcomes, index = _validate(in_order, read, params, docs_dir, run_id, run_at)
    rank = {spec.name: i for i, spec in enumerate(specs)}
    outcomes.sort(key=lambda o: rank[o.suite])  # stable: suites by name, as in the files
    outcomes = explain_volume_guards(specs, outcomes, baseline_counts)
    checkpoint("gate:before_store")
    warehouse.store(run_id, run_at, outcomes, fingerprint)
    return GateResult(
        run_id=run_id,
        run_date=run_date,
        outcomes=outcomes,
        data_docs_index=index,
        as_of=freshness_date(run_date),
        scope=scope.why,
    )


sys.modules[__name__].__class__ = _Package
