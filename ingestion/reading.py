"""Opening a submission: size limit, encoding, delimiter and header, before any row is read.

A file that fails here is *rejected* whole with a reason the clerk can act on; it is still
recorded in the ledger.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

MAX_FILE_BYTES = 512 * 1024 * 1024
SNIFF_BYTES = 256 * 1024


class RejectedFile(Exception):
    """The file cannot be read as a table at all; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class OpenedFile:
    """What we learnt about a file before reading its rows."""

    path: Path
    sha256: str
    size: int
    encoding: str
    delimiter: str
    header: list[str]


def sha256_of(path: Path) -> str:
    """Content hash, streamed (files can be large); the ledger key."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_encoding(prefix: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, else GB18030.

    GB18030 is a superset of GBK and GB2312, so one codec covers what Excel on a Chinese
    Windows saves. Decided from the bytes, never from the file name.
    """
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("gb18030")().decode(prefix, final=False)
        return "gb18030"
    except UnicodeDecodeError:
        raise RejectedFile(
            "bad_encoding", "the file is neither UTF-8 nor GBK/GB18030 text"
        ) from None


def open_submission(path: Path, max_bytes: int = MAX_FILE_BYTES) -> OpenedFile:
    """Check size and encoding and read the header line; raise :class:`RejectedFile`."""
    if not path.is_file():
        raise RejectedFile("not_found", f"no such file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise RejectedFile("empty_file", "the file is empty (0 bytes)")
    if size > max_bytes:
        raise RejectedFile("too_large", f"the file is {size} bytes; the limit is {max_bytes}")
    with path.open("rb") as f:
        prefix = f.read(SNIFF_BYTES)
    if b"\x00" in prefix:
        raise RejectedFile("not_a_table", "the file is binary, not a CSV text table")
    encoding = detect_encoding(prefix)
    text = prefix.decode(encoding, errors="ignore")
    first_line = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first_line:
        raise RejectedFile("empty_file", "the file holds no header line")
    delimiter = max((",", "\t", ";"), key=first_line.count)
    header = next(csv.reader(io.StringIO(first_line), delimiter=delimiter))
    return OpenedFile(path, sha256_of(path), size, encoding, delimiter, [h.strip() for h in header])


def read_rows(opened: OpenedFile) -> pa.Table:
    """All rows as strings, in file order, plus ``__line`` (the 1-based line of each row).

    Arrow's reader keeps file order and types every column as string, so nothing is
    reinterpreted before normalisation (leading zeros, 4000万元, dates in any form).
    Line numbers assume one physical line per row (header is line 1).
    """
    encoding = "utf8" if opened.encoding == "utf-8-sig" else opened.encoding
    names = [f"c{i}" for i in range(len(opened.header))]
    try:
        table = pacsv.read_csv(
            opened.path,
            read_options=pacsv.ReadOptions(
                encoding=encoding, column_names=names, skip_rows=1, block_size=1 << 24
            ),
            parse_options=pacsv.ParseOptions(delimiter=opened.delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise RejectedFile("malformed_csv", f"the CSV cannot be parsed: {exc}") from None
    table = table.rename_columns([h.lower() for h in opened.header])
    lines = pa.array(range(2, table.num_rows + 2), type=pa.int64())
    return table.append_column("__line", lines)
