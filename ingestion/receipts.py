"""The receipt: what a city clerk gets back for each submitted file (JSON and XLSX).

Counts (read = loaded + quarantined), how the file was read (format, encoding, sheet, header
row, which header names were recognised and which were ignored) and every quarantined row
with its line, column (as written in the file and canonical), raw value, reason code and an
explanation in Chinese and English. A rejected file's receipt explains the rejection.

The XLSX receipt writes every value as text: a raw value such as ``=HYPERLINK(...)`` from a
submitted file is shown, never turned into a formula.
"""

from __future__ import annotations

import json
import math
import re
import uuid
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import duckdb

from ingestion.archive import safe_name
from ingestion.layouts import REGISTER
from ingestion.printable import printable
from ingestion.reference import unmapped_values_sql
from ingestion.sql import MAX_VALUE_CHARS
from ingestion.submission import Submission


@dataclass
class Receipt:
    """What happened to one submitted file: the answer a city clerk gets back."""

    file: str
    sha256: str | None
    status: str  # loaded | duplicate | rejected
    layout: str | None = None
    encoding: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    reason: str | None = None
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    format: str | None = None
    sheet: str | None = None
    header_line: int | None = None
    events_loaded: int = 0
    columns: dict[str, str] = field(default_factory=dict)  # header as written -> column
    ignored_columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    receipt_json: str | None = None
    receipt_xlsx: str | None = None
    load_id: int | None = None  # the file's place in the load sequence (loaded files only)
    # contact columns (personal data): never read, never stored
    dropped_columns: list[str] = field(default_factory=list)
    # values taken from outside the rows (title rows, channel, operator) -> value
    inferred: dict[str, str] = field(default_factory=dict)
    # ids derived for rows without one (published lists): line, name, id
    derived_ids: list[dict] = field(default_factory=list)
    # domain/technology wordings no alias maps (loaded as unclassified): column, value, rows
    unmapped_values: list[dict] = field(default_factory=list)
    # what the submission said about itself (kept in the ledger for a replay)
    channel: str | None = None
    city_option: str | None = None
    published_on_option: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def reason_code(self) -> str | None:
        return self.reason.split(":", 1)[0] if self.reason else None

    def line(self) -> str:
        """One readable line for the CLI and the task log (the file's name and the reason
        escaped: they come from the file and must not forge lines)."""
        if self.status == "rejected":
            return f"REJECTED {printable(self.file)}: {printable(self.reason)}"
        unmapped = len(self.unmapped_values)
        return (
            f"{self.status:<9} {printable(self.file)}: read {self.rows_read}, "
            f"loaded {self.rows_loaded}, "
            f"quarantined {self.rows_quarantined}, duplicate {self.rows_duplicate}"
            + (f"; {unmapped} unmapped wording(s) loaded as unclassified" if unmapped else "")
        )


def describe(con: duckdb.DuckDBPyConnection, receipt: Receipt, sub: Submission, where: str) -> None:
    """What the receipt says beyond counts: contact columns dropped, values taken from the
    file's context, ids derived, and the wordings loaded as ``unclassified`` (``where``: the
    raw rows of this load, a ``?`` for the file's hash)."""
    layout = sub.layout
    receipt.dropped_columns = list(sub.match.dropped)
    if sub.context is not None:
        receipt.inferred = sub.context.inferred()
        receipt.notes.extend(n for n in sub.context.notes if n not in receipt.notes)
    if receipt.dropped_columns:
        note = "contact columns are personal data and were not read or stored: " + ", ".join(
            receipt.dropped_columns
        )
        if note not in receipt.notes:
            receipt.notes.append(note)
    if not receipt.rows_loaded:
        return
    params = [sub.sha256]
    if layout.derived_id:
        id_col, name_col = layout.derived_id[0], layout.derived_id[-1]
        receipt.derived_ids = [
            {"line": line, "name": name, id_col: derived}
            for line, name, derived in con.execute(
                f"select distinct source_line, {name_col}, {id_col} from {layout.table} "
                f"where {where} and {id_col}_derived order by source_line",
                params,
            ).fetchall()
        ]
    receipt.unmapped_values = [
        {"column": column, "value": value, "rows": rows}
        for column, value, rows in con.execute(
            unmapped_values_sql(layout.table, where, layout is REGISTER), params
        ).fetchall()
    ]


# Row-level reasons: each quarantined row carries one or more of these (one entry per failing
# column and reason). Domain and technology are no longer among them: a wording no alias knows
# loads as ``unclassified`` and is counted in the receipt (``unmapped_values``).
ROW_REASONS: dict[str, tuple[str, str]] = {
    "missing_required": (
        "必填项为空，请填写该列。",
        "A required value is empty: fill in this column.",
    ),
    "unknown_city": (
        "城市名称无法识别：请填写城市中文名（如“合肥”或“合肥市”）或英文名；"
        "英文同名的城市须注明省份（如 Suzhou-Anhui、Suzhou-Jiangsu）。",
        "City not recognised: write the Chinese name (合肥 or 合肥市) or the English name; "
        "an English name two cities share needs its province (Suzhou-Anhui, Suzhou-Jiangsu).",
    ),
    "city_mismatch": (
        "城市不一致：本行的城市与标题、报送渠道（landing/城市 文件夹）或 --city 所指城市不同；"
        "各城市只报送本市项目，请核对后重新报送。",
        "City mismatch: the row's city differs from the city the title rows, the submission "
        "channel (landing/<city>/) or --city name; a city reports its own projects only.",
    ),
    "unknown_stage": (
        "阶段无法识别：请填写 场景机会、场景验证、产业应用、规模化应用（或 试点、落地、推广 等）。",
        "Stage not recognised: use opportunity, validation, application or scale_up "
        "(or 场景机会, 试点, 落地, 推广 …).",
    ),
    "unknown_event_type": (
        "事件类型无法识别：请填写 进入、失败 或 撤回。",
        "Event type not recognised: use enter, fail or withdraw (进入, 失败, 撤回).",
    ),
    "unknown_end_type": (
        "终止类型无法识别：请填写 失败 或 撤回。",
        "Termination type not recognised: use 失败 (fail) or 撤回 (withdraw).",
    ),
    "bad_date": (
        "日期无法识别：请写成 2025-05-13、2025/5/13、2025.5.13、2025年5月13日 或 2025年5月。",
        "Date not recognised: write 2025-05-13, 2025/5/13, 2025.5.13, 2025年5月13日 or 2025年5月.",
    ),
    "date_out_of_range": (
        "日期早于2015年或晚于今天，不可信。",
        "The date is before 2015 or in the future.",
    ),
    "value_too_long": (
        "内容超过 32,767 个字符（Excel 单元格上限），不是可用的填报值。",
        "The value is longer than 32,767 characters (an Excel cell's limit): no usable entry.",
    ),
    "bad_amount": (
        "金额无法识别：请写成 4000万元、1.2亿元、350,000元 或纯数字（单位以表头为准，"
        "默认元），不能为负数；千分位逗号须每三位一组；金额精确到分（元以下最多两位小数）。",
        "Amount not recognised: write 4000万元, 1.2亿元, 350,000元 or a bare number (in the "
        "header's unit, yuan by default); negative amounts are not accepted; thousands "
        "separators only between groups of three digits; at most two decimals of yuan (fen).",
    ),
    "bad_json": (
        "该行不是有效的 JSON 对象。",
        "The line is not a valid JSON object.",
    ),
    "extra_fields": (
        "该行的字段数多于表头（常见原因：金额中的逗号未加引号，如 4,000万元），各列已错位。",
        "The row has more fields than the header (often an unquoted comma, as in 4,000万元), "
        "so its values are shifted.",
    ),
}

# File-level reasons: a rejected file carries one of these.
FILE_REASONS: dict[str, tuple[str, str]] = {
    "not_found": ("文件不存在。", "The file does not exist."),
    "not_a_regular_file": (
        "不是普通文件（符号链接、目录、管道或设备），未读取：请放入文件本身。",
        "Not a regular file (a symbolic link, folder, pipe or device); it was not read: put "
        "the file itself there.",
    ),
    "empty_file": ("文件为空或只有空行。", "The file is empty or holds only blank lines."),
    "too_large": ("文件超过大小上限。", "The file is over the size limit."),
    "too_many_rows": ("行数超过上限，请拆分为多个文件。", "Too many rows: split the file."),
    "too_many_columns": ("列数超过上限。", "Too many columns."),
    "not_a_table": (
        "文件不是表格（例如 PDF 或其他二进制文件）。",
        "Not a table (a PDF or other binary file).",
    ),
    "bad_encoding": (
        "文本编码无法识别：请保存为 UTF-8 或 GBK/GB18030。",
        "Unknown text encoding: save as UTF-8 or GBK/GB18030.",
    ),
    "malformed_csv": ("CSV 格式损坏，无法解析。", "The CSV is damaged and cannot be parsed."),
    "unknown_layout": (
        "表头无法识别：请使用提交规范中的列名（见 docs/submission_contract.md）。",
        "Header not recognised: use the column names of the submission contract.",
    ),
    "not_a_spreadsheet": (
        "文件不是有效的 Excel 工作簿（.xlsx）。",
        "Not a valid Excel workbook (.xlsx).",
    ),
    "unsupported_format": (
        "不支持的格式（旧版 .xls 或加密工作簿）：请另存为 .xlsx 或 CSV。",
        "Unsupported format (old .xls or encrypted workbook): save as .xlsx or CSV.",
    ),
    "zip_bomb": (
        "工作簿解压后异常膨胀（疑似压缩炸弹），已拒收且未解压。",
        "The workbook would expand abnormally (a zip bomb); rejected without expanding it.",
    ),
    "xlsx_too_large": (
        "工作簿解压后超过大小上限。",
        "The workbook would expand beyond the size limit.",
    ),
    "sheet_not_found": ("指定的工作表不存在。", "The named sheet does not exist."),
    "unknown_channel": (
        "报送渠道文件夹不是城市名：请放入 landing/ 或以城市命名的文件夹（如 landing/无锡/）。",
        "The channel folder names no city: use landing/ itself or a folder named after the "
        "city (landing/无锡/, landing/320200/).",
    ),
    "unreadable": ("文件已损坏，无法读取。", "The file is damaged and cannot be read."),
}

STATUS_ZH = {
    "loaded": "已入库",
    "duplicate": "重复提交（未重复入库）",
    "rejected": "拒收",
    "replayed": "重新读取隔离行（部分或全部已入库）",
    "unchanged": "重新读取隔离行（无变化）",
}
# Statuses whose receipt accounts for rows: read = loaded + quarantined (a replay's receipt
# counts the quarantined rows it read again).
ACCOUNTED = ("loaded", "replayed", "unchanged")

# (key, 中文, English) for the receipt's summary and the quarantined rows.
SUMMARY_FIELDS = (
    ("file", "文件", "File"),
    ("status", "状态", "Status"),
    ("reason", "拒收原因", "Rejection reason"),
    ("layout", "版式", "Layout"),
    ("format", "格式", "Format"),
    ("encoding", "编码", "Encoding"),
    ("sheet", "工作表", "Sheet"),
    ("header_line", "表头所在行", "Header row"),
    ("rows_read", "读取行数", "Rows read"),
    ("rows_loaded", "入库行数", "Rows loaded"),
    ("rows_quarantined", "隔离行数", "Rows quarantined"),
    ("rows_duplicate", "重复行数", "Rows already submitted"),
    ("events_loaded", "入库事件数", "Events loaded"),
    ("sha256", "文件指纹 (SHA-256)", "Content hash (SHA-256)"),
)
ROW_FIELDS = (
    ("line", "行号", "Line"),
    ("header", "列（文件中的表头）", "Column (as in your file)"),
    ("column", "字段", "Field"),
    ("value", "原始值", "Value"),
    ("reason", "原因代码", "Reason code"),
    ("explanation_zh", "说明", "Explanation (Chinese)"),
    ("explanation_en", "说明（英文）", "Explanation"),
)
XLSX_MAX_ROWS = 1_000_000
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def explain(reason: str | None) -> tuple[str, str]:
    """(Chinese, English) explanation of a row or file reason code."""
    if reason is None:
        return "", ""
    return ROW_REASONS.get(reason) or FILE_REASONS.get(reason) or (reason, reason)


def batch_dir(home: Path) -> Path:
    """A new folder under ``<home>/receipts/`` for the receipts of one ingest call."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    d = home / "receipts" / f"{stamp}-{uuid.uuid4().hex[:6]}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _quarantined(con: duckdb.DuckDBPyConnection, sha: str | None):
    if sha is None:
        return
    cur = con.execute(
        "select source_line, source_column, column_name, raw_value, reason from raw.quarantine "
        "where source_file_sha256 = ? order by source_line, column_name",
        [sha],
    )
    while batch := cur.fetchmany(10_000):
        for line, header, column, value, reason in batch:
            zh, en = explain(reason)
            yield {
                "line": line,
                "header": header,
                "column": column,
                "value": value,
                "reason": reason,
                "explanation_zh": zh,
                "explanation_en": en,
            }


def _summary(r: Receipt) -> dict:
    d = r.to_dict()
    zh, en = explain(r.reason_code)
    d["status_zh"] = STATUS_ZH.get(r.status, r.status)
    d["reason_explanation_zh"], d["reason_explanation_en"] = zh, en
    d["accounting_ok"] = (
        r.status not in ACCOUNTED or r.rows_read == r.rows_loaded + r.rows_quarantined
    )
    for k in ("receipt_json", "receipt_xlsx"):
        d.pop(k, None)
    return d


def write_receipt(con: duckdb.DuckDBPyConnection, r: Receipt, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<name>.<hash>.receipt.json`` and ``.receipt.xlsx``; set their paths on ``r``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{safe_name(r.file)}.{(r.sha256 or uuid.uuid4().hex)[:12]}.receipt"
    # A rejected file has no rows, a loaded one exactly those it quarantined now; only a
    # duplicate's rows (quarantined at its first load) need looking up.
    settled = r.status == "rejected" or (r.status == "loaded" and not r.rows_quarantined)
    rows = [] if settled else list(_quarantined(con, r.sha256))
    doc = {
        "receipt": _summary(r),
        "labels_zh": {
            "receipt": {k: zh for k, zh, _ in SUMMARY_FIELDS},
            "quarantined": {k: zh for k, zh, _ in ROW_FIELDS},
        },
        "quarantined": rows,
    }
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(doc, ensure_ascii=False, indent=2, default=str), "utf-8")
    xlsx_path = out_dir / f"{stem}.xlsx"
    _write_xlsx(xlsx_path, r, rows)
    r.receipt_json, r.receipt_xlsx = str(json_path), str(xlsx_path)
    return json_path, xlsx_path


# The receipt workbook is written directly as SpreadsheetML (a zip of a few XML parts):
# openpyxl's writer costs ~15 ms per workbook in stylesheet, theme and temp-file set-up, which
# a batch of hundreds of small files pays hundreds of times. Every text is an inline string
# (``t="inlineStr"``): Excel shows it as typed and never reads it as a formula.
_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_NS_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_STYLES = (
    f'{_XML_HEAD}<styleSheet xmlns="{_NS_MAIN}">'
    '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


def _column_letter(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _cell_xml(ref: str, value) -> str:
    """One ``<c>``: numbers as numbers, everything else as inline text (never a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int | float) and math.isfinite(value):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    text = xml_escape(_ILLEGAL_XML.sub("", str(value))[:MAX_VALUE_CHARS])  # an Excel cell
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _sheet_xml(rows: list[list]) -> str:
    letters = [_column_letter(i) for i in range(max((len(r) for r in rows), default=0))]
    body = "".join(
        f'<row r="{n}">'
        + "".join(_cell_xml(f"{letters[i]}{n}", v) for i, v in enumerate(row))
        + "</row>"
        for n, row in enumerate(rows, 1)
    )
    return f'{_XML_HEAD}<worksheet xmlns="{_NS_MAIN}"><sheetData>{body}</sheetData></worksheet>'


def write_workbook(path: Path, sheets: list[tuple[str, list[list]]]) -> None:
    """An XLSX workbook of ``(sheet name, rows)``; each row a list of cell values."""
    n = len(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_CT}.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    content_types = (
        f'{_XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
        f"{overrides}</Types>"
    )
    root_rels = (
        f'{_XML_HEAD}<Relationships xmlns="{_NS_PKG_REL}">'
        f'<Relationship Id="rId1" Type="{_NS_REL}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    sheet_list = "".join(
        f'<sheet name="{xml_escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"/>'
        for i, (name, _) in enumerate(sheets, 1)
    )
    workbook = (
        f'{_XML_HEAD}<workbook xmlns="{_NS_MAIN}" xmlns:r="{_NS_REL}">'
        f"<sheets>{sheet_list}</sheets></workbook>"
    )
    workbook_rels = (
        f'{_XML_HEAD}<Relationships xmlns="{_NS_PKG_REL}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_NS_REL}/worksheet" '
            f'Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_NS_REL}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr("[Content_Types].xml", content_types)
        z.writestr("_rels/.rels", root_rels)
        z.writestr("xl/workbook.xml", workbook)
        z.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        z.writestr("xl/styles.xml", _STYLES)
        for i, (_, rows) in enumerate(sheets, 1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", _sheet_xml(rows))


def _write_xlsx(path: Path, r: Receipt, rows: list[dict]) -> None:
    summary = _summary(r)
    info: list[list] = [["项目", "Item", "值 Value"]]
    for key, zh, en in SUMMARY_FIELDS:
        value = summary.get(key)
        if key == "status":
            value = f"{summary['status_zh']} {value}"
        info.append([zh, en, value])
    if r.reason:
        zh, en = explain(r.reason_code)
        info.append(["拒收说明", "Explanation", f"{zh} {en}"])
    for reason, count in r.quarantine_by_reason.items():
        info.append([f"隔离：{reason}", f"Quarantined: {reason}", count])
    for header, column in r.columns.items():
        info.append(["识别的列", "Column recognised", f"{header} → {column}"])
    for header in r.ignored_columns:
        info.append(["未使用的列", "Column ignored", header])
    for header in r.dropped_columns:
        info.append(["未读取的个人信息列", "Personal-data column not read", header])
    for what, value in r.inferred.items():
        info.append(["表外推断", "Taken from outside the rows", f"{what}: {value}"])
    for u in r.unmapped_values:
        info.append(
            [
                "未归类的取值（按未分类入库）",
                "Unmapped wording (loaded as unclassified)",
                f"{u['column']}: {u['value']} ({u['rows']} rows)",
            ]
        )
    for note in r.notes:
        info.append(["备注", "Note", note])

    quarantined: list[list] = [[f"{zh} {en}" for _, zh, en in ROW_FIELDS]]
    for i, row in enumerate(rows):
        if i >= XLSX_MAX_ROWS:
            quarantined.append([f"… {len(rows) - i} more rows: see the JSON receipt"])
            break
        quarantined.append([row[k] for k, _, _ in ROW_FIELDS])
    sheets = [("回执 Receipt", info), ("隔离行 Quarantined", quarantined)]
    if r.derived_ids:  # ids the platform gave rows without one: later reports quote them
        key = next(k for k in r.derived_ids[0] if k not in ("line", "name"))
        sheets.append(
            (
                "编号 Ids",
                [["行号 Line", "名称 Name", "编号 Id"]]
                + [[d["line"], d["name"], d[key]] for d in r.derived_ids],
            )
        )
    write_workbook(path, sheets)
