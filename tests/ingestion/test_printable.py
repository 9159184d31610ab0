"""printable: text from a file cannot forge lines or send terminal control sequences."""

from __future__ import annotations

import pytest

from ingestion.load import Receipt
from ingestion.printable import printable


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a\nloaded    fake.csv", "a\\nloaded    fake.csv"),  # a forged line
        ("a\r\nb", "a\\r\\nb"),
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # clear screen, colour
        ("bell\x07", "bell\\x07"),
        ("nel\x85csi\x9b", "nel\\x85csi\\x9b"),  # C1 controls (NEL, CSI)
        ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),  # line/paragraph separators
        ("file\u202egpj.exe", "file\\u202egpj.exe"),  # right-to-left override
        ("tab\there", "tab\\there"),
        ("合肥 事件清单 (2025).csv", "合肥 事件清单 (2025).csv"),  # kept as is
        ("", ""),
    ],
)
def test_printable_escapes_controls_and_keeps_the_rest(raw: str, shown: str) -> None:
    assert printable(raw) == shown
    assert len(printable(raw).splitlines()) <= 1


def test_keep_newlines_keeps_only_the_message_lines() -> None:
    text = "ERROR check\n      observed: 1\x1b[2J\r2"
    assert printable(text, keep_newlines=True) == "ERROR check\n      observed: 1\\x1b[2J\\r2"


def test_receipt_line_escapes_file_name_and_reason() -> None:
    loaded = Receipt("x\nloaded    forged.csv", None, "loaded", rows_read=3, rows_loaded=3)
    assert loaded.line().count("\n") == 0
    assert loaded.line().startswith("loaded    x\\nloaded    forged.csv: read 3")
    rejected = Receipt("y\x1b[2J.csv", None, "rejected", reason="bad_header: \x1b]0;title\x07")
    assert rejected.line() == "REJECTED y\\x1b[2J.csv: bad_header: \\x1b]0;title\\x07"
