"""Many files at once: ``ingest_files`` shares the reading and the SQL normalisation among
files but writes each in its own transaction, so the warehouse and every receipt are exactly
what ingesting the files one at a time gives. Also the receipt workbook's own writer."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import duckdb
import openpyxl
import pytest

from ingestion import load
from ingestion.load import Receipt, ingest_file, ingest_files
from ingestion.receipts import write_workbook
from scenetrack.warehouse import RAW_DDL
from tests.conftest import event, write_csv
from tests.ingestion.corpus import write_text
from tests.ingestion.test_intake import _ledger_workbook

VOLATILE = {"loaded_at", "quarantined_at", "first_seen_at", "last_seen_at", "archived_path"}
RAW_TABLES = ("events", "capabilities", "quarantine", "file_ledger")
CAPABILITY_COLUMNS = ["城市", "能力编号", "供给方", "技术领域", "所属领域", "标题", "发布日期"]


def _corpus(d: Path) -> list[Path]:
    """Files of every kind, in an order that mixes layouts, rejections and duplicates."""
    d.mkdir()
    mixed = write_csv(
        d / "mixed.csv",
        [
            event("合肥", "P1", "opportunity", "enter", "2025-01-10", "4000万元"),
            event("Atlantis", "P2", "opportunity", "enter", "2025-01-10"),  # unknown_city
            event("合肥", "P3", "dreaming", "enter", "2025-01-10"),  # unknown_stage
            event("合肥市", "P4", "试点", "enter", "2025年3月", "１２万"),  # month, full-width
            event("合肥", "P5", "opportunity", "enter", "2014-06-01"),  # out of range
        ],
    )
    wan = write_text(  # the amount header's unit applies to bare numbers: another SQL
        d / "wan.csv",
        "城市,项目编号,阶段,事件,日期,合作金额（万元）\n无锡,W1,应用,进入,2025/5/13,4000\n"
        "无锡,W2,应用,进入,2025.5.14,lots\n",
    )
    no_amount = write_csv(  # fewer columns: another SQL again
        d / "short.csv",
        [event(" 无锡 ", "W3", "opportunity", "enter", "45790")],
        columns=["city", "project_id", "stage", "event_type", "event_date"],
    )
    gbk = write_csv(
        d / "gbk.csv",
        [event("芜湖市", "H1", "opportunity", "enter", "2025-05-13", domain="产业")],
        encoding="gbk",
    )
    caps = [
        write_text(
            d / f"caps_{i}.csv",
            ",".join(CAPABILITY_COLUMNS)
            + f"\n{city},C{i}-1,某公司,人工智能,产业,方案,2025-02-0{i}\n"
            + f"{city},C{i}-2,某公司,quantum computing,产业,方案,2025-02-0{i}\n"
            + f"{city},,某公司,机器人,城市,方案,2025-02-0{i}\n",
        )
        for i, city in enumerate(["深圳", "北京市", "Suzhou"], 1)
    ]
    posted = write_text(
        d / "posted.jsonl",
        json.dumps(event("合肥", "J1", "opportunity", "enter", "2025-05-01"), ensure_ascii=False)
        + '\n{"city": "合肥", "project_id": \n',
    )
    ledger = _ledger_workbook(d / "ledger.xlsx")
    empty = write_text(d / "empty.csv", "")
    pdf = d / "scan.csv"
    pdf.write_bytes(b"%PDF-1.7\n\x00\x01binary")
    twin = d / "mixed_again.csv"
    twin.write_bytes(mixed.read_bytes())  # the same content within one call: a duplicate
    return [mixed, caps[0], wan, empty, twin, no_amount, ledger, caps[1], gbk, pdf, posted,
            caps[2]]  # fmt: skip


def _connect(db: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(db))
    con.execute(RAW_DDL)
    return con


def _tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every raw table, without load times and archive paths, as sorted rows."""
    out = {}
    for t in RAW_TABLES:
        cols = [
            c
            for (c,) in con.execute(
                "select column_name from duckdb_columns() "
                "where schema_name = 'raw' and table_name = ? order by column_index",
                [t],
            ).fetchall()
            if c not in VOLATILE
        ]
        rows = con.execute(f"select {', '.join(cols)} from raw.{t}").fetchall()
        out[t] = sorted(rows, key=repr)
    return out


def _receipt(r: Receipt) -> dict:
    d = r.to_dict()
    d.pop("receipt_json")
    d.pop("receipt_xlsx")
    return d


def test_a_batch_loads_exactly_what_files_one_at_a_time_load(tmp_path, monkeypatch) -> None:
    files = _corpus(tmp_path / "in")
    single = _connect(tmp_path / "single.duckdb")
    one_by_one = [ingest_file(single, f, tmp_path / "a1") for f in files]

    statements = []
    real = load._normalise
    monkeypatch.setattr(
        load,
        "_normalise",
        lambda con, subs, table: statements.append(subs) or real(con, subs, table),
    )
    batched = _connect(tmp_path / "batched.duckdb")
    together = list(ingest_files(batched, files, tmp_path / "a2"))

    assert [_receipt(r) for r in together] == [_receipt(r) for r in one_by_one]
    assert [r.status for r in together] == [
        "loaded", "loaded", "loaded", "rejected", "duplicate", "loaded", "loaded", "loaded",
        "loaded", "rejected", "loaded", "loaded",
    ]  # fmt: skip
    assert _tables(batched) == _tables(single)
    # what was shared: one statement normalised the three capability lists, one the files in
    # the canonical event columns (mixed, gbk and the JSON Lines); the duplicate was read once
    assert sorted(len(subs) for subs in statements) == [1, 1, 1, 3, 3]
    accounts = {
        r.file: (r.rows_read, r.rows_loaded, r.quarantine_by_reason)
        for r in together
        if r.status == "loaded"
    }
    # an unknown technology (quantum computing) loads as unclassified; a row with two problems
    # counts under each of its reasons
    assert accounts == {
        "mixed.csv": (5, 2, {"date_out_of_range": 1, "unknown_city": 1, "unknown_stage": 1}),
        "caps_1.csv": (3, 2, {"missing_required": 1}),
        "wan.csv": (2, 1, {"bad_amount": 1}),
        "short.csv": (1, 1, {}),
        "ledger.xlsx": (9, 4, {"bad_date": 1, "missing_required": 4}),
        "caps_2.csv": (3, 2, {"missing_required": 1}),
        "gbk.csv": (1, 1, {}),
        "posted.jsonl": (2, 1, {"bad_json": 1}),
        # plain "Suzhou" is two cities; the third row also names no capability
        "caps_3.csv": (3, 0, {"missing_required": 1, "unknown_city": 3}),
    }
    loaded = [r for r in together if r.status == "loaded"]
    assert all(r.rows_read == r.rows_loaded + r.rows_quarantined for r in loaded)
    single.close()
    batched.close()


def test_a_large_file_is_normalised_while_inserted_with_the_same_outcome(
    tmp_path, monkeypatch
) -> None:
    """A file of at least PARALLEL_ROWS rows skips the materialised normalised table: its rows
    go straight into raw, and its problem rows are normalised again and kept aside."""
    files = _corpus(tmp_path / "in")
    materialised = _connect(tmp_path / "m.duckdb")
    expected = [_receipt(r) for r in ingest_files(materialised, files, tmp_path / "a1")]

    monkeypatch.setattr(load, "PARALLEL_ROWS", 1)  # every file counts as large
    direct = _connect(tmp_path / "d.duckdb")
    direct.execute("set preserve_insertion_order = true")
    got = [_receipt(r) for r in ingest_files(direct, files, tmp_path / "a2")]

    assert got == expected
    assert _tables(direct) == _tables(materialised)
    # the connection's setting is put back after the parallel, unordered inserts
    assert direct.execute("select current_setting('preserve_insertion_order')").fetchone() == (
        True,
    )
    assert (
        direct.execute("select count(*) from duckdb_tables() where temporary").fetchone()[0] == 2
    )  # only ref_city and ref_alias: no normalised table left behind
    materialised.close()
    direct.close()


def test_a_write_error_stops_at_its_file_after_the_earlier_ones_committed(
    tmp_path, monkeypatch
) -> None:
    files = [
        write_csv(
            tmp_path / f"f{i}.csv", [event("合肥", f"P{i}", "opportunity", "enter", "2025-01-10")]
        )
        for i in range(3)
    ]
    real = load._archive_copy

    def disk_full(src: Path, dest: Path) -> None:
        if src.name == "f1.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dest)

    monkeypatch.setattr(load, "_archive_copy", disk_full)
    con = _connect(tmp_path / "w.duckdb")
    loading = ingest_files(con, files, tmp_path / "archive")
    assert next(loading).status == "loaded"  # f0: committed before f1's turn
    with pytest.raises(OSError, match="No space"):
        next(loading)
    assert con.execute("select file_name from raw.file_ledger").fetchall() == [("f0.csv",)]
    assert con.execute("select project_id from raw.events").fetchall() == [("P0",)]
    assert con.execute("select count(*) from duckdb_tables() where temporary").fetchone()[0] == 2

    monkeypatch.setattr(load, "_archive_copy", real)  # space freed: the rerun loads the rest
    again = list(ingest_files(con, files, tmp_path / "archive"))
    assert [r.status for r in again] == ["duplicate", "loaded", "loaded"]
    assert con.execute("select count(*) from raw.events").fetchone()[0] == 3
    con.close()


def test_receipt_workbook_holds_plain_values_that_openpyxl_and_calamine_read(tmp_path) -> None:
    from python_calamine import CalamineWorkbook

    path = tmp_path / "r.xlsx"
    text = ['=HYPERLINK("http://evil.example","x")', "<a & b> \"q\" 'p'", "  padded  ", "合肥"]
    rows = [
        ["行号 Line", "值 Value", "说明"],
        [3, text[0], None],
        [4, text[1], "bad\x00\x07char\ufffe"],
        [5, text[2], 2.5],
        [6, text[3], True],
    ]
    write_workbook(path, [("回执 Receipt", [["a"]]), ("隔离行 Quarantined", rows)])

    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["回执 Receipt", "隔离行 Quarantined"]
    ws = wb["隔离行 Quarantined"]
    got = [[c.value for c in row] for row in ws.iter_rows()]
    assert got == [
        ["行号 Line", "值 Value", "说明"],
        [3, text[0], None],
        [4, text[1], "badchar"],  # characters XML cannot hold are dropped
        [5, text[2], 2.5],
        [6, text[3], True],
    ]
    assert all(ws.cell(row=r, column=2).data_type == "s" for r in range(2, 6))  # never formulas

    cal = CalamineWorkbook.from_path(str(path))
    assert cal.sheet_names == ["回执 Receipt", "隔离行 Quarantined"]
    values = cal.get_sheet_by_name("隔离行 Quarantined").to_python()
    assert [row[1] for row in values[1:]] == text
    assert [row[0] for row in values[1:]] == [3, 4, 5, 6]
