"""The submission contract given to cities, rendered from the data the intake itself uses.

``python -m ingestion.contract`` rewrites ``docs/submission_contract.md`` from
``header_aliases.csv``, the ``value_aliases`` and ``ref_cities`` seeds, the layouts, the limits,
the list rules (ingestion.normalise, ingestion.context) and the reason codes; a test checks the
checked-in document is up to date.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from ingestion import normalise as n
from ingestion.headers import MAX_HEADER_SEARCH_ROWS, PERSONAL, UNIT_MULTIPLIERS, aliases
from ingestion.layouts import LAYOUTS
from ingestion.locations import project_dir, seeds_dir
from ingestion.reading import Limits
from ingestion.receipts import FILE_REASONS, ROW_REASONS
from ingestion.reference import CITY_ALIASES_FILE, technology_separators
from ingestion.sql import MAX_VALUE_CHARS

DOC_PATH = project_dir() / "docs" / "submission_contract.md"

KIND_TEXT = {
    "text": "text",
    "city": "city name (see *Cities*)",
    "stage": "stage (see *Stages*)",
    "event_type": "event type (see *Event types*)",
    "end_type": "termination type (see *Termination types*)",
    "domain": "domain (see *Domains*)",
    "technology": "technology (see *Technologies*)",
    "date": "date (see *Dates*)",
    "amount": "amount (see *Amounts*)",
    "planned_amount": "amount, may be approximate (see *Published lists*)",
    "batch": "batch (see *Published lists*)",
}
SOURCE_TEXT = {
    "platform": "the platform's own synonyms",
    "national-opinion-2025": "the national opinion on scene cultivation (国办发〔2025〕37号)",
    "city-lists": "city lists",
    "synonym": "common synonyms",
}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _layout_section(layout) -> list[str]:
    out = [
        f"### `{layout.name}` — {layout.title_zh} ({layout.title_en})",
        "",
        "| column | required | value | header names accepted |",
        "| --- | --- | --- | --- |",
    ]
    for col in layout.columns:
        names = [
            a.alias for a in aliases() if a.column == col.name and a.layout in ("all", layout.name)
        ]
        if col.name not in names:
            names.insert(0, col.name)
        either = " or ".join(f"`{c}`" for c in layout.required_any)
        required = (
            (
                "yes, or from the file (title, channel, option)"
                if col.name in layout.inferred
                else "yes"
            )
            if col.required
            else (
                ("one of the stage dates" if layout.name == "register" else f"{either}: one")
                if col.name in layout.required_any
                else ""
            )
        )
        if col.name in layout.derived_id[:1]:
            required += " (derived when empty)"
        out.append(
            f"| `{col.name}` | {required} | {KIND_TEXT[col.kind]} | "
            + ", ".join(f"`{n}`" for n in names)
            + " |"
        )
    out.append("")
    return out


def _value_section(
    kind: str, title: str, reference: list[dict[str, str]] | None, code_col: str
) -> list[str]:
    rows = [r for r in _read(seeds_dir() / "value_aliases.csv") if r["kind"] == kind]
    codes: dict[str, list[str]] = {}
    for r in rows:
        source = r.get("source") or "platform"
        mark = "" if source == "platform" else f" ({SOURCE_TEXT.get(source, source)})"
        codes.setdefault(r["code"], []).append(f"`{r['alias']}`{mark}")
    names = {r[code_col]: f"{r['name_zh']} / {r['name_en']}" for r in reference or []}
    out = [
        f"### {title}",
        "",
        "| code | name | written as (case and spaces ignored) |",
        "| --- | --- | --- |",
    ]
    for code, written in codes.items():
        out.append(f"| `{code}` | {names.get(code, '')} | " + ", ".join(written) + " |")
    out.append("")
    return out


def _personal_section() -> list[str]:
    names = [a.alias for a in aliases() if a.layout == PERSONAL]
    return [
        "### Contact columns (personal data): dropped",
        "",
        "Columns with these headers are never read: their values are not stored in the raw",
        "layer, the quarantine, the marts, the published file, exports or the report. The",
        "receipt names the columns it dropped. (The file itself is archived unchanged in the",
        "platform's work area for replays; it is not published.)",
        "",
        ", ".join(f"`{a}`" for a in names),
        "",
    ]


def _lists_section() -> list[str]:
    seps = " ".join(f"`{s}`" for s in technology_separators())
    approx = ", ".join(f"`{w}`" for w in n.APPROXIMATE_PREFIX)
    approx_after = ", ".join(f"`{w}`" for w in n.APPROXIMATE_SUFFIX)
    none = ", ".join(f"`{w}`" for w in n.NO_FIGURE)
    return [
        "### Published lists (场景机会清单, 能力清单)",
        "",
        "A city's published list is read as it is published: an `opportunities` list is one",
        "scene opportunity a row (each an `opportunity` `enter` event); a `capabilities` list",
        "one capability a row. A header that names a lifecycle column (阶段, 事件, 验证日期,",
        "应用日期, 推广日期, 终止日期, 合作金额) is no opportunity list (it is read as events or",
        "a `register`, 台账). Title rows above the header, e.g.",
        "`无锡市2025年第二批场景机会清单（发布日期：2025年6月18日）`, are read for what the rows",
        "leave out:",
        "",
        "- **City**, in this order: the row's city column; the title rows (a city named there,",
        "  with 市 when any name has it; a name followed by 省 is a province); the submission",
        "  channel (the folder `landing/<city>/`, or `scenetrack ingest --channel`); the",
        "  operator's `scenetrack ingest --city`. Every source present must name the same city:",
        "  a row whose sources disagree is quarantined (`city_mismatch`), never guessed. Title",
        "  rows naming two cities give none. This holds for every layout: a file in",
        "  `landing/无锡/` reports 无锡's projects only.",
        "- **Publication date**: the row's date column (发布日期); else the title rows (a date",
        "  labelled 发布日期/发布时间/印发日期, else the one date they hold: `2025年6月18日`,",
        "  `（2025年6月）` at month precision); else `--published-on`.",
        "- **Batch**: the row's 批次 column, else the title rows (`第二批`, `2025年第2批`,",
        "  `2025年度第三批`, `首批`). Kept as one label, `2025年第2批`: the number in Arabic",
        "  digits, the year the batch names, else the publication year (a batch without a number",
        "  keeps its wording). It reaches the marts (`fct_project_lifecycle.opportunity_batch`,",
        "  `mart_opportunity_batches`).",
        "- **Ids**: a row needs a scene name or a scene number (`missing_required` otherwise).",
        "  A row without a number gets one derived from its city and name:",
        f"  `{n.DERIVED_ID_PREFIX['project_id']}` and the first {n.DERIVED_ID_HEX} hex digits "
        "(upper case) of the SHA-256 of",
        "  `<city code>|<name key>`, where the name key is the name with full-width letters",
        "  and digits made half-width, lower-cased, without spaces, punctuation or symbols",
        "  (`智慧工厂（一期）` and `智慧工厂 (一期)` are one name). The same list sent again gives",
        "  the same ids; the receipt lists them (sheet `编号 Ids`) so that later reports can quote",
        f"  them. Capabilities: `{n.DERIVED_ID_PREFIX['capability_id']}` and the hash of",
        "  `<city code>|<supplier key>|<capability name key>`. Two rows of one city with the",
        "  same name are one scene: the later line wins, as for any correction.",
        "- **Planned investment** (预计投资, 拟投资金额 …) is read like an amount, in the",
        "  header's unit (`预计投资（万元）`), and kept apart from the cooperation amount. An",
        f"  estimate is read and flagged approximate: {approx} before the figure, {approx_after}",
        f"  after it (`约300万` is 300万, approximate). {none} give no figure: the value is",
        "  empty, not an error. Anything else unreadable is `bad_amount`.",
        "- **Reported on**: a list's rows are reported on its publication date unless a",
        "  填报日期 column says otherwise (a scene listed again in a later batch is the later",
        "  report, as for any correction).",
        "- **Description** (场景简介, 能力简介) is kept in the raw layer.",
        "",
        "### Domains and technologies: kept as written",
        "",
        "Domain and technology describe a project; they never make its row fail. They are",
        "stored as written and given a code by the platform (dbt staging) from the aliases",
        "below; a wording no alias knows gets the code `unclassified`, its text is kept, and",
        "it is counted as a warning: in the receipt (`unmapped_values`: column, wording, rows),",
        "in `scenetrack status` and in the report's data-quality panel, per city. Once an",
        "alias is added (`dbt_project/seeds/value_aliases.csv`), the next `scenetrack run`",
        "re-codes every staged row. A cell may name several technologies, separated by",
        f"{seps}: each counts (`bridge_project_technologies`), and the first named is the",
        "project's primary technology.",
        "",
    ]


def render() -> str:
    """The whole contract as Markdown."""
    lim = Limits()
    units = ", ".join(f"`{u}` (×{m:,})" for u, m in UNIT_MULTIPLIERS.items())
    lines = [
        "# Submission contract — 场景项目数据报送规范",
        "",
        "<!-- Generated by `python -m ingestion.contract` from ingestion/header_aliases.csv, "
        "the dbt seeds value_aliases.csv and ref_cities.csv, ingestion/city_aliases.csv and the "
        "reason codes of ingestion/receipts.py. Do not edit by hand. -->",
        "",
        "This is what a city sends to the scene-project tracking platform and what it gets back.",
        "Every file is read, every row is either loaded or listed back with the reason it was",
        "not, and the counts always add up: **rows read = rows loaded + rows quarantined**.",
        "",
        "## 1. Files",
        "",
        "The format is recognised from the file's content, not its name.",
        "",
        "- **CSV** (also `.tsv`, `.txt`): UTF-8, UTF-8 with BOM, GBK or GB18030 (as Excel saves",
        "  on a Chinese Windows), or UTF-16 with BOM (Excel's *Unicode text*). Separator: comma,",
        "  tab or semicolon. Values may be quoted and may contain line breaks; line numbers in",
        "  the receipt are the physical line where the row starts.",
        "- **XLSX** (Excel 2007+; `.xlsm` is read as data only, its macros are never run): the",
        "  first worksheet, or the one named with `scenetrack ingest --sheet NAME`. Formulas",
        "  are never evaluated: a formula cell gives the value Excel saved with it; external",
        "  links are not followed. Date cells and Excel serial day numbers are both accepted.",
        "  Old `.xls` files and password-protected workbooks are not accepted: save as `.xlsx`.",
        "- **JSON Lines** (`.jsonl`): one JSON object per line, keys named like CSV headers.",
        "  A line that is not a JSON object is listed back as `bad_json`; the other lines load.",
        "",
        "Layout of a table:",
        "",
        f"- Up to {MAX_HEADER_SEARCH_ROWS - 1} title rows (e.g. `2025年无锡市场景项目台账`) may",
        "  stand above the header; the header is the first row whose names match a layout.",
        "- Header cells may be merged: a name merged over two header rows counts for the lower",
        "  row, where the other names are (e.g. `阶段日期` above `发布日期 | 验证日期 …`).",
        "- Columns whose header is not listed below (序号, 备注 …) are ignored and named in the",
        "  receipt. Blank rows and blank trailing columns are skipped and not counted.",
        "- Header names ignore case, spaces, line breaks, full-/half-width forms and a leading",
        "  or trailing `*`.",
        "",
        "Limits (a file over a limit is rejected whole, nothing is loaded):",
        "",
        f"- file size {lim.max_bytes // (1024 * 1024)} MiB; {lim.max_rows:,} rows; "
        f"{lim.max_columns} columns;",
        f"- XLSX: at most {lim.max_xlsx_uncompressed // (1024 * 1024)} MiB once unpacked, no "
        f"part expanding more than {lim.max_xlsx_ratio}-fold, at most "
        f"{lim.max_xlsx_members:,} parts (checked before the workbook is opened);",
        "- a CSV or JSON Lines file holding a NUL byte anywhere is binary, not text",
        "  (`not_a_table`); anything that is not a regular file (a symbolic link, a folder, a",
        "  named pipe, a device) is rejected without being read (`not_a_regular_file`), and a",
        "  link in the landing folder is never followed.",
        "",
        "Control characters: invisible C0 control characters (U+0000–U+001F other than tab and",
        "line breaks), wherever they stand in a value, are removed when the file is read; the",
        "receipt says how many values, per column. Long fields: a value longer than",
        f"{MAX_VALUE_CHARS:,} characters (what one Excel cell holds) quarantines its row",
        "(`value_too_long`), so every loaded value can be exported whole.",
        "",
        "## 2. Layouts and header names",
        "",
        "The layout is recognised from the header, tried in this order: "
        + ", ".join(f"`{lay.name}`" for lay in LAYOUTS)
        + ".",
        "English canonical names and the Chinese names below are equivalent.",
        "An amount header may carry its unit in brackets, full- or half-width —"
        " `合作金额（万元）`, `合作金额(元)`, `金额（单位：亿元）` —"
        f" and bare numbers in that column are then in that unit. Units: {units}.",
        "",
    ]
    for layout in LAYOUTS:
        lines += _layout_section(layout)
    lines += _personal_section()
    lines += _lists_section()
    lines += [
        "### How a register (台账) row becomes events",
        "",
        "A register (台账) row is loaded or quarantined as a whole; the receipt counts register",
        "rows.",
        "",
        "- Each filled stage date (发布日期, 验证日期, 应用日期, 推广日期) is an `enter` event of",
        "  that stage (`opportunity`, `validation`, `application`, `scale_up`).",
        "- The amount (合作金额) is the project's current cooperation amount; it goes on the",
        "  `application` event, or on the furthest stage's event when 应用日期 is empty.",
        "- A filled 终止日期 adds one termination event at the furthest stage entered. It is",
        "  `fail` or `withdraw` as 终止类型 says; when 终止类型 is empty it is `fail` if 终止原因",
        "  mentions a failure (失败, 未通过, 不通过, fail) that is not negated (`项目未失败`,",
        "  `并非失败`, `not failed` are no failures) and `withdraw` otherwise (the default).",
        "- A row needs at least one stage date; 终止类型 or 终止原因 without 终止日期 is",
        "  quarantined (`missing_required` on `end_date`).",
        "",
        "## 3. Values",
        "",
        "### Amounts",
        "",
        "Stored as exact yuan (never floating point). Accepted: `4000万元`, `4000万`, `1.2亿`,",
        "`1.2亿元`, `350,000元`, `350000`, `人民币 12.5 万元`, `¥350,000`, full-width digits",
        "(`４０００万元`). A bare number is in the header's unit (yuan when the header has none).",
        "Thousands separators stand only between groups of three digits (`1,500万`; `1,5万` is",
        "no amount), and an amount is exact to the fen: more than two decimals of yuan once the",
        "unit is applied (`0.005元`, `1.23456789万`) is never rounded. Negative, unreadable or",
        "over-precise amounts are quarantined (`bad_amount`). An empty amount is allowed.",
        "",
        "### Dates",
        "",
        "Accepted: `2025-05-13`, `2025/5/13`, `2025.5.13`, `2025年5月13日`, `20250513`, with or",
        "without a time; Excel date cells and Excel serial numbers (`45790` = 2025-05-13);",
        "full-width digits. Month precision — `2025年5月`, `2025-05`, `2025/5` — is kept as",
        "month precision (never mistaken for the 1st). A date before 2015-01-01 or after today",
        "is quarantined (`date_out_of_range`).",
        "",
        "### Cities",
        "",
        "A city is written by its Chinese name with or without 市 (`合肥`, `合肥市`), its English",
        "name (`Hefei`, `Hefei City`), its 6-digit code (`340100`), or with its province",
        "(`安徽合肥`, `安徽省合肥市`, `Hefei, Anhui`). English names two cities share need the",
        "province: `Suzhou-Jiangsu` (苏州) / `Suzhou-Anhui` (宿州), `Fuzhou-Fujian` (福州) /",
        "`Fuzhou-Jiangxi` (抚州), `Taizhou-Jiangsu` / `Taizhou-Zhejiang`, `Yichun-Heilongjiang` /",
        "`Yichun-Jiangxi`, `Yulin-Guangxi` / `Yulin-Shaanxi`; a bare `Suzhou` or `Fuzhou` is",
        "quarantined as `unknown_city`, never guessed. The cities are those of the `dim_city`",
        "reference (all prefecture-level cities, the four municipalities, 义乌 and 雄安). Other",
        "names accepted:",
        "",
        "| written as | city code | why |",
        "| --- | --- | --- |",
    ]
    for r in _read(CITY_ALIASES_FILE):
        lines.append(f"| `{r['alias']}` | {r['city_code']} | {r['note']} |")
    lines.append("")
    lines += _value_section(
        "stage", "Stages", _read(seeds_dir() / "lifecycle_stages.csv"), "stage_code"
    )
    lines += _value_section("event_type", "Event types", None, "")
    lines += _value_section("end_type", "Termination types (register 终止类型)", None, "")
    lines += _value_section(
        "domain", "Domains", _read(seeds_dir() / "ref_domains.csv"), "domain_code"
    )
    lines += _value_section(
        "technology", "Technologies", _read(seeds_dir() / "ref_technologies.csv"), "technology_code"
    )
    lines += [
        "## 4. Reason codes",
        "",
        "### Rows (the row is quarantined; the receipt gives line, column, value and reason)",
        "",
        "| code | 说明 | explanation |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{c}` | {zh} | {en} |" for c, (zh, en) in ROW_REASONS.items()]
    lines += [
        "",
        "A quarantined row is listed once for every failing column and reason (a row with a bad",
        "date and an unknown city has two entries), so one round of corrections fixes it;",
        "`rows_quarantined` counts rows, and `rows read = rows loaded + rows quarantined`. A",
        "problem of the row itself (`extra_fields`, `bad_json`) is its only entry.",
        "",
        "### Files (the whole file is rejected; nothing of it is loaded)",
        "",
        "| code | 说明 | explanation |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{c}` | {zh} | {en} |" for c, (zh, en) in FILE_REASONS.items()]
    lines += [
        "",
        "## 5. Uploading, receipts and corrections",
        "",
        "- **Upload**: `scenetrack ingest FILE... [--sheet NAME] [--channel CITY] [--city CITY]",
        "  [--published-on DATE]`, or drop files into the warehouse's `landing/` folder, writing",
        "  under a name that starts with `.` or ends in `.part` and renaming when complete (a",
        "  half-written file is never read). Only regular files are read there: a symbolic link",
        "  is rejected, never followed.",
        "- **A channel per city**: a file dropped in `landing/<city>/` (the city's Chinese name,",
        "  with or without 市, or its code: `landing/无锡/`, `landing/320200/`) is that city's:",
        "  its rows need no city column, and a row naming another city is quarantined",
        "  (`city_mismatch`). `scenetrack ingest --channel 无锡` does the same for a file named",
        "  on the command line. A folder that names no city rejects its files",
        "  (`unknown_channel`). Files dropped in `landing/` itself behave as before.",
        "- **Receipt**: for each file a receipt in JSON and XLSX (Chinese and English column",
        "  names) under `<home>/receipts/<batch>/`: counts, how the file was read and every",
        "  quarantined row with its line, column, value, reason and explanation. The CLI prints",
        "  the folder; a rejected file is named on one line and the CLI exits with status 1,",
        "  while the other files of the same call still load.",
        "- **Same file twice**: a file whose content (SHA-256) was already submitted is not",
        "  loaded again (its receipt says `duplicate`). To resubmit after fixing rows, change",
        "  the file (only the fixed rows need to be sent).",
        "- **Corrections**: send the event again (same city, project, stage and event type)",
        "  with the corrected values and a later 填报日期 (`reported_at`). The latest report",
        "  wins: latest `reported_at` (or, when absent, the load date), then the later",
        "  submission (in the order files were loaded, whatever the clocks say), then the later",
        "  line. Every report is kept in the raw layer; a correction that changes only the",
        "  amount is flagged as a correction too.",
        "- **Held submissions**: when a city's newest file fails the quality gate on that city's",
        "  rows only, its rows are held back (kept, not published) and every other city's",
        "  figures publish; the operator releases them after the correction arrives.",
        "- A workbook is one submission: to send another sheet of the same workbook, save that",
        "  sheet as its own file (the same bytes with another `--sheet` are a duplicate).",
        "- Every loaded file is archived unchanged, by content hash, so any load can be replayed.",
        "- **Repair without re-sending**: after the platform learns an alias or a reference it",
        "  lacked (a city's own name for a stage, a district-level way of writing the city), the",
        "  operator runs `scenetrack replay [--reason R] [--file SHA]`: the quarantined rows of",
        "  the archived files are read again; those that now pass are loaded (once, whatever is",
        "  re-run), the others stay quarantined with their current reasons, and a new receipt",
        "  says what the replay did. `scenetrack quarantine [--by reason|value|city|file]` lists",
        "  what waits and why, most frequent first.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write the contract to ``docs/submission_contract.md`` (or the path given)."""
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else DOC_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
