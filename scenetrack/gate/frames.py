"""What GX is handed: each suite's batch read into pandas, cut to the columns checked and
typed so GX compares vectorised, kept small enough for 10M events (Arrow buffers copied out
of DuckDB, repetitive strings as categoricals, DuckDB's and Arrow's caches handed back,
``gc.freeze`` around the run, GX's batch fingerprint switched off). See the package
docstring (:mod:`scenetrack.gate`), point 3."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from scenetrack.gate.suites import ROW_COUNT_EXPECTATIONS, SuiteSpec, suite_parameters

if TYPE_CHECKING:  # pragma: no cover - typing only, never imported at run time
    import pandas as pd


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


@dataclass(frozen=True)
class SqlBatch:
    """A suite's batch left in a SQL warehouse GX validates in place (its SQL datasource):
    the SQLAlchemy URL, the columns of the batch query and how many rows it returns."""

    url: str
    columns: tuple[str, ...]
    rows: int


BatchReader = Callable[["SuiteSpec"], "pd.DataFrame | SqlBatch | str"]
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
        params = suite_parameters(run_date, baseline_counts)

        counted = {spec.gx_name: _count(con, spec.batch_query) for spec in specs}

        def rows(spec: SuiteSpec) -> int:
            n = counted[spec.gx_name]
            return n if isinstance(n, int) else 0  # the read reports the failed query

        def read(spec: SuiteSpec) -> pd.DataFrame | str:
            nonlocal con
            if counts_only(spec):  # the count taken above, as a frame with no column
                import pandas as pd

                n = counted[spec.gx_name]
                return pd.DataFrame(index=pd.RangeIndex(n)) if isinstance(n, int) else n
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


def counts_only(spec: SuiteSpec) -> bool:
    """Whether a suite checks nothing but its row count (no column, no row keys): GX is then
    handed a frame of that many rows and no column, the count DuckDB took."""
    return not spec.id_columns and all(
        e["type"] in ROW_COUNT_EXPECTATIONS for e in spec.expectations
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int | str:
    """How many rows the query returns, or its error message."""
    try:
        query = _strip_sql(sql)
        return int(con.execute(f"select count(*) from (\n{query}\n) as b").fetchone()[0])
    except duckdb.Error as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


DUCKDB_CACHE_MAX_BYTES = 256 * 2**20
"""Above this much cached by DuckDB after a batch read, the gate's connection is reopened."""


def _duckdb_cached_bytes(con: duckdb.DuckDBPyConnection) -> int:
    """Memory DuckDB's buffer manager holds (cached table blocks and the like)."""
    try:
        row = con.execute("select sum(memory_usage_bytes) from duckdb_memory()").fetchone()
    except duckdb.Error:
        return 0
    return int(row[0] or 0) if row else 0


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
