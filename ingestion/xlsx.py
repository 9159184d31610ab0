"""XLSX submissions: checked as a zip first, then read as data only.

Before openpyxl opens anything, the archive's *declared* sizes are checked with
:mod:`zipfile`: total uncompressed size, compression ratio of each large member and the
number of members. A zip bomb is rejected, never expanded (and :mod:`zipfile` never returns
more bytes than a member declares, so a member lying about its size cannot expand further).

openpyxl then reads the workbook with ``read_only=True, data_only=True, keep_links=False,
keep_vba=False``: a formula cell yields the value Excel cached when the file was saved (it is
never evaluated; a formula saved without a cached value, which only programs do, reads as
blank), external links are not loaded and macros (``.xlsm``) are neither kept nor run: only
cell values are read.

Sheet: the first worksheet, or the one named by ``--sheet``. Title rows above the header
are skipped, a header cell merged over two rows is taken from the upper row, blank rows and
columns without a header are dropped. ``__line`` is the sheet's row number.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ingestion.headers import MAX_HEADER_SEARCH_ROWS
from ingestion.submission import (
    Columns,
    Limits,
    RejectedFile,
    Submission,
    find_header,
    is_blank,
    title_text,
)

LARGE_MEMBER_BYTES = 1024 * 1024  # the ratio check applies to members declaring more


def check_archive(path: Path, limits: Limits) -> list[str]:
    """Reject a zip that is no workbook or would expand too far; return notes (macros)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise RejectedFile("not_a_spreadsheet", f"the file is not a readable XLSX: {exc}") from None
    if len(infos) > limits.max_xlsx_members:
        raise RejectedFile(
            "zip_bomb",
            f"the archive holds {len(infos)} files; the limit is {limits.max_xlsx_members}",
        )
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise RejectedFile(
            "not_a_spreadsheet", "the file is a zip archive but not an Excel workbook (.xlsx)"
        )
    total = sum(i.file_size for i in infos)
    if total > limits.max_xlsx_uncompressed:
        raise RejectedFile(
            "xlsx_too_large",
            f"the workbook would expand to {total} bytes; the limit is "
            f"{limits.max_xlsx_uncompressed}",
        )
    for i in infos:
        if i.file_size > LARGE_MEMBER_BYTES and i.file_size > limits.max_xlsx_ratio * max(
            i.compress_size, 1
        ):
            raise RejectedFile(
                "zip_bomb",
                f"{i.filename} expands {i.file_size / max(i.compress_size, 1):.0f}-fold "
                f"({i.compress_size} -> {i.file_size} bytes); the limit is "
                f"{limits.max_xlsx_ratio}-fold",
            )
    notes = []
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        notes.append("macros present: ignored, only cell values were read")
    if any(n.startswith("xl/externalLinks/") for n in names):
        notes.append("external links present: not followed, cached values were read")
    return notes


def read_xlsx(path: Path, sha256: str, size: int, sheet: str | None, limits: Limits) -> Submission:
    """Read the first (or the named) worksheet into the common table of strings."""
    import openpyxl

    notes = check_archive(path, limits)
    with path.open("rb") as fh:
        try:
            wb = openpyxl.load_workbook(
                fh, read_only=True, data_only=True, keep_links=False, keep_vba=False
            )
        except Exception as exc:  # openpyxl raises many types for a damaged workbook
            raise RejectedFile(
                "not_a_spreadsheet", f"the workbook cannot be opened: {type(exc).__name__}"
            ) from None
        try:
            return _read_sheet(wb, path, sha256, size, sheet, limits, notes)
        finally:
            wb.close()


def _read_sheet(wb, path, sha256, size, sheet, limits, notes) -> Submission:
    if sheet is not None:
        if sheet not in wb.sheetnames:
            raise RejectedFile(
                "sheet_not_found",
                f"no sheet named {sheet!r}; the workbook has: {', '.join(wb.sheetnames)}",
            )
        ws = wb[sheet]
    else:
        if not wb.worksheets:
            raise RejectedFile("empty_file", "the workbook has no worksheet")
        ws = wb.worksheets[0]
    ws.reset_dimensions()  # the stored dimension may be wrong; read what the sheet holds
    width = limits.max_columns
    rows = ws.iter_rows(values_only=True, max_col=width + 1)

    def checked(cells: tuple) -> list:
        if len(cells) > width and cells[width] not in (None, ""):
            raise RejectedFile("too_many_columns", f"the sheet has more than {width} columns")
        return list(cells[:width])

    head: list[tuple[int, list]] = []
    row_no = 0
    for cells in rows:
        row_no += 1
        if is_blank(cells):
            continue
        head.append((row_no, checked(cells)))
        if len(head) >= MAX_HEADER_SEARCH_ROWS:
            break
    if not head:
        raise RejectedFile("empty_file", f"the sheet {ws.title!r} holds no rows")
    index, match = find_header(head)
    sub = Submission(path, sha256, size, "xlsx", None, match, None, ws.title, head[index][0])
    sub.titles = [title_text(cells) for _, cells in head[:index]]
    sub.notes.append(f"sheet {ws.title!r}")
    sub.notes.extend(notes)
    acc = Columns(match, limits)
    for line, cells in head[index + 1 :]:
        acc.add(line, cells)
    for cells in rows:
        row_no += 1
        if is_blank(cells):
            continue
        acc.add(row_no, checked(cells))
    sub.table = acc.table()
    return sub
