"""GX itself: one ephemeral context per run, one Checkpoint per suite over its DataFrame, the
flattened outcomes (with keyed samples and the cities of failing rows), the guard that GX saw
every row, and the Data Docs of the run. ``great_expectations`` is imported inside
functions only (:func:`_gx`)."""

from __future__ import annotations

import gc
import json
import logging
import math
import numbers
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenetrack import progress
from scenetrack.gate.frames import (
    BatchReader,
    SqlBatch,
    _heap_frozen,
    _release_arrow_memory,
    _without_batch_fingerprint,
    categorical_columns,
    gx_bound,
    gx_categoricals,
    gx_dtypes,
)
from scenetrack.gate.suites import SuiteSpec
from scenetrack.gate.types import SEVERITIES, ExpectationOutcome, GateConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    import pandas as pd


DATA_DOCS_SITE = "scenetrack"


DATASOURCE_NAME = "scenetrack_gate"


SAMPLE_SIZE = 10
"""How many unexpected values (with their row keys) an outcome keeps: enough to find the rows."""


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
    with progress.task("quality gate: loading Great Expectations"):
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
                kwargs={
                    k: gx_bound(v) if k in ("min_value", "max_value") else v
                    for k, v in e["kwargs"].items()
                },
                meta=meta,
                notes=e.get("notes") or meta.get("notes"),
                severity=e.get("severity") or SEVERITIES[meta["severity"]],
            )
            expectations.append(cfg.to_domain_obj())
        except Exception as exc:  # GX raises several unrelated types for bad configs
            raise GateConfigError(f"{spec.path}: expectation #{i} ({e['type']}): {exc}") from exc
    suite = ExpectationSuite(name=spec.gx_name, expectations=expectations, meta=dict(spec.meta))
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
    """NaN and NaT become null and numpy integers ints, so samples stay valid JSON; a naive
    midnight datetime is shown as its date (DATE values reach GX as midnights, see
    :func:`gx_dtypes`); everything else falls back to str."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)  # numpy integers are not JSON numbers
    if isinstance(value, datetime):
        if value != value:  # pandas NaT, the datetime64 NULL
            return None
        midnight = value.time() == datetime.min.time() and not getattr(value, "nanosecond", 0)
        if midnight and value.tzinfo is None:
            return value.date().isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _dumps(value: Any) -> str:
    return json.dumps(_jsonable(value), ensure_ascii=False, default=str)


def _outcome(suite: str, evr: Any, cities: tuple[str, ...] | None = None) -> ExpectationOutcome:
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
        cities=cities,
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
    read_batch: BatchReader,
    params: dict[str, Any],
    docs_dir: Path,
    run_id: str,
    run_at: datetime,
) -> tuple[list[ExpectationOutcome], Path | None]:
    """Run one GX Checkpoint per suite over its DataFrame, in ``specs`` order; then render the
    Data Docs of the whole run into ``docs_dir`` once.

    One Checkpoint per suite because each suite has its own DataFrame and a GX 1.24 Checkpoint
    passes the same ``batch_parameters`` (the DataFrame) to all its validation definitions.
    The Checkpoints carry no ``UpdateDataDocsAction``: that action re-rendered the site index
    and recompiled GX's Jinja templates after every suite (8 s of a 20 s validation at 1M
    events, under the profiler); one ``build_data_docs`` at the end renders the same pages
    (every suite and validation result of the run, and the index) in ~1 s.

    Each suite's DataFrame is read just before its run (``read_batch``) and released after it,
    with the pandas datasource that cached it and the GX garbage that referred to it
    (:func:`_heap_frozen`). The GX run is named after our ``run_id`` so Data Docs pages and
    ``audit.gate_results`` rows of the same run can be matched.
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
    gx_params = {k: gx_bound(v) for k, v in params.items()}
    outcomes: list[ExpectationOutcome] = []
    with _without_batch_fingerprint(), _heap_frozen():
        for spec in progress.track(specs, "quality gate", "suites", note=lambda s: s.name):
            batch = read_batch(spec)
            if isinstance(batch, str):
                outcomes.append(_query_failed(spec, batch))
                continue
            outcomes.extend(_run_checkpoint(gx, context, spec, batch, gx_params, gx_run))
            del batch
            gc.collect()  # GX's reference cycles hold the suite's filtered copies of the frame
            _release_arrow_memory()
    context.build_data_docs(site_names=[DATA_DOCS_SITE])
    from scenetrack.data_docs import localise

    localise(docs_dir)  # the CDN assets GX's pages load, served from local copies (offline)
    index = docs_dir / "index.html"
    return outcomes, index if index.exists() else None


def _run_checkpoint(
    gx: Any,
    context: Any,
    spec: SuiteSpec,
    batch: pd.DataFrame | SqlBatch,
    gx_params: dict[str, Any],
    gx_run: Any,
) -> list[ExpectationOutcome]:
    """Validate one suite's batch through its Checkpoint; its outcomes plus the guard.

    A DataFrame is validated by GX's pandas engine; a :class:`SqlBatch` is validated where it
    lies, by GX's SQL datasource (PostgreSQL): the same suite, results and samples, computed as
    queries, nothing fetched but the metrics and the unexpected rows GX lists.

    The Checkpoint asks GX for ``BASIC`` results (counts and up to :data:`SAMPLE_SIZE`
    unexpected values). Only when some expectation did find unexpected rows, and the suite has
    ``id_columns``, is the suite validated again through a second Checkpoint,
    ``<suite>.keyed_samples``, in ``SUMMARY`` with those columns as
    ``unexpected_index_column_names``, so the sample names the rows. Verdicts and counts are the
    same in both; the second run's result replaces the first in the run's Data Docs. Why:
    for every column expectation GX's ``SUMMARY`` computes the unexpected row index list and
    index query by filtering the whole DataFrame, two full copies per expectation even when
    nothing is unexpected: a clean 1M-event gate took 10.6 s with SUMMARY, 6.5 s with BASIC.

    A pandas datasource caches every batch it served for as long as it lives, so each suite
    gets a fresh one, deleted after its runs: the DataFrame is freed once it is validated.
    """
    columns = tuple(batch.columns)
    missing = [c for c in spec.id_columns if c not in columns]
    if missing:
        raise GateConfigError(f"{spec.path}: meta.id_columns {missing} not in the batch")
    suite = context.suites.add(_gx_suite(spec))
    in_place = isinstance(batch, SqlBatch)
    if in_place:  # GX's SQL datasource: every metric is a query in the warehouse
        datasource = context.data_sources.add_postgres(DATASOURCE_NAME, connection_string=batch.url)
    else:
        datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
    try:
        if in_place:
            # GX takes a query that starts with SELECT; a suite's may start with WITH
            query = f"select * from ({spec.batch_query}) as batch"
            asset = datasource.add_query_asset(spec.gx_name, query=query)
            batch_definition = asset.add_batch_definition_whole_table(spec.gx_name)
            batch_parameters: dict[str, Any] | None = None
            rows = batch.rows
        else:
            asset = datasource.add_dataframe_asset(spec.gx_name)
            batch_definition = asset.add_batch_definition_whole_dataframe(spec.gx_name)
            batch = gx_categoricals(gx_dtypes(batch), categorical_columns(spec))
            batch_parameters, rows = {"dataframe": batch}, len(batch)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.gx_name, data=batch_definition, suite=suite)
        )

        def run_checkpoint(
            name: str, result_format: dict[str, Any], definition: Any = validation
        ) -> Any:
            checkpoint = context.checkpoints.add(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[definition],
                    actions=[],  # Data Docs are built once for the whole run (see _validate)
                    result_format=result_format,
                )
            )
            return checkpoint.run(
                batch_parameters=batch_parameters,
                expectation_parameters=gx_params,
                run_id=gx_run,
            )

        sample = {"partial_unexpected_count": SAMPLE_SIZE}
        run = run_checkpoint(spec.gx_name, {"result_format": "BASIC", **sample})
        if spec.id_columns and _found_unexpected_rows(run):
            keyed = {"unexpected_index_column_names": list(spec.id_columns), **sample}
            run = run_checkpoint(
                f"{spec.gx_name}.keyed_samples", {"result_format": "SUMMARY", **keyed}
            )
        order = {e.id: i for i, e in enumerate(suite.expectations)}
        results = [
            sorted(vr.results, key=lambda r: order.get(r.expectation_config.id, 1 << 30))
            for vr in run.run_results.values()
        ]
        cities = _cities_of_failures(
            gx, context, spec, batch_definition, columns, results, run_checkpoint
        )
    finally:
        context.data_sources.delete(DATASOURCE_NAME)
    outcomes: list[ExpectationOutcome] = []
    for in_order in results:
        outcomes.extend(_outcome(spec.name, r, cities.get(i)) for i, r in enumerate(in_order))
        outcomes.append(_row_count_guard(spec.name, in_order, rows))
    return outcomes


ATTRIBUTION_MAX_ROWS = 100_000
"""A failing check with more unexpected rows than this is not attributed to cities (listing
every row would cost memory at 10M events, and so many bad rows are no single city's file):
it blocks the whole publish."""


def _cities_of_failures(
    gx: Any,
    context: Any,
    spec: SuiteSpec,
    batch_definition: Any,
    columns: Sequence[str],
    results: list[list[Any]],
    run_checkpoint: Callable[..., Any],
) -> dict[int, tuple[str, ...]]:
    """The cities of the unexpected rows of each failing ``error`` check (by its place in
    the suite), for per-city holdback.

    Only suites that name a city column (``meta.city_column``) take part, and only row-level
    checks GX can list the rows of. The failing checks are validated once more, as a suite of
    their own (``<suite>.attribution``), with GX's ``COMPLETE`` results and the city column as
    ``unexpected_index_column_names``: GX then lists every unexpected row with its city.
    """
    city = spec.meta.get("city_column")
    if not city or city not in columns or len(results) != 1:
        return {}
    failing = [
        i
        for i, r in enumerate(results[0])
        if not r.success
        and str((r.expectation_config.meta or {}).get("severity")) == "error"
        and 0 < int((r.result or {}).get("unexpected_count") or 0) <= ATTRIBUTION_MAX_ROWS
    ]
    if not failing:
        return {}
    sub = replace(
        spec,
        name=f"{spec.gx_name}.attribution",
        part=None,
        expectations=tuple(spec.expectations[i] for i in failing),
    )
    suite = context.suites.add(_gx_suite(sub))
    order = {e.id: k for k, e in enumerate(suite.expectations)}
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=sub.name, data=batch_definition, suite=suite)
    )
    attribution = run_checkpoint(
        sub.name,
        {"result_format": "COMPLETE", "unexpected_index_column_names": [city]},
        validation,
    )
    cities: dict[int, tuple[str, ...]] = {}
    for vr in attribution.run_results.values():
        for r in vr.results:
            rows = (r.result or {}).get("unexpected_index_list")
            if not isinstance(rows, list) or not rows:
                continue
            found = {row.get(city) for row in rows if isinstance(row, dict)}
            if None not in found and all(isinstance(c, str) for c in found):
                cities[failing[order[r.expectation_config.id]]] = tuple(sorted(found))
    return cities


def _found_unexpected_rows(run: Any) -> bool:
    """Whether any expectation of a Checkpoint run counted unexpected rows (failing or not:
    ``mostly`` lets a check pass with some)."""
    return any(
        (r.result or {}).get("unexpected_count")
        for vr in run.run_results.values()
        for r in vr.results
    )
