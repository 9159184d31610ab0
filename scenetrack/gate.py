"""The quality gate: Great Expectations suites that must pass before the marts are published.

How a run works, and why:

1. Every ``expectations/<model>.json`` is a GX ExpectationSuite in GX's own JSON shape. Its
   top-level ``meta.batch_query`` is the SQL whose result the suite checks (a string, or a list
   of lines for long queries), so the file says *what* it checks as well as *how*. Each
   expectation carries ``meta.severity`` (``error`` blocks publication, ``warn`` is recorded and
   shown but does not block) and ``meta.notes`` (why the rule exists), which the summary and the
   audit table repeat.
2. The work database is opened **read-only**, every batch query is run into a pandas DataFrame,
   and the connection is closed. GX 1.24's SQL datasource over duckdb-engine returns empty
   metrics (every expectation "passes" on nothing), so GX validates the DataFrames through its
   pandas datasource instead. As a guard against that failure mode coming back by another
   route, each result's ``element_count`` is compared with the rows the query returned.
3. Values known only at run time are GX *suite parameters* (``{"$PARAMETER": "run_date"}`` in
   a suite), passed to ``Checkpoint.run(expectation_parameters=...)``: ``run_date`` (ISO date),
   ``run_year`` and ``dim_city_codes`` (read from ``marts.dim_city`` in the same read-only
   session). The suites stay static and honest; nothing is string-substituted into SQL.
4. One Checkpoint per suite (each batch is a different DataFrame) with ``UpdateDataDocsAction``
   renders GX Data Docs as a static site under ``gate_dir/data_docs``. The GX context is
   ephemeral: nothing but the Data Docs is written, no state carries over between runs, and the
   site always shows exactly the latest run. History lives in ``audit.gate_results``.
5. Only after all of that is the work database opened **read-write** (DuckDB allows one writer
   process) to store every outcome in ``audit.gate_results``.

``import great_expectations`` takes seconds, so it happens inside functions only: the CLI, the
Airflow DAG parser and ``scenetrack status`` import this module without paying for it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from scenetrack.config import EXPECTATIONS_DIR, PgTarget
from scenetrack.faults import checkpoint

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    import pandas as pd

SEVERITIES: dict[str, str] = {"error": "critical", "warn": "warning"}
"""Our severities and the GX ``FailureSeverity`` each maps to (shown in Data Docs)."""

DATA_DOCS_SITE = "scenetrack"
DATASOURCE_NAME = "scenetrack_gate"
SAMPLE_SIZE = 10
"""How many unexpected values (with their row keys) an outcome keeps: enough to find the rows."""

VOLUME_MAX_DROP = float(os.environ.get("SCENETRACK_VOLUME_MAX_DROP", "0.5"))
"""Volume guard: a mart may not lose more than this share of the rows it had in the published
version (a silent half-file or a broken join shows up as a sudden drop)."""

FRESHNESS_DAYS = int(os.environ.get("SCENETRACK_FRESHNESS_DAYS", "90"))
"""Freshness: a city counts as reporting when its newest report is at most this many days old."""

DIM_CITY_CODES_QUERY = "select city_code from marts.dim_city order by city_code"
"""Source of the ``dim_city_codes`` suite parameter (the city reference built by dbt)."""

GATE_RESULTS_DDL = """
create schema if not exists audit;
create table if not exists audit.gate_results (
    run_id varchar not null,
    run_at timestamp not null,
    suite varchar not null,
    expectation varchar not null,
    column_name varchar,
    severity varchar not null,
    success boolean not null,
    observed_value varchar,
    unexpected_count bigint,
    unexpected_sample varchar,
    notes varchar
);
"""


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

    @property
    def passed(self) -> bool:
        """True when no ``error`` expectation failed (warnings never block)."""
        return not self.failures

    @property
    def failures(self) -> list[ExpectationOutcome]:
        """Failing ``error`` expectations: each one blocks publication."""
        return [o for o in self.outcomes if not o.success and o.severity == "error"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        """Failing ``warn`` expectations: recorded and reported, never blocking."""
        return [o for o in self.outcomes if not o.success and o.severity == "warn"]

    def summary(self) -> str:
        """One readable block for the CLI and the Airflow task log.

        Names every failing expectation (errors first, then warnings) with what GX observed,
        a sample of the offending rows and why the rule exists, then where the Data Docs are.
        """
        verdict = "PASSED" if self.passed else "FAILED (publication blocked)"
        suites = sorted({o.suite for o in self.outcomes})
        lines = [
            f"Quality gate {self.run_id} (run date {self.run_date.isoformat()}): {verdict}",
            f"  {len(self.outcomes)} checks in {len(suites)} suites; "
            f"{len(self.failures)} error failure(s), {len(self.warnings)} warning(s)",
        ]
        for tag, group in (("ERROR", self.failures), ("WARN", self.warnings)):
            for o in group:
                lines.append(f"  {tag} {o.label}")
                if o.observed_value is not None:
                    lines.append(f"      observed: {o.observed_value}")
                if o.unexpected_sample:
                    lines.append(f"      sample:   {o.unexpected_sample}")
                if o.notes:
                    lines.append(f"      why:      {o.notes}")
        if self.data_docs_index is not None:
            lines.append(f"  Data Docs: {self.data_docs_index.as_uri()}")
        lines.append("  Runbook: expectations/README.md")
        return "\n".join(lines)


@dataclass(frozen=True)
class SuiteSpec:
    """A suite file as read from disk, before GX sees it."""

    name: str
    path: Path
    batch_query: str
    id_columns: tuple[str, ...]
    expectations: tuple[dict[str, Any], ...]
    meta: dict[str, Any]


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
    baseline_counts: dict[str, int] | None, max_drop: float = VOLUME_MAX_DROP
) -> dict[str, int]:
    """``min_rows_<table>`` parameters: the fewest rows each mart may have after this run.

    With no published version yet (no baseline) every floor is 0: the first publish is free.
    """
    floors: dict[str, int] = {}
    for f in EXPECTATIONS_DIR.glob("*.json"):
        for name in re.findall(r'"\$PARAMETER":\s*"(min_rows_\w+)"', f.read_text()):
            table = name.removeprefix("min_rows_")
            floors[name] = math.floor((baseline_counts or {}).get(table, 0) * (1 - max_drop))
    return floors


def suite_parameters(
    con: Any,
    run_date: date,
    baseline_counts: dict[str, int] | None = None,
    db_errors: tuple[type[Exception], ...] = (duckdb.Error,),
) -> dict[str, Any]:
    """The run-time values suites refer to with ``{"$PARAMETER": name}``.

    ``dim_city_codes`` is empty if the city reference cannot be read, which makes every
    city check fail loudly (and the dim_city suite reports the query error) rather than pass.
    ``fresh_since`` is the oldest last-report date that counts as fresh; ``min_rows_<table>``
    are the volume floors against the published version (see :func:`volume_floors`).
    ``con`` is a DuckDB or a psycopg connection (both have ``execute().fetchall()``);
    ``db_errors`` are the exceptions its driver raises.
    """
    try:
        codes = [r[0] for r in con.execute(DIM_CITY_CODES_QUERY).fetchall()]
    except db_errors:
        codes = []
    return {
        "run_date": run_date.isoformat(),
        "run_year": run_date.year,
        "dim_city_codes": codes,
        "fresh_since": (run_date - timedelta(days=FRESHNESS_DAYS)).isoformat(),
        **volume_floors(baseline_counts),
    }


def _read_frame(con: duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """Run one batch query into a DataFrame GX's pandas engine compares correctly.

    DuckDB hands DATE columns over as ``datetime64[us]``; GX 1.24 only vectorises
    ``datetime64[ns]`` and otherwise compares element-wise against ``datetime.date`` bounds,
    which raises for ``Timestamp``. Converting DATE columns to ``datetime.date`` objects (None
    for NULL) makes ``between`` and column-pair comparisons plain Python date comparisons.
    """

    cur = con.execute(sql)
    date_cols = [d[0] for d in cur.description if str(d[1]) == "DATE"]
    df = cur.df()
    for c in date_cols:  # vectorised (Series.dt.date), NULL stays None
        df[c] = df[c].dt.date.astype(object).where(df[c].notna(), None)
    return df


def _read_batches(
    work_db: Path,
    specs: Sequence[SuiteSpec],
    run_date: date,
    baseline_counts: dict[str, int] | None = None,
) -> tuple[dict[str, pd.DataFrame | str], dict[str, Any]]:
    """All batches and suite parameters from one read-only session, closed before validating.

    A failing query is returned as its error message (a string) so the gate reports it as a
    failed ``error`` outcome instead of crashing halfway without a record.
    """
    if not Path(work_db).exists():
        raise FileNotFoundError(f"work database {work_db} does not exist; run ingest/build first")
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        params = suite_parameters(con, run_date, baseline_counts)
        batches: dict[str, pd.DataFrame | str] = {}
        for spec in specs:
            try:
                batches[spec.name] = _read_frame(con, spec.batch_query)
            except duckdb.Error as exc:
                batches[spec.name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        con.close()
    return batches, params


def _gx():
    """Import GX lazily (slow import) with analytics off (no network).

    GX logs chatty INFO records (docstring registration, temp dirs); when the host process
    (Airflow, dbt) has configured the root logger at INFO they would bury the gate summary,
    so GX's own logger is held at WARNING unless someone configured it explicitly.
    """
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    import great_expectations as gx

    return gx


def _gx_suite(spec: SuiteSpec):
    """Build the GX ExpectationSuite through GX's own configuration classes.

    ``ExpectationConfiguration.to_domain_obj()`` raises on an invalid expectation (unknown type,
    bad kwargs) instead of the suite constructor's log-and-drop; ``meta.severity`` is mapped to
    GX's native severity so Data Docs show it too, and ``meta.notes`` becomes the GX notes.
    """
    from great_expectations.core.expectation_suite import ExpectationSuite
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    expectations = []
    for i, e in enumerate(spec.expectations):
        meta = dict(e.get("meta") or {})
        try:
            cfg = ExpectationConfiguration(
                type=e["type"],
                kwargs=dict(e["kwargs"]),
                meta=meta,
                notes=e.get("notes") or meta.get("notes"),
                severity=e.get("severity") or SEVERITIES[meta["severity"]],
            )
            expectations.append(cfg.to_domain_obj())
        except Exception as exc:  # GX raises several unrelated types for bad configs
            raise GateConfigError(f"{spec.path}: expectation #{i} ({e['type']}): {exc}") from exc
    suite = ExpectationSuite(name=spec.name, expectations=expectations, meta=dict(spec.meta))
    if len(suite.expectations) != len(spec.expectations):
        raise GateConfigError(f"{spec.path}: GX dropped expectations while building the suite")
    return suite


def _column_of(kwargs: dict[str, Any]) -> str | None:
    """The column(s) an expectation is about, as one string."""
    if kwargs.get("column"):
        return str(kwargs["column"])
    if kwargs.get("column_A") and kwargs.get("column_B"):
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ", ".join(map(str, kwargs["column_list"]))
    return None


def _exception_message(exception_info: Any) -> str | None:
    """GX reports exceptions either flat or keyed by metric id; return the first message."""
    if not isinstance(exception_info, dict):
        return None
    if exception_info.get("raised_exception"):
        return str(exception_info.get("exception_message"))
    for v in exception_info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return str(v.get("exception_message"))
    return None


def _jsonable(value: Any) -> Any:
    """NaN becomes null so samples stay valid JSON; everything else falls back to str."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), ensure_ascii=False, default=str)


def _outcome(suite: str, evr: Any) -> ExpectationOutcome:
    """Flatten one GX ExpectationValidationResult into an :class:`ExpectationOutcome`."""
    cfg = evr.expectation_config
    meta = cfg.meta or {}
    res: dict[str, Any] = evr.result or {}
    error = _exception_message(evr.exception_info)
    unexpected = res.get("unexpected_count")
    if error is not None:
        observed: str | None = f"GX could not evaluate this expectation: {error}"
    elif "observed_value" in res:
        observed = _dumps(res["observed_value"])
    elif unexpected is not None:
        observed = f"{unexpected} of {res.get('element_count')} rows unexpected"
        missing = res.get("missing_count") or 0
        if missing and cfg.type != "expect_column_values_to_not_be_null":
            observed += f" ({missing} NULL rows not checked)"
    else:
        observed = None
    sample_src = res.get("partial_unexpected_index_list") or res.get("partial_unexpected_list")
    sample = _dumps(list(sample_src)[:SAMPLE_SIZE]) if sample_src else None
    return ExpectationOutcome(
        suite=suite,
        expectation=cfg.type,
        column=_column_of(cfg.kwargs),
        severity=str(meta.get("severity", "error")),
        success=bool(evr.success) and error is None,
        observed_value=observed,
        unexpected_count=int(unexpected) if unexpected is not None else None,
        unexpected_sample=sample,
        notes=meta.get("notes"),
    )


def _row_count_guard(suite: str, evr_results: Sequence[Any], rows: int) -> ExpectationOutcome:
    """Prove GX saw the rows the query returned (the duckdb-engine route saw none).

    Compares the query's row count with every ``element_count`` GX reports for column
    expectations and with the observed value of ``expect_table_row_count_*``.
    """
    seen: set[int] = set()
    for r in evr_results:
        res = r.result or {}
        if "element_count" in res:
            seen.add(int(res["element_count"]))
        if r.expectation_config.type.startswith("expect_table_row_count") and isinstance(
            res.get("observed_value"), int
        ):
            seen.add(int(res["observed_value"]))
    return ExpectationOutcome(
        suite=suite,
        expectation="gate_guard_gx_saw_every_row",
        column=None,
        severity="error",
        success=seen == {rows},
        observed_value=f"query returned {rows} rows; GX counted {sorted(seen) or 'nothing'}",
        unexpected_count=None,
        unexpected_sample=None,
        notes="Guards against GX validating an empty or partial batch and passing vacuously.",
    )


def _query_failed(spec: SuiteSpec, message: str) -> ExpectationOutcome:
    return ExpectationOutcome(
        suite=spec.name,
        expectation="batch_query",
        column=None,
        severity="error",
        success=False,
        observed_value=f"batch query failed: {message}",
        unexpected_count=None,
        unexpected_sample=None,
        notes="The suite's meta.batch_query could not run: is the dbt model built and named so?",
    )


def _validate(
    specs: Sequence[SuiteSpec],
    batches: dict[str, pd.DataFrame | str],
    params: dict[str, Any],
    docs_dir: Path,
    run_id: str,
    run_at: datetime,
) -> tuple[list[ExpectationOutcome], Path | None]:
    """Run one GX Checkpoint per suite over its DataFrame; Data Docs land in ``docs_dir``.

    The GX run is named after our ``run_id`` so Data Docs pages and ``audit.gate_results``
    rows of the same run can be matched.
    """
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    gx_run = RunIdentifier(
        run_name=re.sub(r"[^\w.:+-]", "_", run_id), run_time=run_at.replace(tzinfo=UTC)
    )

    shutil.rmtree(docs_dir, ignore_errors=True)  # the site shows exactly this run
    docs_dir.mkdir(parents=True, exist_ok=True)
    # In-memory stores, our one Data Docs site, no analytics, no progress bars in task logs.
    # (The default ephemeral config would also register a temp-dir "local_site".)
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        data_docs_sites={
            DATA_DOCS_SITE: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    datasource = context.data_sources.add_pandas(DATASOURCE_NAME)

    outcomes: list[ExpectationOutcome] = []
    for spec in specs:
        batch = batches[spec.name]
        if isinstance(batch, str):
            outcomes.append(_query_failed(spec, batch))
            continue
        missing = [c for c in spec.id_columns if c not in batch.columns]
        if missing:
            raise GateConfigError(f"{spec.path}: meta.id_columns {missing} not in the batch")
        suite = context.suites.add(_gx_suite(spec))
        asset = datasource.add_dataframe_asset(spec.name)
        batch_definition = asset.add_batch_definition_whole_dataframe(spec.name)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
        )
        result_format: dict[str, Any] = {
            "result_format": "SUMMARY",
            "partial_unexpected_count": SAMPLE_SIZE,
        }
        if spec.id_columns:
            result_format["unexpected_index_column_names"] = list(spec.id_columns)
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=spec.name,
                validation_definitions=[validation],
                actions=[
                    gx.checkpoint.UpdateDataDocsAction(
                        name="update_data_docs", site_names=[DATA_DOCS_SITE]
                    )
                ],
                result_format=result_format,
            )
        )
        run = checkpoint.run(
            batch_parameters={"dataframe": batch}, expectation_parameters=params, run_id=gx_run
        )
        order = {e.id: i for i, e in enumerate(suite.expectations)}
        for vr in run.run_results.values():
            results = sorted(vr.results, key=lambda r: order.get(r.expectation_config.id, 1 << 30))
            outcomes.extend(_outcome(spec.name, r) for r in results)
            outcomes.append(_row_count_guard(spec.name, results, len(batch)))
    index = docs_dir / "index.html"
    return outcomes, index if index.exists() else None


GATE_RESULT_COLUMNS = (
    "run_id, run_at, suite, expectation, column_name, severity, success, observed_value, "
    "unexpected_count, unexpected_sample, notes"
)


def insert_gate_results_sql(placeholder: str) -> str:
    """The INSERT into ``audit.gate_results`` with the driver's placeholder (``?`` or ``%s``)."""
    values = ", ".join([placeholder] * len(GATE_RESULT_COLUMNS.split(",")))
    return f"insert into audit.gate_results ({GATE_RESULT_COLUMNS}) values ({values})"


def gate_result_rows(
    run_id: str, run_at: datetime, outcomes: Sequence[ExpectationOutcome]
) -> list[tuple]:
    """One ``audit.gate_results`` row per outcome, in :data:`GATE_RESULT_COLUMNS` order; shared
    by the DuckDB and PostgreSQL stores."""
    return [
        (
            run_id,
            run_at,
            o.suite,
            o.expectation,
            o.column,
            o.severity,
            o.success,
            o.observed_value,
            o.unexpected_count,
            o.unexpected_sample,
            o.notes,
        )
        for o in outcomes
    ]


def _store(work_db: Path, run_id: str, run_at: datetime, outcomes: Sequence[ExpectationOutcome]):
    """Append this run's outcomes to ``audit.gate_results`` in one transaction.

    Rows of an earlier attempt with the same ``run_id`` (an Airflow retry) are replaced, so a
    run is never counted twice.
    """
    con = duckdb.connect(str(work_db))
    try:
        con.execute(GATE_RESULTS_DDL)
        con.execute("begin transaction")
        con.execute("delete from audit.gate_results where run_id = ?", [run_id])
        con.executemany(insert_gate_results_sql("?"), gate_result_rows(run_id, run_at, outcomes))
        checkpoint("gate:before_commit")
        con.execute("commit")
    finally:
        con.close()


def run_gate(
    work_db: Path,
    gate_dir: Path,
    run_id: str,
    run_date: date | None = None,
    suites_dir: Path = EXPECTATIONS_DIR,
    baseline_counts: dict[str, int] | None = None,
    pg: PgTarget | None = None,
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

    ``pg``: validate the PostgreSQL warehouse instead (``SCENETRACK_WAREHOUSE``): batches are
    read from it and outcomes stored in its ``audit.gate_results``; ``work_db`` is unused.
    """
    run_date = run_date or date.today()
    run_at = datetime.now(UTC).replace(tzinfo=None)
    specs = load_suite_specs(suites_dir)
    if pg is not None:
        from scenetrack.postgres import gate as pg_gate

        batches, params = pg_gate.read_batches(pg, specs, run_date, baseline_counts)
    else:
        batches, params = _read_batches(Path(work_db), specs, run_date, baseline_counts)
    outcomes, index = _validate(
        specs, batches, params, Path(gate_dir) / "data_docs", run_id, run_at
    )
    checkpoint("gate:before_store")
    if pg is not None:
        pg_gate.store(pg, run_id, run_at, outcomes)
    else:
        _store(Path(work_db), run_id, run_at, outcomes)
    return GateResult(run_id=run_id, run_date=run_date, outcomes=outcomes, data_docs_index=index)


def last_gate_outcome(work_db: Path) -> dict | None:
    """For ``scenetrack status``: run_id, run_at (ISO, UTC), passed, number of failures/warnings.

    Reads through a read-only connection; returns None if the database or the audit table does
    not exist yet. A DuckDB ``IOException`` (a writer holds the file) is left to the caller.
    """
    if not Path(work_db).exists():
        return None
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        exists = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'audit' and table_name = 'gate_results'"
        ).fetchone()
        if not exists or not exists[0]:
            return None
        row = con.execute(
            """
            with last_run as (
                select run_id from audit.gate_results
                group by run_id order by max(run_at) desc, run_id desc limit 1
            )
            select
                r.run_id,
                max(r.run_at),
                count(*) filter (where not r.success and r.severity = 'error'),
                count(*) filter (where not r.success and r.severity = 'warn'),
                count(*)
            from audit.gate_results as r
            inner join last_run using (run_id)
            group by r.run_id
            """
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    run_id, run_at, failures, warnings, checked = row
    return {
        "run_id": run_id,
        "run_at": run_at.isoformat(sep=" ") if run_at is not None else None,
        "passed": failures == 0,
        "failures": int(failures),
        "warnings": int(warnings),
        "checks": int(checked),
    }
