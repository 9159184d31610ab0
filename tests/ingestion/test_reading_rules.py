"""What the reader decides before it reads a table, with the exact reason a clerk gets back:
missing, empty, oversized, special and binary files, formats from the first bytes, NUL bytes
anywhere, and control characters removed from values.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pyarrow as pa
import pytest

from ingestion.reading import (
    SNIFF_BYTES,
    Limits,
    RejectedFile,
    check_size,
    detect_encoding,
    first_nul_byte,
    read_submission,
    regular_file_problem,
    sniff_format,
    strip_control_characters,
)


def _rejection(fn, *args) -> tuple[str, str]:
    with pytest.raises(RejectedFile) as exc:
        fn(*args)
    assert exc.value.message == str(exc.value)
    return exc.value.reason, exc.value.message


def test_sizes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert _rejection(check_size, empty, Limits()) == ("empty_file", "the file is empty (0 bytes)")
    one = tmp_path / "one.csv"
    one.write_bytes(b"x")
    assert check_size(one, Limits()) == 1  # one byte is no empty file
    big = tmp_path / "big.csv"
    big.write_bytes(b"x" * 11)
    assert check_size(big, Limits(max_bytes=11)) == 11  # at the limit: allowed
    assert _rejection(check_size, big, Limits(max_bytes=10)) == (
        "too_large",
        "the file is 11 bytes; the limit is 10",
    )
    missing = tmp_path / "missing.csv"
    assert _rejection(check_size, missing, Limits()) == (
        "not_found",
        f"no such file: {missing}",
    )


def test_what_is_not_a_regular_file_says_what_it_is(tmp_path: Path) -> None:
    target = tmp_path / "target.csv"
    target.write_text("x")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    sock = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        assert regular_file_problem(target) is None
        assert regular_file_problem(link) is None  # followed (an operator's path)
        cases = {
            link: (
                "link.csv is a symbolic link; links are never followed: put the file itself there"
            ),
            tmp_path: f"{tmp_path.name} is a directory, not a file",
            fifo: "pipe is a named pipe (FIFO), not a file",
            sock: "sock is a socket, not a file",
            Path("/dev/null"): "null is a character device, not a file",
        }
        for path, message in cases.items():
            problem = regular_file_problem(path, follow_symlinks=False)
            assert problem is not None
            assert (problem.reason, problem.message) == ("not_a_regular_file", message)
        missing = regular_file_problem(tmp_path / "nothing")
        assert (missing.reason, missing.message) == (
            "not_found",
            f"no such file: {tmp_path / 'nothing'}",
        )
        assert _rejection(check_size, fifo, Limits())[0] == "not_a_regular_file"
    finally:
        server.close()


@pytest.mark.parametrize(
    ("prefix", "fmt"),
    [
        (b"PK\x03\x04rest", "xlsx"),
        (b"PK\x05\x06", "xlsx"),
        (b'{"city": "x"}\n', "jsonl"),
        (b'\n \t{"city": "x"}', "jsonl"),
        (b"\xef\xbb\xbf{", "jsonl"),
        (b"city,x\n", "csv"),
        (b"X\n", "csv"),  # a one-letter header is a header
        (b"\xff\xfe" + "城市".encode("utf-16-le"), "csv"),  # UTF-16 with NULs: text
    ],
)
def test_the_format_comes_from_the_first_bytes(prefix: bytes, fmt: str) -> None:
    assert sniff_format(prefix) == fmt


@pytest.mark.parametrize(
    ("prefix", "reason", "message"),
    [
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            "unsupported_format",
            "an old Excel 97-2003 .xls (or a password-protected workbook); save it as .xlsx or "
            "CSV without a password",
        ),
        (b"%PDF-1.7", "not_a_table", "the file is a PDF document, not a table"),
        (b"city,x\n\x00\x01", "not_a_table", "the file is binary, not a CSV text table"),
        (b" \r\n\t\n", "empty_file", "the file holds only blank lines"),
        (b"\xef\xbb\xbf\n", "empty_file", "the file holds only blank lines"),
        (
            b"\xff\xfe" + "\r\n \n".encode("utf-16-le"),
            "empty_file",
            "the file holds only blank lines",
        ),
    ],
)
def test_what_is_no_table_is_said(prefix: bytes, reason: str, message: str) -> None:
    assert _rejection(sniff_format, prefix) == (reason, message)


@pytest.mark.parametrize(
    ("prefix", "encoding"),
    [
        ("城市".encode() + b"\xe5\x90", "utf-8"),  # a character cut at the end of the prefix
        ("城市".encode("gb18030"), "gb18030"),
        (b"\xef\xbb\xbfcity", "utf-8-sig"),
        (b"\xfe\xff\x00c", "utf-16"),
        ("城市".encode("gb18030") + b"\xb3", "gb18030"),  # a GBK character cut at the end
    ],
)
def test_encodings(prefix: bytes, encoding: str) -> None:
    assert detect_encoding(prefix) == encoding


def test_a_bad_encoding_is_said() -> None:
    assert _rejection(detect_encoding, b"city\n\x80\x80\x80") == (
        "bad_encoding",
        "the file is neither UTF-8 nor GBK/GB18030 text",
    )


def test_the_first_nul_byte_is_found_anywhere(tmp_path: Path) -> None:
    f = tmp_path / "f.csv"
    f.write_bytes(b"abc")
    assert first_nul_byte(f) is None
    f.write_bytes(b"\x00abc")
    assert first_nul_byte(f) == 0
    f.write_bytes(b"ab\x00c\x00")
    assert first_nul_byte(f) == 2
    far = (1 << 23) + 5  # in the third 4 MiB chunk
    f.write_bytes(b"a" * far + b"\x00" + b"b" * 10)
    assert first_nul_byte(f) == far


def test_a_nul_past_the_sniffed_prefix_makes_a_csv_binary(tmp_path: Path) -> None:
    f = tmp_path / "late.csv"
    f.write_bytes(b"city,project_id\n" + b"a,b\n" * (SNIFF_BYTES // 4) + b"c,\x00d\n")
    reason, message = _rejection(read_submission, f, "sha", f.stat().st_size)
    assert reason == "not_a_table"
    assert message == (
        f"the file holds a NUL byte (at byte {f.read_bytes().index(0)}): binary data, not a "
        "CSV text table"
    )


def test_control_characters_are_removed_and_counted_per_column() -> None:
    table = pa.table(
        {
            "a": ["ok", "x\x01y", "\x1f", None, "tab\tand\nline\r"],
            "b": ["clean", "also clean", "", None, "万"],
            "n": pa.array([1, 2, 3, 4, 5]),
        }
    )
    cleaned, counts = strip_control_characters(table)
    assert counts == {"a": 2}
    assert cleaned.column("a").to_pylist() == ["ok", "xy", "", None, "tab\tand\nline\r"]
    assert cleaned.column("b").to_pylist() == table.column("b").to_pylist()
    assert cleaned.column_names == ["a", "b", "n"]
    untouched, none = strip_control_characters(table.select(["b", "n"]))
    assert none == {} and untouched.equals(table.select(["b", "n"]))
    # a column in chunks: a chunk of nulls only (no data buffer) does not end the look
    chunked = pa.table({"a": pa.chunked_array([[None, None], ["x\x02y"]], type=pa.string())})
    cleaned, counts = strip_control_characters(chunked)
    assert counts == {"a": 1} and cleaned.column("a").to_pylist() == [None, None, "xy"]


def test_control_characters_in_a_file_are_removed_and_said(tmp_path: Path) -> None:
    f = tmp_path / "ctl.csv"
    f.write_text(
        "city,project_id,project_name,stage,event_type,event_date\n"
        "合肥,P1,智能\x01巡检\x07,opportunity,enter,2025-03-01\n"
        "合肥,P2,正常,opportunity,enter,2025-03-01\n",
        encoding="utf-8",
    )
    sub = read_submission(f, "sha", f.stat().st_size)
    assert sub.table.column("project_name").to_pylist() == ["智能巡检", "正常"]
    assert sub.notes[-1] == (
        "removed invisible control characters (U+0000-U+001F other than tab and line breaks) "
        "from 1 values: project_name (1)"
    )
