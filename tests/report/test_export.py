"""Each export format opens with its own reader and holds exactly the published mart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from scenetrack.config import Paths
from scenetrack.export import export

# A fact with dates, DECIMAL(18,2), integers, booleans, NULLs and Chinese text; a mart with
# BIGINT counts, DOUBLE ratios, DECIMAL(20,4) and a NULL date.
MARTS = ["fct_project_lifecycle", "mart_city_scorecard"]


# the documented order of exported rows: city, then period (first), then the project
ORDER = {
    "fct_project_lifecycle": "city_code, project_key",
    "mart_city_scorecard": "city_code, period_start nulls first, period_label",
}


def _published(
    p: Paths, table: str, where: str = "true"
) -> tuple[list[str], list[str], list[tuple]]:
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        cur = con.execute(f"select * from main.{table} where {where} order by {ORDER[table]}")
        rows = cur.fetchall()
        names = [d[0] for d in cur.description]
        types = [
            t
            for (t,) in con.execute(
                "select data_type from duckdb_columns() where table_name = ? order by column_index",
                [table],
            ).fetchall()
        ]
    finally:
        con.close()
    return names, types, rows


def _csv_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


@pytest.mark.parametrize("table", MARTS)
def test_csv_utf8_bom_reads_back(published_home: Paths, tmp_path: Path, table: str) -> None:
    import pandas as pd

    res = export(published_home, "csv", [table], tmp_path / "out")
    (f,) = res.files
    assert f.name == f"{table}.csv" and res.version == 2
    raw = f.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert raw.count(b"\xef\xbb\xbf") == 1
    df = pd.read_csv(f, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    names, types, rows = _published(published_home, table)
    assert list(df.columns) == names  # no BOM glued to the first header
    assert len(df) == len(rows)
    for got, want in zip(df.itertuples(index=False), rows, strict=True):
        for name, typ, g, w in zip(names, types, got, want, strict=True):
            if typ == "DOUBLE" and w is not None:
                assert float(g) == pytest.approx(w, rel=1e-15), name
            elif typ.startswith("DECIMAL") and w is not None:
                assert Decimal(g) == w, name
            else:
                assert g == _csv_text(w), (name, g, w)
    if table == "fct_project_lifecycle":
        assert "智能工厂质检" in set(df["project_name"])
        # the same text in GBK would not decode as UTF-8: the file is really UTF-8
        raw.decode("utf-8-sig")


@pytest.mark.parametrize("table", MARTS)
def test_xlsx_typed_and_frozen(published_home: Paths, tmp_path: Path, table: str) -> None:
    from openpyxl import load_workbook

    (f,) = export(published_home, "xlsx", [table], tmp_path / "out").files
    wb = load_workbook(f)
    # the scorecard mixes grains: one sheet per grain (all, quarter here), each of its rows
    grains = [("all", "period_type = 'all'"), ("quarter", "period_type = 'quarter'")]
    sheets = grains if table == "mart_city_scorecard" else [(table[:31], "true")]
    assert wb.sheetnames == [s for s, _ in sheets] + ["columns"]
    for sheet, where in sheets:
        _check_sheet(wb[sheet], *_published(published_home, table, where))
    # column descriptions travel with the file
    about = wb["columns"]
    assert about.freeze_panes == "A2"
    described = {row[0].value: row[3].value for row in about.iter_rows(min_row=2)}
    if table == "mart_city_scorecard":
        ws = wb["all"]
        names = [c.value for c in ws[1]]
        assert described["cooperation_amount_yi"] == "Cooperation amount in 亿元."
        col = names.index("conversion_opportunity_to_validation") + 1
        assert ws.cell(row=2, column=col).number_format == "0.0%"
        yi = ws.cell(row=1, column=names.index("cooperation_amount_yi") + 1)
        assert yi.comment is not None and "亿元" in yi.comment.text


def _check_sheet(ws, names: list[str], types: list[str], rows: list[tuple]) -> None:
    assert ws.freeze_panes == "A2"
    assert [c.value for c in ws[1]] == names
    assert ws.max_row - 1 == len(rows)
    for r, want in enumerate(rows, start=2):
        for j, (name, typ, w) in enumerate(zip(names, types, want, strict=True), start=1):
            cell = ws.cell(row=r, column=j)
            if w is None:
                assert cell.value is None, name
            elif typ == "BOOLEAN":
                assert cell.data_type == "b" and cell.value is w, name
            elif typ == "DATE":
                assert cell.is_date, name
                assert cell.value.date() == w, name
                assert cell.number_format == "yyyy-mm-dd"
            elif typ in ("INTEGER", "BIGINT"):
                assert cell.data_type == "n" and cell.value == w, name
            elif typ.startswith("DECIMAL"):  # decimals are numbers, not text
                assert cell.data_type == "n", name
                assert Decimal(str(cell.value)) == w, name
                assert cell.number_format.startswith("#,##0.")
            elif typ == "DOUBLE":
                assert cell.data_type == "n" and cell.value == pytest.approx(w), name
            else:
                assert cell.data_type == "s" and cell.value == w, name


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_labels_give_readable_headers_and_names(published_home: Paths, tmp_path, fmt) -> None:
    """``--labels zh``: the report's column words as headers, stage/status/region codes as
    the published label tables name them (here: the report fixture has no dim_stage or
    dim_status, so those codes stay; dim_domain names the domains)."""
    import pandas as pd

    (f,) = export(published_home, fmt, ["fct_project_lifecycle"], tmp_path, labels="zh").files
    if fmt == "csv":
        df = pd.read_csv(f, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    else:
        df = pd.read_excel(f, sheet_name="fct_project_lifecycle", dtype=str)
    assert "项目编号" in df.columns and "应用领域" in df.columns and "当前阶段" in df.columns
    assert "project_key" not in df.columns
    row = df[df["项目编号"] == "340100:P1"].iloc[0]
    assert row["应用领域"] == "产业"  # dim_domain's name of 'industry'
    assert row["当前阶段"] == "scale_up"  # no dim_stage in this published file: the code
    names, _, rows = _published(published_home, "fct_project_lifecycle")
    assert len(df) == len(rows)


@pytest.mark.parametrize("table", MARTS)
def test_parquet_keeps_the_schema(published_home: Paths, tmp_path: Path, table: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (f,) = export(published_home, "parquet", [table], tmp_path / "out").files
    names, types, rows = _published(published_home, table)
    t = pq.read_table(f)
    assert t.column_names == names
    assert t.num_rows == len(rows)
    expected = {
        "VARCHAR": pa.string(),
        "DATE": pa.date32(),
        "INTEGER": pa.int32(),
        "BIGINT": pa.int64(),
        "DOUBLE": pa.float64(),
        "BOOLEAN": pa.bool_(),
    }
    for field, typ in zip(t.schema, types, strict=True):
        if typ.startswith("DECIMAL"):
            precision, scale = (int(x) for x in typ[8:-1].split(","))
            assert field.type == pa.decimal128(precision, scale), field.name
        else:
            assert field.type == expected[typ], field.name
    got = [tuple(r.values()) for r in t.to_pylist()]
    assert got == rows


def test_export_all_marts_default_folder(published_home: Paths) -> None:
    res = export(published_home, "parquet")
    assert res.files[0].parent == published_home.published_dir / "exports" / "parquet"
    assert sorted(f.stem for f in res.files) == [
        "dim_city",
        "dim_domain",
        "dim_technology",
        "fct_project_lifecycle",
        "fct_stage_transitions",
        "mart_city_scorecard",
        "mart_stage_activity",
        "mart_stage_funnel",
        "mart_stalled_projects",
        "mart_supply_demand",
        "mart_terminations",
    ]
    assert not list(res.files[0].parent.glob(".*"))  # no temporary files left behind


def test_export_reads_the_published_version_only(published_home: Paths, tmp_path: Path) -> None:
    """Marts in the work DB that were never published do not reach an export."""
    con = duckdb.connect(str(published_home.work_db))
    con.execute("create schema if not exists marts")
    con.execute("create table marts.mart_stage_funnel as select 'unpublished' as breakdown")
    con.close()
    (f,) = export(published_home, "parquet", ["mart_stage_funnel"], tmp_path).files
    import pyarrow.parquet as pq

    assert "unpublished" not in pq.read_table(f).column("breakdown").to_pylist()


def test_unknown_mart_and_nothing_published(published_home: Paths, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not a published table: nope"):
        export(published_home, "csv", ["nope"])
    with pytest.raises(RuntimeError, match="nothing is published"):
        export(Paths(tmp_path / "empty").ensure(), "csv")


def test_cli_export(published_home: Paths, tmp_path: Path, capsys) -> None:
    from scenetrack.cli import main

    out = tmp_path / "x"
    rc = main(
        [
            "export",
            "--home",
            str(published_home.home),
            "--format",
            "xlsx",
            "--mart",
            "mart_city_scorecard",
            "--mart",
            "dim_city",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert sorted(f.name for f in out.iterdir()) == ["dim_city.xlsx", "mart_city_scorecard.xlsx"]
    assert "published version v2" in capsys.readouterr().out
    assert (
        main(["export", "--home", str(published_home.home), "--format", "csv", "--mart", "nope"])
        == 1
    )


def test_city_export_holds_only_that_citys_rows_and_the_national_aggregates(
    published_home: Paths, tmp_path: Path, capsys
) -> None:
    from scenetrack import cli
    from scenetrack.city_access import CITY_ROWS, OPEN_TABLES

    out = tmp_path / "hefei"
    code = cli.main(
        ["export", "--home", str(published_home.home), "--format", "parquet", "--city", "340100"]
        + ["--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    con = duckdb.connect(str(published_home.published_db), read_only=True)
    published = {
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main'"
        ).fetchall()
    }
    assert published <= set(CITY_ROWS) | OPEN_TABLES  # every published table is classified
    exported = {f.stem for f in out.glob("*.parquet")}
    assert exported == published - {"publish_info"}
    left_out = 0
    for t in sorted(exported):
        cur = con.execute(f"select * from main.{t}")
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        got = duckdb.sql(f"select count(*) from '{out / (t + '.parquet')}'").fetchall()[0][0]
        if "city_code" in names and not t.startswith("dim_"):
            mine = [r for r in rows if r["city_code"] == "340100"]
            assert 0 < len(mine), t
            left_out += len(rows) - len(mine)
            cities = duckdb.sql(f"select distinct city_code from '{out / (t + '.parquet')}'")
            assert cities.fetchall() == [("340100",)], t
            assert got == len(mine), t
        elif t == "mart_stage_funnel":
            # worked out from the fixture: national, domain x2, Hefei, cohort x2 = 6 x 4 stages;
            # Wuxi's 4 rows are not exported
            assert got == 24
            values = duckdb.sql(
                f"select distinct breakdown_value from '{out / (t + '.parquet')}' "
                "where breakdown = 'city'"
            )
            assert values.fetchall() == [("340100",)]
        else:
            assert got == len(rows), t  # reference lists: every row
    con.close()
    assert left_out > 0  # Wuxi's rows existed and stayed out
    with pytest.raises(ValueError, match="6 digits"):
        export(published_home, "csv", city="34'; drop table x; --")
