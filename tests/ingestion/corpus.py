"""Builders for the intake test corpus: every file is made by the tests, none is checked in."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import openpyxl


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` byte-exactly (no newline translation)."""
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(
    path: Path, sheets: dict[str, list[list]], merges: dict[str, list[str]] | None = None
):
    """A workbook with one sheet per entry (in order), rows appended as given."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
        for rng in (merges or {}).get(title, []):
            ws.merge_cells(rng)
    wb.save(path)
    return path


def set_cached_values(path: Path, sheet_xml: str, cached: dict[str, tuple[str, str]]) -> Path:
    """Give formula cells a cached value, as Excel does on save (openpyxl cannot write one).

    ``cached``: cell reference -> (cell type ``n`` or ``str``, cached value text). The formula
    stays in the file; a reader that evaluated it would get something else.
    """
    src = path.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == sheet_xml:
                xml = data.decode("utf-8")
                for ref, (kind, value) in cached.items():
                    start = xml.index(f'<c r="{ref}"')
                    end = xml.index("</c>", start) + len("</c>")
                    cell = xml[start:end]
                    formula = cell[cell.index("<f>") : cell.index("</f>") + len("</f>")]
                    new = f'<c r="{ref}" t="{kind}">{formula}<v>{value}</v></c>'
                    xml = xml[:start] + new + xml[end:]
                data = xml.encode("utf-8")
            zout.writestr(info, data)
    path.write_bytes(out.getvalue())
    return path


def zip_bomb(path: Path, expanded_bytes: int = 8 * 1024 * 1024) -> Path:
    """A real, tiny archive whose sheet expands about a thousand-fold (zeros deflate well)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"\x00" * expanded_bytes)
    return path


def lying_zip(path: Path, declared_bytes: int = 2**40) -> Path:
    """A small archive whose central directory declares a huge uncompressed sheet."""
    zf = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED)
    zf.writestr("xl/workbook.xml", "<workbook/>")
    zf.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    zf.infolist()[-1].file_size = declared_bytes
    zf.close()
    return path
