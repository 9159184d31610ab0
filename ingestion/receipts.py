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
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from ingestion.load import Receipt, _safe_name

# Row-level reasons: each quarantined row carries one of these.
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
    "unknown_domain": (
        "应用领域无法识别：请填写 产业、消费、社会、城市 或 数字基础设施。",
        "Domain not recognised: use industry, consumption, society, city or "
        "digital_infrastructure (产业, 消费, 社会, 城市, 数字基础设施).",
    ),
    "unknown_technology": (
        "技术领域无法识别：请使用提交规范中列出的技术名称（如 人工智能、机器人、低空经济）。",
        "Technology not recognised: use a technology named in the submission contract "
        "(人工智能, 机器人, 低空经济 …).",
    ),
    "bad_date": (
        "日期无法识别：请写成 2025-05-13、2025/5/13、2025.5.13、2025年5月13日 或 2025年5月。",
        "Date not recognised: write 2025-05-13, 2025/5/13, 2025.5.13, 2025年5月13日 or 2025年5月.",
    ),
    "date_out_of_range": (
        "日期早于2015年或晚于今天，不可信。",
        "The date is before 2015 or in the future.",
    ),
    "bad_amount": (
        "金额无法识别：请写成 4000万元、1.2亿元、350,000元 或纯数字（单位以表头为准，"
        "默认元），不能为负数。",
        "Amount not recognised: write 4000万元, 1.2亿元, 350,000元 or a bare number (in the "
        "header's unit, yuan by default); negative amounts are not accepted.",
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
    "unreadable": ("文件已损坏，无法读取。", "The file is damaged and cannot be read."),
}

STATUS_ZH = {"loaded": "已入库", "duplicate": "重复提交（未重复入库）", "rejected": "拒收"}

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
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


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
    d["accounting_ok"] = r.status != "loaded" or r.rows_read == r.rows_loaded + r.rows_quarantined
    for k in ("receipt_json", "receipt_xlsx"):
        d.pop(k, None)
    return d


def write_receipt(con: duckdb.DuckDBPyConnection, r: Receipt, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<name>.<hash>.receipt.json`` and ``.receipt.xlsx``; set their paths on ``r``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{_safe_name(r.file)}.{(r.sha256 or uuid.uuid4().hex)[:12]}.receipt"
    rows = list(_quarantined(con, r.sha256))
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


def _text_cell(ws, value):
    """A cell that is always data: strings are never read as formulas by Excel."""
    from openpyxl.cell import WriteOnlyCell

    if value is None:
        return None
    if isinstance(value, str):
        cell = WriteOnlyCell(ws, value=_ILLEGAL_XML.sub("", value))
        cell.data_type = "s"
        return cell
    return WriteOnlyCell(ws, value=value)


def _write_xlsx(path: Path, r: Receipt, rows: list[dict]) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("回执 Receipt")
    ws.append([_text_cell(ws, "项目"), _text_cell(ws, "Item"), _text_cell(ws, "值 Value")])
    summary = _summary(r)
    for key, zh, en in SUMMARY_FIELDS:
        value = summary.get(key)
        if key == "status":
            value = f"{summary['status_zh']} {value}"
        ws.append([_text_cell(ws, zh), _text_cell(ws, en), _text_cell(ws, value)])
    if r.reason:
        zh, en = explain(r.reason_code)
        ws.append(
            [
                _text_cell(ws, "拒收说明"),
                _text_cell(ws, "Explanation"),
                _text_cell(ws, f"{zh} {en}"),
            ]
        )
    for reason, count in r.quarantine_by_reason.items():
        ws.append(
            [_text_cell(ws, f"隔离：{reason}"), _text_cell(ws, f"Quarantined: {reason}"), count]
        )
    for header, column in r.columns.items():
        ws.append(
            [
                _text_cell(ws, "识别的列"),
                _text_cell(ws, "Column recognised"),
                _text_cell(ws, f"{header} → {column}"),
            ]
        )
    for header in r.ignored_columns:
        ws.append(
            [_text_cell(ws, "未使用的列"), _text_cell(ws, "Column ignored"), _text_cell(ws, header)]
        )
    for note in r.notes:
        ws.append([_text_cell(ws, "备注"), _text_cell(ws, "Note"), _text_cell(ws, note)])

    qs = wb.create_sheet("隔离行 Quarantined")
    qs.append([_text_cell(qs, f"{zh} {en}") for _, zh, en in ROW_FIELDS])
    for i, row in enumerate(rows):
        if i >= XLSX_MAX_ROWS:
            qs.append([_text_cell(qs, f"… {len(rows) - i} more rows: see the JSON receipt")])
            break
        qs.append([_text_cell(qs, row[k]) for k, _, _ in ROW_FIELDS])
    wb.save(path)
