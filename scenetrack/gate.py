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
   ``run_year`` and ``dim_city_codes`` (read from ``marts.dim_city`` in the same read-only
   session). The suites stay static and honest; nothing is string-substituted into SQL.
5. One Checkpoint per suite (each batch is a different DataFrame); GX Data Docs of the whole run
   are rendered once at the end as a static site under ``gate_dir/data_docs``. The GX context
   is ephemeral: nothing but the Data Docs is written, no state carries over between runs, and
   the site always shows exactly the latest run. History lives in ``audit.gate_results``.
6. Only after all of that (the read-only session closed) is the work database opened
   **read-write** (DuckDB allows one writer process) to store every outcome in
   ``audit.gate_results``.

``import great_expectations`` takes seconds, so it happens inside functions only: the CLI, the
Airflow DAG parser and ``scenetrack status`` import this module without paying for it.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import numbers
import os
import re
import shutil
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from scenetrack import progress
from scenetrack.config import EXPECTATIONS_DIR, PgTarget, settings
from scenetrack.faults import checkpoint

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    import pandas as pd

SEVERITIES: dict[str, str] = {"error": "critical", "warn": "warning"}
"""Our severities and the GX ``FailureSeverity`` each maps to (shown in Data Docs)."""

DATA_DOCS_SITE = "scenetrack"
DATASOURCE_NAME = "scenetrack_gate"
SAMPLE_SIZE = 10
"""How many unexpected values (with their row keys) an outcome keeps: enough to find the rows."""

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
    """A knob as this module's attribute: an override set on the module, else the setting."""
    return getattr(sys.modules[__name__], name)


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
alter table audit.gate_results add column if not exists cities varchar;
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
    guards = {
        (spec.name, i): table
        for spec in specs
        for i, e in enumerate(spec.expectations)
        if (table := _volume_table(e)) is not None
    }
    explained, seen = [], dict.fromkeys((s.name for s in specs), 0)
    for o in outcomes:
        i = seen.get(o.suite, 0)
        seen[o.suite] = i + 1
        table = guards.get((o.suite, i))
        if table is None or o.expectation not in ROW_COUNT_EXPECTATIONS:
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
        "fresh_since": (
            freshness_date(run_date) - timedelta(days=_knob("FRESHNESS_DAYS"))
        ).isoformat(),
        **volume_floors(baseline_counts),
    }


ROW_COUNT_EXPECTATIONS = frozenset(
    {"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"}
)
"""Table-level expectations that only need the number of rows, not any column."""

ROW_LEVEL_PREFIXES = (
    "expect_column_",
    "expect_compound_columns_",
    "expect_multicolumn_",
    "expect_select_column_values_",
)
"""Expectation families whose every column reference is a ``column``, ``column_A``/``column_B``
or ``column_list`` kwarg (GX's domain kwargs for these families)."""

COLUMN_KWARGS = ("column", "column_A", "column_B", "column_list")


def columns_needed(spec: SuiteSpec) -> tuple[str, ...] | None:
    """The batch columns a suite reads, or None when it must read every column.

    Reading only what the expectations refer to is a large part of the gate's speed: a mart has
    10 to 30 columns and a suite checks a handful, and every column read costs a DuckDB→pandas
    copy, memory, and a copy in each of GX's per-expectation row filters (GX's pandas engine
    filters the whole DataFrame, not the column, for every column expectation). The columns are
    the expectations' domain kwargs (:data:`COLUMN_KWARGS`) plus ``meta.id_columns`` (the keys
    kept with unexpected rows). Row counts are unaffected by the projection, so
    ``expect_table_row_count_*`` needs no column.

    The whole row is read (None) whenever the projection could change a verdict:

    - an expectation outside :data:`ROW_LEVEL_PREFIXES` and :data:`ROW_COUNT_EXPECTATIONS` —
      e.g. ``expect_table_columns_to_match_set``/``_ordered_list`` or
      ``expect_table_column_count_*`` look at the full column list, and an unknown or custom
      type may refer to columns in ways this function cannot see;
    - a ``row_condition`` (a filter expression that can name any column), or a column kwarg
      that is not a plain name (e.g. a suite parameter);
    - no column at all (a suite of row counts only).
    """
    wanted: list[str] = list(spec.id_columns)
    if spec.meta.get("city_column"):
        wanted.append(spec.meta["city_column"])
    for e in spec.expectations:
        kind, kwargs = e["type"], e["kwargs"]
        if kwargs.get("row_condition"):
            return None
        if kind in ROW_COUNT_EXPECTATIONS:
            continue
        if not kind.startswith(ROW_LEVEL_PREFIXES):
            return None
        for key in COLUMN_KWARGS:
            value = kwargs.get(key)
            if isinstance(value, str):
                wanted.append(value)
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                wanted.extend(value)
            elif value is not None:
                return None
    return tuple(dict.fromkeys(wanted)) or None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def projected_query(
    batch_query: str, columns: Sequence[tuple[str, str]], wanted: Sequence[str] | None
) -> str:
    """``select <wanted columns> from (<batch_query>) as batch``, in the query's column order.

    ``columns`` are the batch query's ``(name, DuckDB type)`` pairs; ``wanted`` comes from
    :func:`columns_needed` (None: every column). Only columns the query really returns are
    selected: an expectation about a column the query lacks must fail on its own in GX (as with
    a full read), not turn the whole suite into a failed query. DuckDB pushes the projection
    into the query, so columns nobody checks are neither computed nor read from disk.

    DECIMAL and HUGEINT columns are cast to DOUBLE here, which is what DuckDB's own
    ``.df()`` hands pandas (Arrow would give ``decimal.Decimal`` objects, compared one by one
    and against float bounds). A query with duplicate column names is returned as it is.
    """
    names = [name for name, _ in columns]
    if len(set(names)) != len(names):
        return batch_query
    keep = set(names if wanted is None else wanted)
    select = [
        f"cast({_quote(name)} as double) as {_quote(name)}"
        if kind.startswith("DECIMAL") or kind in ("HUGEINT", "UHUGEINT")
        else _quote(name)
        for name, kind in columns
        if name in keep
    ]
    return f"select {', '.join(select)} from (\n{batch_query}\n) as batch"


_EXACT_FLOAT_INT = 2**53
"""Integers below this magnitude are exact in float64."""

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def gx_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    """Give GX's pandas engine dtypes it compares vectorised, without changing what is checked.

    GX 1.24's ``column_values.between`` is vectorised only for ``int64``/``float64`` and
    ``datetime64[ns]`` columns; any other dtype is compared one Python value at a time
    (``Series.map``), which was most of the gate's time at 1M events (dates as
    ``datetime.date`` objects: 13 s of 36 s). So, column by column:

    - dates and timestamps become ``datetime64[ns]``: DuckDB's ``datetime64[us]`` (DATE and
      TIMESTAMP) and columns of ``datetime.date`` objects (the PostgreSQL reader). A DATE
      becomes its midnight; the bounds GX compares it with are midnights too (see
      :func:`gx_bound`). A value outside the ns range (before 1677 or after 2262, e.g. a
      typed 9999-12-31) cannot be held as ns: that column becomes ``datetime.datetime``
      objects instead (GX's slow but exact route), so the value is still checked.
    - integers become ``int64``; nullable integers with NULLs become ``float64`` with NaN
      (GX counts NaN as missing, like NULL) when every value is exact in a float
      (|v| < 2**53), else they are left as they are (slow but exact);
    - nullable booleans without NULLs become plain ``bool``.

    Everything else (strings, floats, tz-aware timestamps) is left alone.
    """
    import pandas as pd

    for col in df.columns:
        s = df[col]
        dtype = s.dtype
        is_dt = pd.api.types.is_datetime64_dtype(dtype)  # naive only; tz-aware is vectorised
        if (is_dt and not pd.api.types.is_datetime64_ns_dtype(dtype)) or (
            pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(s, skipna=True) == "date"
        ):
            try:
                df[col] = pd.to_datetime(s).astype("datetime64[ns]")
            except (OverflowError, pd.errors.OutOfBoundsDatetime):
                df[col] = pd.Series(
                    [None if pd.isna(v) else _midnight(v) for v in s],
                    index=s.index,
                    dtype=object,
                )
        elif isinstance(dtype, pd.BooleanDtype) and not s.hasnans:
            df[col] = s.astype(bool)
        elif pd.api.types.is_integer_dtype(dtype) and dtype != "int64":
            if not s.hasnans:
                df[col] = s.astype("int64")
            elif s.dropna().abs().max() < _EXACT_FLOAT_INT:
                df[col] = s.astype("float64")
    return df


CATEGORICAL_EXPECTATIONS = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
    }
)
"""Column expectations whose GX pandas metric gives the same answer on a categorical column
as on its strings: ``isnull``, ``duplicated``, ``isin`` and ``astype(str).str.contains``
(tested in tests/gate/test_categoricals.py). Comparisons (``between``), lengths, pairs
(``==`` between two categoricals with different categories raises) and anything else are
left out: a column any of them reads stays a string column."""

CATEGORICAL_SAMPLE_ROWS = 10_000
CATEGORICAL_MAX_DISTINCT_SHARE = 0.1
"""A string column becomes categorical when its first :data:`CATEGORICAL_SAMPLE_ROWS` values
hold at most this share of distinct values (city codes, enums, file hashes): near-unique keys
would cost a hash of every value (seconds at 10M rows) and save nothing."""


def categorical_columns(spec: SuiteSpec) -> frozenset[str]:
    """The batch columns GX may be handed as pandas categoricals without changing a verdict.

    A column qualifies when every expectation that names it is one of
    :data:`CATEGORICAL_EXPECTATIONS` naming it as its ``column`` (``meta.id_columns``, only
    copied into keyed samples, qualify too). Nothing qualifies when the suite reads the whole
    row (:func:`columns_needed` is None: some expectation may read columns it does not name).
    """
    if columns_needed(spec) is None:
        return frozenset()
    safe: set[str] = set(spec.id_columns)
    unsafe: set[str] = set()
    for e in spec.expectations:
        kind, kwargs = e["type"], e["kwargs"]
        if kind in ROW_COUNT_EXPECTATIONS:
            continue
        named = [kwargs.get(key) for key in COLUMN_KWARGS if kwargs.get(key) is not None]
        columns = [c for v in named for c in (v if isinstance(v, list) else [v])]
        if kind in CATEGORICAL_EXPECTATIONS and named == [kwargs.get("column")]:
            safe.update(columns)
        else:
            unsafe.update(columns)
    return frozenset(safe - unsafe)


def _repetitive(distinct: int, rows: int) -> bool:
    """Whether a sample of ``rows`` values with ``distinct`` distinct ones is worth a
    categorical (see :data:`CATEGORICAL_MAX_DISTINCT_SHARE`)."""
    return distinct <= rows * CATEGORICAL_MAX_DISTINCT_SHARE


def gx_categoricals(df: pd.DataFrame, columns: Collection[str]) -> pd.DataFrame:
    """Hold the repetitive string ``columns`` as pandas categoricals, so GX's copies are cheap.

    GX's pandas engine filters the whole DataFrame (``df[df[column].notnull()]``) for every
    column expectation, which copies every column when the checked one has a NULL, and
    pandas' Arrow-backed strings are copied byte for byte: at 10M events one copy of the
    staged events was ~2.7 GB. A categorical copies one small integer code per row instead (a
    64-character file hash becomes one byte). Only columns of :func:`categorical_columns`
    whose values repeat (:func:`_repetitive`, on the first rows) are converted, and only when
    column names are unique; columns :func:`_read_frame` already dictionary-encoded arrive as
    categoricals.

    The categories are Python strings (object dtype), not Arrow strings: GX's regex check runs
    ``column.astype(str)``, which pandas builds from object categories in half the time and
    memory (at 10M rows 2.9 s and 1.4 GiB against 6 s and 2.3 GiB). Values, NULLs and what GX
    reports (unexpected values and keyed samples are the category strings) are unchanged.
    """
    import pandas as pd

    if not df.columns.is_unique:
        return df
    for col in df.columns:
        if col not in columns:
            continue
        dtype = df[col].dtype
        if isinstance(dtype, pd.StringDtype):
            head = df[col].iloc[:CATEGORICAL_SAMPLE_ROWS]
            if not _repetitive(head.nunique(dropna=True), len(head)):
                continue
            df[col] = df[col].astype("category")
            dtype = df[col].dtype
        if isinstance(dtype, pd.CategoricalDtype) and isinstance(
            dtype.categories.dtype, pd.StringDtype
        ):
            categories = pd.Index(dtype.categories.to_numpy(dtype=object), dtype=object)
            df[col] = df[col].cat.rename_categories(categories)
    return df


def _midnight(value: Any) -> datetime:
    """A ``datetime`` for a date/timestamp value (dates at midnight)."""
    if isinstance(value, datetime):
        return value
    if hasattr(value, "to_pydatetime"):
        return value.to_pydatetime()
    return datetime.combine(value, datetime.min.time())


def gx_bound(value: Any) -> Any:
    """An ISO date (``"2015-01-01"``) as GX must see it to compare with a ``datetime64`` column.

    GX parses an ISO *date* bound into ``datetime.date``, and pandas refuses to compare
    ``datetime64`` with ``date`` ("Invalid comparison"), so the expectation would error out.
    The midnight datetime (``"2015-01-01T00:00:00"``) is the same bound for DATE values, which
    are midnights (:func:`gx_dtypes`): for dates d and b, ``d <= b`` exactly when
    ``midnight(d) <= midnight(b)``. Suite files and :func:`suite_parameters` keep plain ISO
    dates (what reviewers read and what ``benchmarks/gate_sql.py`` translates); only what
    GX is handed is rewritten. Anything else is returned unchanged.
    """
    if isinstance(value, str) and ISO_DATE.match(value):
        return value + "T00:00:00"
    return value


def _strip_sql(sql: str) -> str:
    """The query without surrounding blanks or a trailing ``;``, ready to nest as a subquery."""
    return sql.strip().rstrip(";").rstrip()


def _arrow_types_mapper():
    """Arrow → pandas dtypes matching DuckDB's ``.df()``: masked integers and booleans (NULL
    stays NULL, no silent int → float), then narrowed by :func:`gx_dtypes`."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return mapping.get


ARROW_BATCH_ROWS = 1_000_000
"""Rows per Arrow record batch streamed out of DuckDB (DuckDB's own default)."""


def _owned_array(array: Any) -> Any:
    """A copy of one Arrow array in Arrow's own memory; strings as ``large_string``.

    DuckDB exports a record batch as one allocation, released only when every column taken
    from it is gone: one zero-copy string column kept in the DataFrame (an event key) held all
    thirteen columns of its batch, the strings replaced by categoricals included (2 GiB at 10M
    events). ``concat_arrays`` writes new buffers; ``large_string`` is what pandas' ``str``
    columns hold, so ``to_pandas`` takes them as they are.
    """
    import pyarrow as pa

    if pa.types.is_string(array.type):
        array = array.cast(pa.large_string())  # new offsets, still DuckDB's characters
    return pa.concat_arrays([array])


def _owned_schema(schema: Any) -> Any:
    """``schema`` with strings as ``large_string``, as :func:`_owned_array` returns them."""
    import pyarrow as pa

    return pa.schema(
        [f.with_type(pa.large_string()) if pa.types.is_string(f.type) else f for f in schema]
    )


def _read_frame(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    wanted: Sequence[str] | None = None,
    categorical: Collection[str] = (),
) -> pd.DataFrame:
    """Run one batch query, projected to ``wanted`` columns, into a DataFrame for GX.

    The query is first bound with ``limit 0`` to learn its columns and types (no rows are
    computed), then run projected (:func:`projected_query`) and streamed as Arrow record
    batches of :data:`ARROW_BATCH_ROWS`, each taken out of DuckDB's memory as it arrives
    (DuckDB's whole result and its Arrow copy were both in memory before: 2.9 GiB for the
    staged events at 10M events):

    - string columns named in ``categorical`` (see :func:`categorical_columns`) whose values
      repeat (:func:`_repetitive`, decided on the first batch) are dictionary-encoded: they
      reach pandas as categoricals and are never held as strings (:func:`gx_categoricals`);
    - every other column is copied (:func:`_owned_array`).

    The frame is then converted to pandas and given vectorisable dtypes (:func:`gx_dtypes`).
    Measured on the 937k-row staged events at 1M events: Arrow then ``to_pandas()`` took 0.4 s
    and peaked at 0.6 GiB RSS, DuckDB's ``.df()`` 2.1 s and 1.2 GiB (it builds a Python object
    per string first).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    sql = _strip_sql(sql)
    probe = con.execute(f"select * from (\n{sql}\n) as batch limit 0").description or []
    columns = [(d[0], str(d[1])) for d in probe]
    reader = con.sql(projected_query(sql, columns, wanted)).to_arrow_reader(ARROW_BATCH_ROWS)
    schema = reader.schema
    names = schema.names
    if len(set(names)) != len(names):
        categorical = ()
    encode: dict[str, bool] = {}  # per categorical string column, decided on the first batch
    pieces: list[list[Any]] = [[] for _ in names]
    for batch in reader:
        for name, array, kept in zip(names, batch.columns, pieces, strict=True):
            if name in categorical and pa.types.is_string(array.type):
                if name not in encode:
                    head = array.slice(0, CATEGORICAL_SAMPLE_ROWS)
                    encode[name] = _repetitive(pc.count_distinct(head).as_py(), len(head))
                if encode[name]:
                    kept.append(pc.dictionary_encode(array))  # new indices and dictionary
                    continue
            kept.append(_owned_array(array))
        del batch  # DuckDB frees the batch now
    del reader
    if pieces and pieces[0]:
        table = pa.Table.from_arrays([pa.chunked_array(kept) for kept in pieces], names=names)
    else:
        table = _owned_schema(schema).empty_table()
    del pieces
    df = table.to_pandas(
        date_as_object=False,
        types_mapper=_arrow_types_mapper(),
        split_blocks=True,
        self_destruct=True,  # frees each Arrow column as it is converted
    )
    del table
    df = gx_dtypes(df)
    _release_arrow_memory()
    return df


BatchReader = Callable[["SuiteSpec"], "pd.DataFrame | str"]
"""Returns one suite's batch, or the error message of its failed query."""


@contextmanager
def _duckdb_batches(
    work_db: Path,
    specs: Sequence[SuiteSpec],
    run_date: date,
    baseline_counts: dict[str, int] | None = None,
) -> Iterator[tuple[list[SuiteSpec], BatchReader, dict[str, Any]]]:
    """One read-only session: the suites largest batch first, a reader of one suite's batch at a
    time, and the suite parameters.

    Batches are read one at a time, each just before GX validates it, so only one DataFrame is
    in memory at once (read all up front, the 1M-event batches held ~0.45 GiB on their own).
    The largest batch (by ``count(*)`` of its query, a few ms in all) goes first, while the
    process is smallest: later, smaller suites run on top of what DuckDB and the allocators
    keep. The read-only connection stays open while GX works (other readers are unaffected;
    writers are kept out by the writer lock the caller holds, so every query sees the same
    data) and is closed before anything is written. DuckDB keeps the table blocks a query
    read cached for as long as the database is open (0.46 GiB of staged events at 10M events,
    held through GX's whole run): when a read leaves more than
    :data:`DUCKDB_CACHE_MAX_BYTES` cached, the connection is reopened, which drops them.

    A failing query is returned as its error message (a string) so the gate reports it as a
    failed ``error`` outcome instead of crashing halfway without a record.
    """
    if not Path(work_db).exists():
        raise FileNotFoundError(f"work database {work_db} does not exist; run ingest/build first")
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        params = suite_parameters(con, run_date, baseline_counts)

        def rows(spec: SuiteSpec) -> int:
            try:
                query = _strip_sql(spec.batch_query)
                return con.execute(f"select count(*) from (\n{query}\n) as b").fetchone()[0]
            except duckdb.Error:
                return 0  # the read fails the same way and is reported then

        def read(spec: SuiteSpec) -> pd.DataFrame | str:
            nonlocal con
            try:
                return _read_frame(
                    con, spec.batch_query, columns_needed(spec), categorical_columns(spec)
                )
            except duckdb.Error as exc:
                return f"{type(exc).__name__}: {exc}".splitlines()[0]
            finally:
                if _duckdb_cached_bytes(con) > DUCKDB_CACHE_MAX_BYTES:
                    con.close()
                    con = duckdb.connect(str(work_db), read_only=True)

        yield sorted(specs, key=rows, reverse=True), read, params
    finally:
        con.close()


DUCKDB_CACHE_MAX_BYTES = 256 * 2**20
"""Above this much cached by DuckDB after a batch read, the gate's connection is reopened."""


def _duckdb_cached_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """Memory DuckDB's buffer manager holds (cached table blocks and the like)."""
    try:
        row = con.execute("select sum(memory_usage_bytes) from duckdb_memory()").fetchone()
    except duckdb.Error:
        return 0
    return int(row[0] or 0) if row else 0


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


@contextmanager
def _without_batch_fingerprint() -> Iterator[None]:
    """Skip GX's fingerprint of each pandas batch while the gate validates.

    GX's pandas engine hashes every row of a DataFrame batch (``hash_pandas_object`` + md5)
    only to store a ``pandas_data_fingerprint`` marker with the result; no check uses it, and
    GX itself skips it for frames of 1 GB or more (``HASH_THRESHOLD``). At 1M events it cost
    ~2.5 s and was the run's memory peak (unique string keys become Python objects to be
    hashed). The threshold is set to 0 for the gate's run and restored afterwards; the batch
    id, results and Data Docs are unchanged apart from that marker. If a GX upgrade drops the
    constant this does nothing (the gate is only slower).
    """
    from great_expectations.execution_engine import pandas_execution_engine as engine

    if not hasattr(engine, "HASH_THRESHOLD"):
        yield
        return
    saved = engine.HASH_THRESHOLD
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = saved


@contextmanager
def _heap_frozen() -> Iterator[None]:
    """Make ``gc.collect()`` between suites cheap: objects alive now are left out of it.

    GX's validators, metric graphs and execution engines form reference cycles that keep the
    per-expectation copies of a suite's DataFrame alive until Python's cyclic collector runs,
    so the next, smaller suites ran on top of the previous one's garbage (peak RSS 1.1 GiB at
    1M events; 0.93-0.98 GiB with a collection after every suite). A full collection scans
    every tracked object, ~0.18 s per suite with GX imported; ``gc.freeze()`` moves the objects
    alive before the run (modules, GX's registries, the context) out of the collector's sight,
    and each collection then takes a few ms. ``gc.unfreeze()`` hands them back afterwards. If
    something else has frozen objects already, nothing is frozen or unfrozen here.
    """
    mine = gc.get_freeze_count() == 0
    if mine:
        gc.freeze()
    try:
        yield
    finally:
        if mine:
            gc.unfreeze()


def _release_arrow_memory() -> None:
    """Hand the memory Arrow's allocator keeps after a suite back to the system.

    pandas' string columns live in Arrow's memory pool (mimalloc or jemalloc), which keeps
    freed pages for reuse; numpy's copies come from malloc and cannot reuse them.
    """
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


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
    batch: pd.DataFrame,
    gx_params: dict[str, Any],
    gx_run: Any,
) -> list[ExpectationOutcome]:
    """Validate one suite's DataFrame through its Checkpoint; its outcomes plus the guard.

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
    missing = [c for c in spec.id_columns if c not in batch.columns]
    if missing:
        raise GateConfigError(f"{spec.path}: meta.id_columns {missing} not in the batch")
    suite = context.suites.add(_gx_suite(spec))
    datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
    try:
        asset = datasource.add_dataframe_asset(spec.name)
        batch_definition = asset.add_batch_definition_whole_dataframe(spec.name)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
        )
        batch = gx_categoricals(gx_dtypes(batch), categorical_columns(spec))

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
                batch_parameters={"dataframe": batch},
                expectation_parameters=gx_params,
                run_id=gx_run,
            )

        sample = {"partial_unexpected_count": SAMPLE_SIZE}
        run = run_checkpoint(spec.name, {"result_format": "BASIC", **sample})
        if spec.id_columns and _found_unexpected_rows(run):
            keyed = {"unexpected_index_column_names": list(spec.id_columns), **sample}
            run = run_checkpoint(
                f"{spec.name}.keyed_samples", {"result_format": "SUMMARY", **keyed}
            )
        order = {e.id: i for i, e in enumerate(suite.expectations)}
        results = [
            sorted(vr.results, key=lambda r: order.get(r.expectation_config.id, 1 << 30))
            for vr in run.run_results.values()
        ]
        cities = _cities_of_failures(
            gx, context, spec, batch_definition, batch, results, run_checkpoint
        )
    finally:
        context.data_sources.delete(DATASOURCE_NAME)
    outcomes: list[ExpectationOutcome] = []
    for in_order in results:
        outcomes.extend(_outcome(spec.name, r, cities.get(i)) for i, r in enumerate(in_order))
        outcomes.append(_row_count_guard(spec.name, in_order, len(batch)))
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
    batch: pd.DataFrame,
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
    if not city or city not in batch.columns or len(results) != 1:
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
        name=f"{spec.name}.attribution",
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


GATE_RESULT_COLUMNS = (
    "run_id, run_at, suite, expectation, column_name, severity, success, observed_value, "
    "unexpected_count, unexpected_sample, notes, cities"
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
            None if o.cities is None else json.dumps(list(o.cities)),
        )
        for o in outcomes
    ]


def passed(outcomes: Sequence[ExpectationOutcome]) -> bool:
    """True when no ``error`` expectation failed (the rule :attr:`GateResult.passed` states)."""
    return not any(not o.success and o.severity == "error" for o in outcomes)


def _store(
    work_db: Path,
    run_id: str,
    run_at: datetime,
    outcomes: Sequence[ExpectationOutcome],
    fingerprint: dict[str, Any],
):
    """Append this run's outcomes to ``audit.gate_results`` and its verdict with the
    fingerprint of what it validated to ``audit.gate_runs`` (see scenetrack.audited), in one
    transaction.

    Rows of an earlier attempt with the same ``run_id`` (an Airflow retry) are replaced, so a
    run is never counted twice.
    """
    from scenetrack import audited

    con = duckdb.connect(str(work_db))
    try:
        con.execute(GATE_RESULTS_DDL)
        con.execute(audited.GATE_RUNS_DDL)
        con.execute("begin transaction")
        con.execute("delete from audit.gate_results where run_id = ?", [run_id])
        con.executemany(insert_gate_results_sql("?"), gate_result_rows(run_id, run_at, outcomes))
        audited.record(con, run_id, run_at, passed(outcomes), fingerprint)
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
    fingerprint: dict[str, Any] | None = None,
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
    ``fingerprint``: what the caller saw under the writer lock before the gate read anything
    (scenetrack.audited.fingerprint), stored with the verdict in ``audit.gate_runs`` so that
    publish can refuse anything else; an empty one when not given (nothing publishes it).
    """
    fingerprint = fingerprint if fingerprint is not None else {}
    run_date = run_date or date.today()
    run_at = datetime.now(UTC).replace(tzinfo=None)
    specs = load_suite_specs(suites_dir)
    docs_dir = Path(gate_dir) / "data_docs"
    if pg is not None:
        from scenetrack.postgres import gate as pg_gate

        batches, params = pg_gate.read_batches(pg, specs, run_date, baseline_counts)
        outcomes, index = _validate(
            specs,
            lambda spec: batches.pop(spec.name),  # popped: each frame is freed once validated
            params,
            docs_dir,
            run_id,
            run_at,
        )
    else:
        with _duckdb_batches(Path(work_db), specs, run_date, baseline_counts) as batches:
            in_order, read, params = batches
            outcomes, index = _validate(in_order, read, params, docs_dir, run_id, run_at)
        rank = {spec.name: i for i, spec in enumerate(specs)}
        outcomes.sort(key=lambda o: rank[o.suite])  # stable: suites by name, as in the files
    outcomes = explain_volume_guards(specs, outcomes, baseline_counts)
    checkpoint("gate:before_store")
    if pg is not None:
        pg_gate.store(pg, run_id, run_at, outcomes, fingerprint)
    else:
        _store(Path(work_db), run_id, run_at, outcomes, fingerprint)
    return GateResult(
        run_id=run_id,
        run_date=run_date,
        outcomes=outcomes,
        data_docs_index=index,
        as_of=freshness_date(run_date),
    )


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
