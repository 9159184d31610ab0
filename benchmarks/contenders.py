"""The contenders: each a function ``(source file, fresh work dir) -> rows`` timed by the runner.

Ingestion of a CSV:

- ``platform``: :func:`scenetrack.pipeline.ingest_paths` into a fresh home (hash, read with
  Arrow, one SQL normalisation per file, raw table + quarantine + ledger, archive copy, receipt).
- ``limit``: DuckDB's own ``CREATE TABLE t AS SELECT * FROM read_csv(file, all_varchar=true)``
  in a fresh file, no normalisation: the engine's floor for getting the bytes into a table.
- ``pandas``: ``pandas.read_csv(dtype=str)`` then ``CREATE TABLE t AS SELECT * FROM df`` in
  a fresh DuckDB file (the notebook way).
- ``dlt``: a ``dlt`` pipeline into DuckDB fed Arrow tables of strings (dlt's fast path; see
  :func:`_dlt`), dev mode off, telemetry off.

For GBK files DuckDB has no native decoder (``gb18030`` needs the ``encodings`` extension,
which is not installed here), so the limit is "decode to UTF-8 in Python, streamed, then
DuckDB's ``read_csv``": the cheapest route the engine leaves open.

XLSX (reading only, rows of strings): ``openpyxl`` read-only vs ``python-calamine``, plus the
platform's own XLSX ingestion.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from pathlib import Path

import duckdb

from benchmarks.data import ZH_HEADERS

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def platform_ingest(files: list[Path], work: Path) -> int:
    """The platform's ingest of ``files`` into a fresh home under ``work``; rows loaded."""
    from scenetrack.config import Paths
    from scenetrack.pipeline import ingest_paths

    receipts = ingest_paths(Paths(work / "home").ensure(), files)
    bad = [r.line() for r in receipts if r.status != "loaded"]
    if bad:
        raise RuntimeError("platform ingest did not load every file: " + "; ".join(bad[:3]))
    return sum(r.rows_loaded for r in receipts)


def platform_csv(src: Path, work: Path) -> int:
    return platform_ingest([src], work)


def duckdb_limit(src: Path, work: Path) -> int:
    con = duckdb.connect(str(work / "limit.duckdb"))
    try:
        con.execute(f"create table t as select * from read_csv({_sql_path(src)}, all_varchar=true)")
        return con.execute("select count(*) from t").fetchone()[0]
    finally:
        con.close()


def duckdb_limit_gbk(src: Path, work: Path) -> int:
    """Streamed GB18030 -> UTF-8 re-encode, then DuckDB's read_csv (skipping the title row)."""
    utf8 = work / "utf8.csv"
    with (
        src.open(encoding="gb18030", newline="") as fin,
        utf8.open("w", encoding="utf-8", newline="") as fout,
    ):
        while chunk := fin.read(1 << 22):
            fout.write(chunk)
    con = duckdb.connect(str(work / "limit.duckdb"))
    try:
        con.execute(
            f"create table t as select * from read_csv({_sql_path(utf8)}, all_varchar=true, "
            "skip=1, header=true)"
        )
        return con.execute("select count(*) from t").fetchone()[0]
    finally:
        con.close()


def _pandas(src: Path, work: Path, encoding: str = "utf-8", skiprows: int = 0) -> int:
    import pandas as pd

    df = pd.read_csv(src, dtype=str, encoding=encoding, skiprows=skiprows, keep_default_na=False)
    con = duckdb.connect(str(work / "pandas.duckdb"))
    try:
        con.register("df", df)
        con.execute("create table t as select * from df")
        return con.execute("select count(*) from t").fetchone()[0]
    finally:
        con.close()


def pandas_csv(src: Path, work: Path) -> int:
    return _pandas(src, work)


def pandas_gbk(src: Path, work: Path) -> int:
    return _pandas(src, work, encoding="gb18030", skiprows=1)


def _dlt(src: Path, work: Path, encoding: str = "utf8", skip_rows: int = 0) -> int:
    """dlt's fast path: a resource yielding Arrow tables (strings), loaded into DuckDB.

    (dlt's ``filesystem | read_csv()`` route turns each row into a Python dict: 73 s for 100k
    events on this machine, measured once by hand; dlt's ``read_csv_duckdb`` reader fails
    against DuckDB 2.0. The Arrow route is what a user tuning dlt would end up with.)
    """
    import dlt
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rename = bool(skip_rows)
    if rename:  # the GBK export: title row + Chinese header, which dlt would normalise
        header, skip_rows = list(ZH_HEADERS), skip_rows + 1  # to one name: use the canonical
    else:
        with src.open(encoding="utf-8") as f:
            header = next(csv.reader([f.readline()]))

    @dlt.resource(name="t")
    def rows():
        reader = pacsv.open_csv(
            src,
            read_options=pacsv.ReadOptions(
                encoding=encoding,
                skip_rows=skip_rows,
                column_names=header if rename else None,
                block_size=1 << 24,
            ),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header}),
        )
        for batch in reader:
            yield pa.Table.from_batches([batch])

    pipe = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")),
        dataset_name="raw",
        pipelines_dir=str(work / "dlt_pipelines"),
        dev_mode=False,
        progress=None,
    )
    pipe.run(rows())
    con = duckdb.connect(str(work / "dlt.duckdb"), read_only=True)
    try:
        return con.execute("select count(*) from raw.t").fetchone()[0]
    finally:
        con.close()


def dlt_csv(src: Path, work: Path) -> int:
    return _dlt(src, work)


def dlt_gbk(src: Path, work: Path) -> int:
    return _dlt(src, work, encoding="gb18030", skip_rows=1)


CSV_CONTENDERS: dict[str, tuple[str, Callable[[Path, Path], int]]] = {
    "platform": ("platform ingest_paths (normalise + quarantine + ledger)", platform_csv),
    "limit": ("DuckDB CTAS read_csv(all_varchar) - the limit", duckdb_limit),
    "pandas": ("pandas read_csv(dtype=str) + DuckDB insert", pandas_csv),
    "dlt": ("dlt pipeline (Arrow batches) -> DuckDB", dlt_csv),
}
GBK_CONTENDERS: dict[str, tuple[str, Callable[[Path, Path], int]]] = {
    "platform": ("platform ingest_paths (GBK detected, title row, Chinese values)", platform_csv),
    "limit": ("Python GB18030->UTF-8 re-encode + DuckDB read_csv - the limit", duckdb_limit_gbk),
    "pandas": ("pandas read_csv(encoding=gb18030) + DuckDB insert", pandas_gbk),
    "dlt": ("dlt pipeline (Arrow, gb18030) -> DuckDB", dlt_gbk),
}


def xlsx_openpyxl(src: Path, work: Path) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(src, read_only=True, data_only=True)
    try:
        rows = [
            ["" if v is None else str(v) for v in row]
            for row in wb.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        wb.close()
    return len(rows) - 1


def xlsx_calamine(src: Path, work: Path) -> int:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(src))
    try:
        sheet = wb.get_sheet_by_index(0)
        rows = [["" if v is None else str(v) for v in row] for row in sheet.iter_rows()]
    finally:
        wb.close()
    return len(rows) - 1


def xlsx_platform(src: Path, work: Path) -> int:
    return platform_ingest([src], work)


XLSX_CONTENDERS: dict[str, tuple[str, Callable[[Path, Path], int]]] = {
    "openpyxl": ("openpyxl read_only iter_rows -> rows of str", xlsx_openpyxl),
    "calamine": ("python-calamine iter_rows -> rows of str", xlsx_calamine),
    "platform": ("platform ingest_paths of the workbook (reader + normalisation)", xlsx_platform),
}
