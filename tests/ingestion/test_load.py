"""Every file in the ledger, every row loaded or quarantined with a reason."""

from __future__ import annotations

import duckdb

from scenetrack.pipeline import ingest_paths
from tests.conftest import event, write_csv


def _q(home, sql: str):
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_same_file_twice_adds_nothing_and_keeps_one_ledger_entry(home, tmp_path) -> None:
    f = write_csv(
        tmp_path / "hefei.csv",
        [
            event("合肥", "P1", "opportunity", "enter", "2025-01-10"),
            event("合肥市", "P1", "validation", "enter", "2025-02-10"),
        ],
    )
    first = ingest_paths(home, [f])[0]
    second = ingest_paths(home, [f])[0]
    assert (first.status, first.rows_loaded) == ("loaded", 2)
    assert (second.status, second.rows_loaded, second.rows_duplicate) == ("duplicate", 0, 2)
    assert _q(home, "select count(*), max(times_seen) from raw.file_ledger") == [(1, 2)]
    assert _q(home, "select count(*) from raw.events") == [(2,)]


def test_every_row_is_loaded_or_quarantined_with_its_reason(home, tmp_path) -> None:
    rows = [
        event("合肥", "P1", "opportunity", "enter", "2025-01-10"),  # line 2 ok
        event("Hefei", "P2", "试点", "enter", "2025年3月1日", "4000万元"),  # line 3 ok
        event("", "P3", "opportunity", "enter", "2025-01-10"),  # 4 missing city
        event("Atlantis", "P4", "opportunity", "enter", "2025-01-10"),  # 5 unknown city
        event("合肥", "P5", "dreaming", "enter", "2025-01-10"),  # 6 unknown stage
        event("合肥", "P6", "opportunity", "enter", "last tuesday"),  # 7 bad date
        event("合肥", "P7", "opportunity", "enter", "2014-06-01"),  # 8 too old
        event("合肥", "P8", "application", "enter", "2025-01-10", "lots"),  # 9 bad amount
        event("合肥", "P9", "opportunity", "launch", "2025-01-10"),  # 10 bad event
    ]
    receipt = ingest_paths(home, [write_csv(tmp_path / "mixed.csv", rows)])[0]
    assert receipt.rows_read == 9
    assert receipt.rows_loaded == 2
    assert receipt.rows_quarantined == 7
    assert receipt.rows_read == receipt.rows_loaded + receipt.rows_quarantined
    assert _q(
        home,
        "select source_line, column_name, raw_value, reason from raw.quarantine "
        "order by source_line",
    ) == [
        (4, "city", None, "missing_required"),
        (5, "city", "Atlantis", "unknown_city"),
        (6, "stage", "dreaming", "unknown_stage"),
        (7, "event_date", "last tuesday", "bad_date"),
        (8, "event_date", "2014-06-01", "date_out_of_range"),
        (9, "amount", "lots", "bad_amount"),
        (10, "event_type", "launch", "unknown_event_type"),
    ]
    loaded = _q(
        home,
        "select city_code, stage_code, event_date::varchar, amount_yuan::varchar "
        "from raw.events order by source_line",
    )
    assert loaded == [
        ("340100", "opportunity", "2025-01-10", None),
        ("340100", "validation", "2025-03-01", "40000000.00"),
    ]


def test_unreadable_files_are_rejected_in_the_ledger_and_others_still_load(home, tmp_path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    pdf = tmp_path / "report.csv"
    pdf.write_bytes(b"%PDF-1.7\n\x00\x01binary")
    unknown = tmp_path / "notes.csv"
    unknown.write_text("colour,shape\nred,round\n", encoding="utf-8")
    good = write_csv(
        tmp_path / "good.csv", [event("无锡", "W1", "opportunity", "enter", "2025-05-13")]
    )
    receipts = ingest_paths(home, [empty, pdf, unknown, good])
    assert [r.status for r in receipts] == ["rejected", "rejected", "rejected", "loaded"]
    assert receipts[0].reason.startswith("empty_file")
    assert receipts[1].reason.startswith("not_a_table")
    assert receipts[2].reason.startswith("unknown_layout")
    assert _q(home, "select status, count(*) from raw.file_ledger group by 1 order by 1") == [
        ("loaded", 1),
        ("rejected", 3),
    ]


def test_gbk_file_is_detected_from_its_bytes(home, tmp_path) -> None:
    f = write_csv(
        tmp_path / "utf8-name.csv",
        [event("芜湖市", "H1", "opportunity", "enter", "2025-05-13", domain="产业")],
        encoding="gbk",
    )
    r = ingest_paths(home, [f])[0]
    assert (r.encoding, r.rows_loaded) == ("gb18030", 1)
    assert _q(home, "select city_code, domain_raw from raw.events") == [("340200", "产业")]


def test_loaded_files_are_archived_by_content_hash(home, tmp_path) -> None:
    f = write_csv(
        tmp_path / "../x.csv", [event("合肥", "P1", "opportunity", "enter", "2025-01-10")]
    )
    r = ingest_paths(home, [f])[0]
    archived = list(home.archive_dir.rglob("*.csv"))
    assert len(archived) == 1
    assert archived[0].read_bytes() == f.read_bytes()
    assert r.sha256 in str(archived[0]) and home.archive_dir in archived[0].parents
