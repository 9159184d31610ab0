"""Reading a submission into an Arrow table of strings, whatever the clerk sent.

Formats are told apart by their bytes, never by the file name: a zip archive is read as an
XLSX workbook (:mod:`ingestion.xlsx`), text starting with ``{`` as JSON Lines, any other
text as CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK/GB18030; comma, tab or semicolon).
The header row is found among the first rows (title rows above it are skipped) and mapped
onto a layout's canonical columns (:mod:`ingestion.headers`).

Every reader returns the same shape, so all formats go through the same SQL normalisation:
one string column per recognised canonical column, ``__line`` (the physical line, or sheet
row, where the row starts) and ``__problem``/``__problem_column``/``__problem_value`` (a
problem the reader found in the row, e.g. ``bad_json``; NULL otherwise). Rows whose cells
are all blank are not rows: they are skipped and not counted.

A file that fails here is *rejected* whole with a reason the clerk can act on; it is still
recorded in the ledger.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ingestion.headers import MAX_HEADER_SEARCH_ROWS, HeaderMatch
from ingestion.headers import find_header as _find_header
from ingestion.layouts import EVENTS
from ingestion.submission import (
    PROBLEM_COLUMNS,
    Columns,
    Limits,
    RejectedFile,
    Submission,
    find_header,
    is_blank,
    title_text,
    truncate_problem_value,
)
from ingestion.xlsx import read_xlsx

SNIFF_BYTES = 256 * 1024
DELIMITERS = (",", "\t", ";")
# Arrow parses CSV blocks in parallel: 4 MiB blocks keep both cores of a small machine busy
# on a 150 MB file (16 MiB blocks left one idle at the end).
CSV_BLOCK_BYTES = 1 << 22

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sha256_of(path: Path, follow_symlinks: bool = True) -> str:
    """Content hash, streamed (files can be large); the ledger key. With ``follow_symlinks``
    False the file is opened with ``O_NOFOLLOW``: a link swapped in after the check is not
    read either."""
    h = hashlib.sha256()
    flags = os.O_RDONLY | (0 if follow_symlinks else os.O_NOFOLLOW)
    with os.fdopen(os.open(path, flags), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_NOT_REGULAR = (
    (stat.S_ISLNK, "a symbolic link; links are never followed: put the file itself there"),
    (stat.S_ISDIR, "a directory, not a file"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a file"),
    (stat.S_ISSOCK, "a socket, not a file"),
    (stat.S_ISCHR, "a character device, not a file"),
    (stat.S_ISBLK, "a block device, not a file"),
)


def regular_file_problem(path: Path, follow_symlinks: bool = True) -> RejectedFile | None:
    """Why ``path`` is not a regular file that may be read (None: it is one).

    Decided from ``stat`` alone, so a named pipe (which would block a reader forever), a
    device or a link is never opened.
    """
    try:
        st = os.stat(path, follow_symlinks=follow_symlinks)
    except FileNotFoundError:
        return RejectedFile("not_found", f"no such file: {path}")
    if stat.S_ISREG(st.st_mode):
        return None
    what = next((text for test, text in _NOT_REGULAR if test(st.st_mode)), "not a regular file")
    return RejectedFile("not_a_regular_file", f"{path.name} is {what}")


def detect_encoding(prefix: bytes) -> str:
    """UTF-8 (with or without BOM) when the bytes decode as UTF-8, else GB18030.

    GB18030 is a superset of GBK and GB2312, so one codec covers what Excel on a Chinese
    Windows saves. UTF-16 is accepted with its BOM (Excel's "Unicode text"). Decided from
    the bytes, never from the file name.
    """
    if prefix.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
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


def check_size(path: Path, limits: Limits) -> int:
    """The file's size; raise for a missing, empty or oversized file, and for anything that is
    not a regular file (:func:`regular_file_problem`)."""
    problem = regular_file_problem(path, limits.follow_symlinks)
    if problem is not None:
        raise problem
    size = path.stat().st_size
    if size == 0:
        raise RejectedFile("empty_file", "the file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise RejectedFile(
            "too_large", f"the file is {size} bytes; the limit is {limits.max_bytes}"
        )
    return size


def sniff_format(prefix: bytes) -> str:
    """'xlsx', 'jsonl' or 'csv' from the first bytes; raise for what is no table at all."""
    if prefix.startswith(ZIP_MAGIC):
        return "xlsx"
    if prefix.startswith(OLE_MAGIC):
        raise RejectedFile(
            "unsupported_format",
            "an old Excel 97-2003 .xls (or a password-protected workbook); "
            "save it as .xlsx or CSV without a password",
        )
    if prefix.startswith(b"%PDF"):
        raise RejectedFile("not_a_table", "the file is a PDF document, not a table")
    encoding = detect_encoding(prefix) if b"\x00" not in prefix or _is_utf16(prefix) else None
    if encoding is None:
        raise RejectedFile("not_a_table", "the file is binary, not a CSV text table")
    text = prefix.decode(encoding, errors="ignore").lstrip("\ufeff \t\r\n")
    if not text:
        raise RejectedFile("empty_file", "the file holds only blank lines")
    return "jsonl" if text.startswith("{") else "csv"


def _is_utf16(prefix: bytes) -> bool:
    return prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))


def read_submission(
    path: Path, sha256: str, size: int, sheet: str | None = None, limits: Limits | None = None
) -> Submission:
    """Read a file whose size was checked; raise :class:`RejectedFile` when it is no table.

    Control characters are handled the same wherever they are: a NUL byte anywhere in a text
    file makes it binary (rejected, :func:`first_nul_byte`); the other C0 controls but tab
    and line breaks are removed from the values and counted in the receipt
    (:func:`strip_control_characters`).
    """
    limits = limits or Limits()
    flags = os.O_RDONLY | (0 if limits.follow_symlinks else os.O_NOFOLLOW)
    with os.fdopen(os.open(path, flags), "rb") as f:
        prefix = f.read(SNIFF_BYTES)
    fmt = sniff_format(prefix)
    if fmt == "xlsx":
        sub = read_xlsx(path, sha256, size, sheet, limits)
    else:
        encoding = detect_encoding(prefix)
        nul = None if encoding == "utf-16" else first_nul_byte(path)
        if nul is not None:
            raise RejectedFile(
                "not_a_table",
                f"the file holds a NUL byte (at byte {nul}): binary data, not a "
                f"{'JSON Lines' if fmt == 'jsonl' else 'CSV'} text table",
            )
        if fmt == "jsonl":
            sub = _read_jsonl(path, sha256, size, encoding, limits)
        else:
            sub = _read_csv(path, sha256, size, encoding, prefix, limits)
        if sheet:
            sub.notes.append(f"--sheet {sheet} ignored: a {fmt.upper()} file has no sheets")
    sub.table, cleaned = strip_control_characters(sub.table)
    if cleaned:
        where = ", ".join(f"{column} ({n})" for column, n in cleaned.items())
        sub.notes.append(
            f"removed invisible control characters (U+0000-U+001F other than tab and line "
            f"breaks) from {sum(cleaned.values())} values: {where}"
        )
    return sub


def first_nul_byte(path: Path) -> int | None:
    """Offset of the first NUL byte in the file, or None (one streamed pass, ``bytes.find``)."""
    offset = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            at = chunk.find(b"\x00")
            if at >= 0:
                return offset + at
            offset += len(chunk)
    return None


# C0 control characters but tab, line feed and carriage return: invisible, never meant, and
# illegal in XLSX (XML 1.0). The same set the exports strip (scenetrack.export).
CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_ALLOWED_LOW_BYTES = (0x09, 0x0A, 0x0D)


def _may_hold_controls(column: pa.ChunkedArray) -> bool:
    """Cheap screen over a string column's data buffers (NumPy, no per-value work): a byte
    below 0x20 other than tab and line breaks. UTF-8 never uses such bytes inside a
    multi-byte character, so a clean column is known clean without a regex."""
    for chunk in column.chunks:
        data = chunk.buffers()[2] if len(chunk.buffers()) > 2 else None
        if data is None:
            continue
        values = np.frombuffer(data, dtype=np.uint8)
        low = values[np.flatnonzero(values < 0x20)]
        if low.size and np.isin(low, _ALLOWED_LOW_BYTES, invert=True).any():
            return True
    return False


def strip_control_characters(table: pa.Table) -> tuple[pa.Table, dict[str, int]]:
    """The table with :data:`CONTROL_CHARACTERS` removed from every string value, and how many
    values each column had them in (only columns that had any)."""
    cleaned: dict[str, int] = {}
    for i, name in enumerate(table.column_names):
        column = table.column(i)
        text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
        if not text or not _may_hold_controls(column):
            continue
        hits = pc.sum(pc.match_substring_regex(column, CONTROL_CHARACTERS)).as_py() or 0
        if hits:
            cleaned[name] = hits
            fixed = pc.replace_substring_regex(column, CONTROL_CHARACTERS, "")
            table = table.set_column(i, name, fixed)
    return table, cleaned


# ---------------------------------------------------------------------------------------
# CSV


def _head_records(text: str, delimiter: str) -> list[tuple[int, list[object]]]:
    """The first non-blank records of ``text`` with the physical line each one ends on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out: list[tuple[int, list[object]]] = []
    try:
        for rec in reader:
            if not is_blank(rec):
                out.append((reader.line_num, list(rec)))
                if len(out) >= MAX_HEADER_SEARCH_ROWS:
                    break
    except csv.Error:
        pass
    return out


def _read_csv(
    path: Path, sha256: str, size: int, encoding: str, prefix: bytes, limits: Limits
) -> Submission:
    text = prefix.decode(encoding, errors="ignore").lstrip("\ufeff")
    found = None
    for delimiter in DELIMITERS:
        records = _head_records(text, delimiter)
        found = _find_header([cells for _, cells in records])
        if found is not None:
            break
    if found is None:
        first_line = text.split("\n", 1)[0]
        find_header(_head_records(text, max(DELIMITERS, key=first_line.count)))
        raise AssertionError("find_header raises when no header is found")
    index, match = found
    header_line, header_cells = records[index]
    if len(header_cells) > limits.max_columns:
        raise RejectedFile(
            "too_many_columns",
            f"the header has {len(header_cells)} columns; the limit is {limits.max_columns}",
        )
    sub = Submission(path, sha256, size, "csv", encoding, match, pa.table({}), None, header_line)
    sub.titles = [title_text(cells) for _, cells in records[:index]]
    sub.notes.append({",": "comma", "\t": "tab", ";": "semicolon"}[delimiter] + "-separated")
    table = None
    if encoding != "utf-16":
        table = _csv_fast(path, encoding, text, delimiter, header_line, len(header_cells), sub)
    if table is None:
        table = _csv_exact(path, encoding, delimiter, header_line, len(header_cells), sub, limits)
    if table.num_rows > limits.max_rows:
        raise RejectedFile("too_many_rows", f"the file has more than {limits.max_rows} rows")
    sub.table = table
    return sub


def _byte_offset(text: str, encoding: str, lines: int) -> int:
    """Bytes taken by the first ``lines`` physical lines of the decoded ``text``."""
    buf = io.StringIO(text, newline="")
    head = "".join(buf.readline() for _ in range(lines))
    bom = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0
    return bom + len(head.encode("utf-8" if encoding == "utf-8-sig" else encoding))


def _physical_lines(path: Path) -> int:
    """Lines in the file: newline bytes, plus one when the last line has no newline."""
    count, last = 0, b""
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


def _csv_fast(
    path: Path,
    encoding: str,
    text: str,
    delimiter: str,
    header_line: int,
    ncols: int,
    sub: Submission,
) -> pa.Table | None:
    """Arrow's multithreaded reader; None when exact line numbers need the careful reader.

    Each row's physical line is the header's line plus the lines every earlier row spans
    (1 + the line breaks inside its quoted values). That holds when the row spans add up to
    the file's line count; blank lines or rows Arrow cannot parse break the sum, and then
    the careful reader (:func:`_csv_exact`) reads the file instead.
    """
    names = [f"c{i}" for i in range(ncols)]
    source = pa.OSFile(str(path))
    try:
        source.seek(_byte_offset(text, encoding, header_line))
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding.startswith("utf-8") else encoding,
                column_names=names,
                block_size=CSV_BLOCK_BYTES,
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError):
        return None
    finally:
        source.close()
    physical = _physical_lines(path)
    if physical == header_line + table.num_rows:  # every row on one line: no need to count
        lines = _int_range(header_line + 1, table.num_rows)
    else:
        spans = pa.array([], type=pa.int64())
        if table.num_rows:
            extra = None
            for name in names:
                breaks = pc.count_substring(table.column(name), "\n")
                extra = breaks if extra is None else pc.add(extra, breaks)
            spans = pc.add(pc.cast(extra, pa.int64()), 1)
        if header_line + (pc.sum(spans).as_py() or 0) != physical:
            return None  # blank lines or rows Arrow skipped: only the careful reader knows
        lines = pc.add(pc.subtract(pc.cumulative_sum(spans), spans), header_line + 1)
    match = sub.match
    cols = {c: table.column(names[pos]) for c, pos in match.positions.items()}
    out = pa.table(
        {
            **cols,
            "__line": lines,
            **{p: pa.nulls(table.num_rows, pa.string()) for p in PROBLEM_COLUMNS},
        }
    )
    keep = _filled_rows(table)
    return out if keep is None else out.filter(keep)


def _int_range(start: int, count: int) -> pa.Array:
    """``start, start + 1, ...`` (``count`` values) as an Arrow int64 array.

    Built from a NumPy buffer: ``pa.array`` over a range or a NumPy array would first import
    pandas (half a second) to check whether it was handed a pandas object.
    """
    values = np.arange(start, start + count, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(values)])


def _filled_rows(table: pa.Table) -> pa.ChunkedArray | None:
    """Mask of rows with at least one field that is not empty or whitespace; None when that
    is every row (nothing to drop).

    Columns are checked one at a time and the check stops as soon as every row has shown a
    value: in a well-filled file that is after the first column.
    """
    keep = None
    for col in table.columns:
        # non-empty (a length cast to bool) and not only whitespace; no Python scalar is
        # involved, as converting one would import pandas
        nonempty = pc.cast(pc.binary_length(col), pa.bool_())
        filled = pc.and_(nonempty, pc.invert(pc.utf8_is_space(col)))
        keep = filled if keep is None else pc.or_(keep, filled)
        if pc.all(keep).as_py() is not False:
            return None
    return keep


def _csv_exact(
    path: Path,
    encoding: str,
    delimiter: str,
    header_line: int,
    ncols: int,
    sub: Submission,
    limits: Limits,
) -> pa.Table:
    """Python's csv module, line by line: exact line numbers whatever the file holds.

    A row with more fields than the header (an unquoted comma in 4,000万元 shifts every
    value after it) is quarantined as ``extra_fields``; a shorter row is padded with blanks.
    """
    acc = Columns(sub.match, limits)
    with path.open(encoding=encoding, newline="", errors="strict") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            for _ in reader:
                if reader.line_num >= header_line:
                    break
            prev = reader.line_num
            for rec in reader:
                start, prev = prev + 1, reader.line_num
                if is_blank(rec):
                    continue
                problem = None
                if len(rec) > ncols and not is_blank(rec[ncols:]):
                    shown = [  # contact fields are personal data: never copied out
                        "" if i in sub.match.dropped_positions else v for i, v in enumerate(rec)
                    ]
                    problem = (
                        "extra_fields",
                        None,
                        truncate_problem_value(delimiter.join(shown)),
                    )
                acc.add(start, rec, problem)
        except csv.Error as exc:
            raise RejectedFile(
                "malformed_csv", f"the CSV cannot be parsed at line {reader.line_num}: {exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise RejectedFile(
                "bad_encoding", f"the file mixes text encodings ({exc.reason})"
            ) from None
    return acc.table()


# ---------------------------------------------------------------------------------------
# JSON Lines


def _jsonl_records(path: Path, encoding: str) -> Iterator[tuple[int, dict | None, str]]:
    """(line, object or None when the line is not a JSON object, raw text) per non-blank line."""
    with path.open(encoding=encoding, errors="replace", newline="") as fh:
        for n, raw in enumerate(fh, start=1):
            s = raw.strip().lstrip("\ufeff")
            if not s:
                continue
            try:
                obj = json.loads(s)
            except ValueError:
                obj = None
            yield n, obj if isinstance(obj, dict) else None, s


def _read_jsonl(path: Path, sha256: str, size: int, encoding: str, limits: Limits) -> Submission:
    """One event object a line; a line that is not a JSON object is quarantined (bad_json)."""
    from ingestion.headers import alias_map, header_key, match_header, personal_keys, split_unit

    records = []
    keys: dict[str, None] = {}
    for n, obj, raw in _jsonl_records(path, encoding):
        if len(records) >= limits.max_rows:
            raise RejectedFile("too_many_rows", f"the file has more than {limits.max_rows} rows")
        records.append((n, obj, raw))
        if obj is not None:
            keys.update(dict.fromkeys(str(k) for k in obj))
            if len(keys) > limits.max_columns:
                raise RejectedFile(
                    "too_many_columns",
                    f"the objects carry more than {limits.max_columns} distinct keys",
                )
    names = list(keys)
    match = match_header(names)
    if match is None:
        if names:
            find_header([(1, names)])  # raises unknown_layout with what was found
        match = HeaderMatch(EVENTS, {}, {})  # no object at all: every line is bad_json
    # Objects may spell a column differently (city / 城市): every key naming it is read, the
    # first one with a value wins.
    amap = alias_map(match.layout.name)
    keys_of: dict[str, list[str]] = {}
    for k in names:
        col = amap.get(split_unit(k)[0]) or amap.get(header_key(k))
        if col is not None:
            keys_of.setdefault(col, []).append(k)
    mapped = {k for ks in keys_of.values() for k in ks}
    personal = {k for k in names if k not in mapped and header_key(k) in personal_keys()}
    match = HeaderMatch(
        match.layout,
        {c: i for i, c in enumerate(keys_of)},
        {c: " / ".join(ks) for c, ks in keys_of.items()},
        match.units,
        tuple(k for k in names if k not in mapped and k not in personal),
        tuple(k for k in names if k in personal),
    )
    acc = Columns(match, limits)
    for n, obj, raw in records:
        if obj is None:
            acc.add(n, [], ("bad_json", None, truncate_problem_value(raw)))
        else:
            acc.add(
                n,
                [
                    next((obj[k] for k in ks if obj.get(k) not in (None, "")), None)
                    for ks in keys_of.values()
                ],
            )
    sub = Submission(path, sha256, size, "jsonl", encoding, match, acc.table())
    sub.notes.append("JSON Lines")
    return sub
