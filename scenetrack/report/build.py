"""Render the evaluator report: a static site under ``<home>/published/report/``.

Layout (Chinese at the top, English under ``en/``; one copy of plotly.js shared by all)::

    report/index.html            national page, zh
    report/city/<code>.html      one page per city, zh
    report/en/index.html         national page, en
    report/en/city/<code>.html   one page per city, en
    report/assets/plotly.min.js  copied from the plotly wheel

Pages only reference files beside them by relative paths, so the folder can be zipped, mailed
or opened from a USB stick. Each page is written to a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from scenetrack import progress
from scenetrack.config import Paths, settings
from scenetrack.report import slices
from scenetrack.report.data import CITY_PROJECT_ROWS, Overview, ReportData, Row, read_report_data
from scenetrack.report.figures import city_charts, city_name, national_charts, plotly_js_path
from scenetrack.report.labels import (
    LANGS,
    STAGES,
    fmt_days,
    fmt_int,
    fmt_num,
    fmt_pct,
    fmt_signed,
    labels,
    raw_value,
    stage_label,
)

VENDOR = Path(__file__).resolve().parent.parent / "vendor" / "report"

WATCHLIST_ROWS = 50
"""Rows of the national stalled and terminated lists (most overdue / most recently ended first)."""

CITY_WATCHLIST_ROWS = 100
"""Rows of a city page's stalled and terminated lists (most overdue / most recently ended first).

Listing every row made the report at 1M events 600 pages of up to 1 MB each (two languages ×
300 cities, ~100k stalled and ~50k ended projects), and Jinja spent most of the build escaping
them. A capped table says "N of M shown" and where the whole list is: the published tables BI
tools read (``mart_stalled_projects``, ``fct_project_lifecycle``), their Parquet copies under
``published/parquet/`` (written by every publish) and ``scenetrack export``.
"""

KINDS = {
    "int": fmt_int,
    "yi": lambda v: fmt_num(v, 2),
    "pct": fmt_pct,
    "days": fmt_days,
    "text": lambda v: "-" if v is None else str(v),
    "date": lambda v: "-" if v is None else v.isoformat(),
}


@dataclass(frozen=True)
class Col:
    key: str
    header: str
    kind: str = "int"

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "yi", "pct", "days")


@dataclass(frozen=True)
class Cell:
    col: str
    raw: str
    text: str
    numeric: bool
    href: str | None = None


@dataclass(frozen=True)
class TableRow:
    key: str | None
    cells: list[Cell]
    dims: dict[str, str] = field(default_factory=dict)  # filter attributes (data-f-<dim>)
    attrs: dict[str, str] = field(default_factory=dict)  # further data-<name> attributes


@dataclass
class Table:
    name: str
    cols: list[Col]
    rows: list[TableRow] = field(default_factory=list)
    note: str | None = None
    sortable: bool = True
    full_list: str | None = None  # where every row is, when the table shows only some

    def add(
        self,
        values: dict[str, Any],
        key: str | None = None,
        display: dict[str, str] | None = None,
        hrefs: dict[str, str] | None = None,
        dims: dict[str, Any] | None = None,
        attrs: dict[str, str] | None = None,
    ) -> None:
        """One row: ``values`` are the raw mart values; ``display`` overrides the shown text;
        ``dims`` are the row's values of the filter dimensions (slices.FILTER_DIMENSIONS)."""
        display, hrefs = display or {}, hrefs or {}
        cells = []
        for c in self.cols:
            v = values.get(c.key)
            text = display.get(c.key) or KINDS[c.kind](v)
            cells.append(Cell(c.key, raw_value(v), text, c.numeric, hrefs.get(c.key)))
        shown = {k: str(v) for k, v in (dims or {}).items() if v is not None}
        self.rows.append(TableRow(key, cells, shown, attrs or {}))


@dataclass(frozen=True)
class Delta:
    label: str
    raw: Any
    text: str


@dataclass(frozen=True)
class Kpi:
    label: str
    name: str
    raw: Any
    text: str
    delta: Delta | None = None


def _env() -> jinja2.Environment:
    """The report's Jinja2 environment over ``scenetrack/report/templates/*.html.j2`` (package
    data, so an installed scenetrack has them).

    Conventions the tests and the browser check rely on:

    - a headline figure is ``<span data-figure="NAME" data-value="RAW">formatted</span>``;
    - a table is ``<table data-table="NAME">``; each body cell is
      ``<td data-col="COLUMN" data-value="RAW">formatted</td>`` (``data-value`` is also the
      sort key);
    - a chart is ``<div class="plot" data-chart="KEY">`` with its Plotly JSON in
      ``<script type="application/json" id="spec-KEY">``.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scenetrack.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def jsonscript(s: str) -> Markup:
        # JSON inside <script>: no "</script>", no HTML comment openers, still valid JSON.
        return Markup(s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))

    env.filters["jsonscript"] = jsonscript
    env.globals.update(rawv=raw_value, fmt_int=fmt_int)
    return env


def _rel(target: Path, page_dir: Path) -> str:
    return Path(os.path.relpath(target, page_dir)).as_posix()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _copy_plotly(assets: Path) -> None:
    src, dst = plotly_js_path(), assets / "plotly.min.js"
    if dst.exists() and dst.stat().st_size == src.stat().st_size:
        return
    assets.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


SCRIPT = Path(__file__).resolve().parent / "report.js"


def _copy_vendor(assets: Path) -> None:
    """DataTables, its Buttons, JSZip and jQuery (scenetrack/vendor/report) and the report's
    own script beside plotly.js: one copy for every page."""
    for src in [*VENDOR.iterdir(), SCRIPT]:
        dst = assets / src.name
        if dst.exists() and dst.stat().st_size == src.stat().st_size:
            continue
        tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


def local_time(value: Any) -> str:
    """A stored UTC time (naive or aware, or its ISO text) as local time (SCENETRACK_TIMEZONE),
    to the minute, with the zone's offset: 2025-12-02 15:59 (UTC+08:00)."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        return str(value)
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    local = aware.astimezone(ZoneInfo(settings().timezone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:]})"


def report_dir(p: Paths) -> Path:
    """``<home>/published/report``: the report's root (Chinese pages)."""
    return p.published_dir / "report"


def lang_dir(p: Paths, lang: str) -> Path:
    """Where the pages of ``lang`` go: the report root for zh, ``en/`` under it for en."""
    return report_dir(p) if lang == "zh" else report_dir(p) / lang


def dbt_docs_index(p: Paths) -> Path:
    return p.published_dir / "dbt_docs" / "index.html"


def data_docs_index(p: Paths) -> Path:
    return p.gate_dir / "data_docs" / "index.html"


# --- the pieces of a page -------------------------------------------------------------------


def _name_of(rows: dict[str, Row], code: str | None, lang: str) -> str:
    if code is None:
        return "-"
    r = rows.get(code)
    if not r:
        return code
    return r["name_zh"] if lang == "zh" else r["name_en"]


def _overview_kpis(ov: Overview, prev: Overview | None, lang: str) -> list[Kpi]:
    L = labels(lang)
    change = L["change_vs"].format(v=prev.version) if prev else ""
    items = [
        ("cities_active", ov.cities_active, fmt_int(ov.cities_active), 0),
        ("projects_total", ov.projects_total, fmt_int(ov.projects_total), 0),
        ("cooperation_amount_yi", ov.cooperation_amount_yi, fmt_num(ov.cooperation_amount_yi), 2),
        ("projects_stalled", ov.projects_stalled, fmt_int(ov.projects_stalled), 0),
        ("projects_failed", ov.projects_failed, fmt_int(ov.projects_failed), 0),
        ("projects_withdrawn", ov.projects_withdrawn, fmt_int(ov.projects_withdrawn), 0),
    ]
    out = []
    for name, raw, text, digits in items:
        delta = None
        if prev is not None:
            d = raw - getattr(prev, name)
            if digits:
                d = round(d, 6)
            delta = Delta(change, d, fmt_signed(d, digits))
        out.append(Kpi(L[name], name, raw, text, delta))
    return out


def _stage_table(ov: Overview, prev: Overview | None, lang: str) -> Table:
    L = labels(lang)
    cols = [
        Col("stage", L["stage"], "text"),
        Col("projects_reached", L["reached_stage"]),
        Col("active_in_stage", L["current_active"]),
    ]
    if prev is not None:
        cols.append(Col("projects_reached_change", L["change_vs"].format(v=prev.version)))
    t = Table("stages", cols, sortable=False)
    for s in STAGES:
        values: dict[str, Any] = {
            "stage": s,
            "projects_reached": ov.reached.get(s, 0),
            "active_in_stage": ov.active_in_stage.get(s, 0),
        }
        display = {"stage": stage_label(s, lang)}
        if prev is not None:
            d = ov.reached.get(s, 0) - prev.reached.get(s, 0)
            values["projects_reached_change"] = d
            display["projects_reached_change"] = fmt_signed(d)
        t.add(values, key=s, display=display)
    return t


def _funnel_table(name: str, rows: list[Row], lang: str) -> Table:
    L = labels(lang)
    t = Table(
        name,
        [
            Col("stage_code", L["stage"], "text"),
            Col("projects_reached", L["projects_reached"]),
            Col("conversion_from_previous_stage", L["conversion_from_previous_stage"], "pct"),
            Col("conversion_from_opportunity", L["conversion_from_opportunity"], "pct"),
            Col("projects_failed_here", L["projects_failed_here"]),
            Col("projects_withdrawn_here", L["projects_withdrawn_here"]),
        ],
        sortable=False,
    )
    for r in sorted(rows, key=lambda r: r["stage_order"]):
        t.add(r, key=r["stage_code"], display={"stage_code": stage_label(r["stage_code"], lang)})
    return t


def _domain_table(data: ReportData, lang: str) -> Table:
    L = labels(lang)
    cols = [Col("breakdown_value", L["domain"], "text")]
    cols += [Col(f"reached_{s}", stage_label(s, lang)) for s in STAGES]
    cols += [
        Col(
            f"conversion_{s}",
            f"→ {stage_label(s, lang)} ({L['conversion_from_previous_stage']})",
            "pct",
        )
        for s in STAGES[1:]
    ]
    t = Table("funnel_by_domain", cols)
    by_domain: dict[str, dict[str, Row]] = defaultdict(dict)
    for r in data.funnel:
        if r["breakdown"] == "domain":
            by_domain[r["breakdown_value"]][r["stage_code"]] = r
    order = [d for d in [*data.domains, "unknown"] if d in by_domain]
    for d in order:
        stages = by_domain[d]
        values: dict[str, Any] = {"breakdown_value": d}
        for s in STAGES:
            r = stages.get(s)
            values[f"reached_{s}"] = r["projects_reached"] if r else 0
            if s != STAGES[0]:
                values[f"conversion_{s}"] = r["conversion_from_previous_stage"] if r else None
        name = L["unknown"] if d == "unknown" else _name_of(data.domains, d, lang)
        t.add(values, key=d, display={"breakdown_value": name})
    return t


LEADER_COLS = (
    ("opportunities_published", "int"),
    ("capabilities_published", "int"),
    ("projects_reached_validation", "int"),
    ("projects_reached_application", "int"),
    ("projects_reached_scale_up", "int"),
    ("conversion_opportunity_to_validation", "pct"),
    ("conversion_validation_to_application", "pct"),
    ("conversion_application_to_scale_up", "pct"),
    ("median_days_opportunity_to_validation", "days"),
    ("median_days_validation_to_application", "days"),
    ("median_days_application_to_scale_up", "days"),
    ("cooperation_amount_yi", "yi"),
    ("projects_stalled", "int"),
    ("projects_failed", "int"),
    ("projects_withdrawn", "int"),
)


def _leaderboard(data: ReportData, lang: str, city_href) -> Table:
    L = labels(lang)
    cols = [
        Col("city", L["city"], "text"),
        Col("region", L["region"], "text"),
        Col("rank", L["rank"]),
    ]
    cols += [Col(k, L[k], kind) for k, kind in LEADER_COLS]
    note = (
        L["leaderboard_note"] + " " + L["leaderboard_min_note"].format(n=slices.RANK_MIN_PROJECTS)
    )
    t = Table("leaderboard", cols, note=note)
    rank = _rank_validation_to_application(data.leaderboard)
    for r in data.leaderboard:
        name = r["city_name_zh"] if lang == "zh" else r["city_name_en"]
        t.add(
            {**r, "city": name, "rank": rank.get(r["city_code"])},
            key=r["city_code"],
            display={"region": L.get(f"region_{r['region']}", r["region"] or "-")},
            hrefs={"city": city_href(r["city_code"])},
            dims=_city_dims(data, r["city_code"]),
        )
    return t


def _rank_validation_to_application(board: list[Row]) -> dict[str, int]:
    """City -> its rank by validation → application among the cities with enough pilots."""
    (bench,) = [b for b in slices.BENCHMARKS if b[0] == "conversion_validation_to_application"]
    col, denominator, _ = bench
    eligible = [
        r for r in board if r[col] is not None and (r[denominator] or 0) >= slices.RANK_MIN_PROJECTS
    ]
    values = sorted((float(r[col]) for r in eligible), reverse=True)
    return {r["city_code"]: values.index(float(r[col])) + 1 for r in eligible}


def _city_dims(data: ReportData, code: str | None) -> dict[str, Any]:
    c = data.cities.get(code or "", {})
    return {"region": c.get("region"), "province_zh": c.get("province_zh")}


def _year(d: Any) -> str | None:
    return str(d.year) if hasattr(d, "year") else None


def _transition_table(transitions: list[Row], lang: str) -> Table:
    L = labels(lang)
    t = Table(
        "transitions",
        [
            Col("transition", L["transition"], "text"),
            Col("transitions", L["transitions"]),
            Col("skipped_stages", L["skipped_stages"]),
            Col("min_days", L["min_days"]),
            Col("max_days", L["max_days"]),
        ],
        sortable=False,
    )
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in transitions:
        groups[(r["from_stage"], r["to_stage"])].append(r)
    order = {s: i for i, s in enumerate(STAGES)}
    for (a, b), rows in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]])):
        days = [int(r["days_taken"]) for r in rows]
        t.add(
            {
                "transition": f"{a}>{b}",
                "transitions": len(rows),
                "skipped_stages": sum(1 for r in rows if r["skipped_stages"]),
                "min_days": min(days),
                "max_days": max(days),
            },
            key=f"{a}>{b}",
            display={"transition": f"{stage_label(a, lang)} → {stage_label(b, lang)}"},
        )
    return t


def _stalled_table(data: ReportData, rows: list[Row], lang: str, with_city: bool) -> Table:
    L = labels(lang)
    cols = [Col("city", L["city"], "text")] if with_city else []
    cols += [
        Col("project_key", L["project_key"], "text"),
        Col("project_name", L["project"], "text"),
        Col("domain_code", L["domain"], "text"),
        Col("demand_owner", L["demand_owner"], "text"),
        Col("supplier", L["supplier"], "text"),
        Col("current_stage", L["current_stage"], "text"),
        Col("current_stage_entered_on", L["current_stage_entered_on"], "date"),
        Col("days_in_current_stage", L["days_in_current_stage"]),
        Col("stalled_after_days", L["stalled_after_days"]),
        Col("days_overdue", L["days_overdue"]),
    ]
    t = Table("stalled", cols)
    for r in rows:
        t.add(
            {**r, "city": r["city_code"]},
            key=r["project_key"],
            dims=_city_dims(data, r["city_code"])
            | {
                "domain_code": r["domain_code"],
                "technology_code": r["technology_code"],
                "year": _year(r["current_stage_entered_on"]),
            },
            display={
                "city": city_name(data, r["city_code"], lang),
                "domain_code": _name_of(data.domains, r["domain_code"], lang),
                "current_stage": stage_label(r["current_stage"], lang),
            },
        )
    return t


def _terminated_table(data: ReportData, rows: list[Row], lang: str, with_city: bool) -> Table:
    L = labels(lang)
    cols = [Col("city", L["city"], "text")] if with_city else []
    cols += [
        Col("project_key", L["project_key"], "text"),
        Col("project_name", L["project"], "text"),
        Col("domain_code", L["domain"], "text"),
        Col("supplier", L["supplier"], "text"),
        Col("current_stage", L["current_stage"], "text"),
        Col("status", L["status"], "text"),
        Col("terminated_on", L["terminated_on"], "date"),
        Col("reason_text", L["reason_text"], "text"),
    ]
    t = Table("terminated", cols)
    for r in rows:
        t.add(
            {**r, "city": r["city_code"]},
            key=r["project_key"],
            dims=_city_dims(data, r["city_code"])
            | {
                "domain_code": r["domain_code"],
                "technology_code": r["technology_code"],
                "year": _year(r["terminated_on"]),
            },
            display={
                "city": city_name(data, r["city_code"], lang),
                "domain_code": _name_of(data.domains, r["domain_code"], lang),
                "current_stage": stage_label(r["current_stage"], lang),
                "status": L.get(f"status_{r['status']}", r["status"]),
                "reason_text": r.get("reason_text")
                or L.get(f"reason_group_{r.get('reason_group')}", "-"),
            },
        )
    return t


def _reason_table(data: ReportData, lang: str) -> Table:
    """Failures and withdrawals per reason group (mart_terminations); the words are in the
    list of ended projects and the mart."""
    L = labels(lang)
    t = Table(
        "reasons",
        [
            Col("reason_group", L["reason_group"], "text"),
            Col("projects_failed", L["projects_failed_here"]),
            Col("projects_withdrawn", L["projects_withdrawn_here"]),
            Col("projects", L["projects"]),
        ],
    )
    for r in data.reason_groups:
        g = r["reason_group"]
        t.add(r, key=g, display={"reason_group": L.get(f"reason_group_{g}", g)})
    return t


def _problem_table(data: ReportData, lang: str) -> Table:
    L = labels(lang)
    t = Table(
        "gate_problems",
        [
            Col("severity", L["severity"], "text"),
            Col("suite", L["suite"], "text"),
            Col("expectation", L["expectation"], "text"),
            Col("column_name", L["column"], "text"),
            Col("observed_value", L["observed"], "text"),
            Col("notes", L["why"], "text"),
        ],
    )
    translated = gate_notes_zh() if lang == "zh" else {}
    for r in data.quality.problems:
        t.add(
            r,
            display={
                "severity": L.get(f"severity_{r['severity']}", r["severity"]),
                "suite": L.get(f"suite_{r['suite']}", r["suite"]),
                "notes": translated.get(r["notes"] or "", r["notes"] or ""),
            },
        )
    return t


def gate_notes_zh() -> dict[str, str]:
    """Each check's "why" (``meta.notes``, what the gate stores) -> its Chinese text
    (``meta.notes_zh``) from the suite files; a note the suites no longer carry stays as
    stored."""
    from scenetrack.gate import load_suite_specs

    return {
        e["meta"]["notes"]: e["meta"]["notes_zh"]
        for spec in load_suite_specs()
        for e in spec.expectations
        if e.get("meta", {}).get("notes") and e["meta"].get("notes_zh")
    }


def _held_table(data: ReportData, lang: str) -> Table:
    """Submissions held back per city (scenetrack.holdback): not in these figures."""
    L = labels(lang)
    t = Table(
        "held_submissions",
        [
            Col("city", L["city"], "text"),
            Col("file_name", L["file"], "text"),
            Col("held_at", L["held_at"], "text"),
            Col("checks", L["why"], "text"),
        ],
    )
    for r in data.quality.held:
        t.add(
            {**r, "city": r["city_code"]},
            key=f"{r['city_code']}:{r['source_file_sha256']}",
            display={
                "city": city_name(data, r["city_code"], lang),
                "held_at": local_time(r["held_at"]),
            },
            dims=_city_dims(data, r["city_code"]),
        )
    return t


def _quarantine_table(data: ReportData, lang: str) -> Table:
    L = labels(lang)
    t = Table(
        "quarantine",
        [
            Col("city", L["city"], "text"),
            Col("files", L["files"]),
            Col("rows_quarantined", L["rows_quarantined"]),
        ],
    )
    for r in data.quality.quarantine:
        t.add(
            {**r, "city": r["city_code"]},
            key=r["city_code"] or "unattributed",
            display={"city": city_name(data, r["city_code"], lang)},
            dims=_city_dims(data, r["city_code"]),
        )
    return t


YI = Decimal(100_000_000)  # yuan in one 亿元


def _unmapped_table(data: ReportData, lang: str) -> Table:
    """Domain and technology wordings no alias maps, per city (they loaded as unclassified)."""
    L = labels(lang)
    t = Table(
        "unmapped_values",
        [
            Col("city", L["city"], "text"),
            Col("column_name", L["column"], "text"),
            Col("value_text", L["wording"], "text"),
            Col("row_count", L["rows"]),
        ],
    )
    for r in data.quality.unmapped:
        t.add(
            {**r, "city": r["city_code"]},
            key=f"{r['city_code']}:{r['column_name']}:{r['value_text']}",
            display={
                "city": city_name(data, r["city_code"], lang),
                "column_name": L.get(r["column_name"], r["column_name"]),
            },
        )
    return t


def _batch_table(data: ReportData, lang: str) -> Table:
    """How each batch of the cities' opportunity lists did (mart_opportunity_batches)."""
    L = labels(lang)
    t = Table(
        "opportunity_batches",
        [
            Col("city", L["city"], "text"),
            Col("opportunity_batch", L["batch"], "text"),
            Col("first_published_on", L["published_on"], "date"),
            Col("opportunities_published", L["opportunities_published"]),
            Col("projects_reached_validation", L["projects_reached_validation"]),
            Col("projects_reached_application", L["projects_reached_application"]),
            Col("projects_failed", L["projects_failed"]),
            Col(
                "conversion_opportunity_to_validation",
                L["conversion_opportunity_to_validation"],
                "pct",
            ),
            Col("planned_investment_yi", L["planned_investment_yi"], "yi"),
            Col("cooperation_amount_yi", L["cooperation_amount_yi"], "yi"),
        ],
        note=L["batches_note"],
    )
    for r in data.batches:
        planned = r["planned_investment_yuan"]
        t.add(
            {
                **r,
                "city": r["city_code"],
                "planned_investment_yi": None if planned is None else Decimal(planned) / YI,
                "cooperation_amount_yi": Decimal(r["cooperation_amount_yuan"]) / YI,
            },
            key=f"{r['city_code']}:{r['opportunity_batch']}",
            display={"city": city_name(data, r["city_code"], lang)},
        )
    return t


def _supply_table(data: ReportData, rows: list[Row], lang: str) -> Table:
    L = labels(lang)
    t = Table(
        "supply_demand",
        [
            Col("technology_code", L["technology"], "text"),
            Col("opportunities_published", L["opportunities_published"]),
            Col("capabilities_published", L["capabilities_published"]),
            Col("opportunities_matched", L["opportunities_matched"]),
            Col("share_opportunities_matched", L["share_opportunities_matched"], "pct"),
            Col("capabilities_per_opportunity", L["capabilities_per_opportunity"], "yi"),
        ],
    )
    for r in rows:
        name = (
            L["unknown"]
            if r["technology_code"] == "unknown"
            else _name_of(data.technologies, r["technology_code"], lang)
        )
        t.add(r, key=r["technology_code"], display={"technology_code": name})
    return t


def _quarter_table(rows: list[Row], lang: str) -> Table:
    L = labels(lang)
    keys = (
        ("opportunities_published", "int"),
        ("capabilities_published", "int"),
        ("projects_reached_validation", "int"),
        ("projects_reached_application", "int"),
        ("projects_reached_scale_up", "int"),
        ("projects_failed", "int"),
        ("projects_withdrawn", "int"),
        ("conversion_opportunity_to_validation", "pct"),
        ("conversion_validation_to_application", "pct"),
        ("cooperation_amount_yi", "yi"),
        ("median_days_opportunity_to_validation", "days"),
    )
    t = Table(
        "quarters",
        [Col("period_label", L["period_label"], "text")] + [Col(k, L[k], kind) for k, kind in keys],
    )
    for r in rows:
        t.add(r, key=r["period_label"])
    return t


def _city_kpis(r: Row, lang: str) -> list[Kpi]:
    L = labels(lang)
    out = []
    for k, kind in LEADER_COLS:
        out.append(Kpi(L[k], k, r[k], KINDS[kind](r[k])))
    return out


# --- pages ----------------------------------------------------------------------------------


def _common(p: Paths, data: ReportData, lang: str, page_dir: Path, other: Path) -> dict:
    ov = data.overview
    L = labels(lang)
    ref = data.reference_date.isoformat() if data.reference_date else "-"
    return {
        "lang": lang,
        "L": L,
        "assets": _rel(report_dir(p) / "assets", page_dir) + "/",
        "other_lang_href": _rel(other, page_dir),
        "ov": {
            "version": ov.version,
            "published_at": ov.published_at,
            "published_at_text": local_time(ov.published_at),
            "gate_run_id": ov.gate_run_id,
        },
        "shows_version": L["shows_version"].format(
            v=ov.version, at=local_time(ov.published_at), d=ref
        ),
        "reference_date": ref,
        "generated_at": local_time(datetime.now(UTC)),
        "gate_run_at": local_time((data.quality.gate or {}).get("run_at")),
        "i18n_json": json.dumps(
            {k: L[k] for k in ("download_csv", "download_xlsx", "print", "too_early")},
            ensure_ascii=False,
        ),
        "quality": data.quality,
    }


def _stalled_note(data: ReportData, lang: str) -> str:
    ref = data.reference_date.isoformat() if data.reference_date else "-"
    return labels(lang)["stalled_note"].format(d=ref)


def _capped_watchlists(
    data: ReportData,
    stalled: list[Row],
    terminated: list[Row],
    cap: int,
    lang: str,
    city: str | None,
) -> tuple[Table, Table]:
    """The stalled and terminated tables with at most ``cap`` rows each, first rows first.

    ``stalled`` must come most overdue first and ``terminated`` most recently ended first (as
    :func:`~scenetrack.report.data.read_report_data` orders them). A capped table carries
    "N of M" and where the full list is (``city``: the city code the list is filtered on).
    """
    L = labels(lang)
    of_city = [f"city_code = '{city}'"] if city else []
    s_table = _stalled_table(data, stalled[:cap], lang, with_city=city is None)
    if len(stalled) > cap:
        s_table.note = L["showing_n_of"].format(n=fmt_int(cap), total=fmt_int(len(stalled)))
        s_table.full_list = _full_list(L, "mart_stalled_projects", of_city)
    t_table = _terminated_table(data, terminated[:cap], lang, with_city=city is None)
    if len(terminated) > cap:
        t_table.note = L["latest_n_of"].format(n=fmt_int(cap), total=fmt_int(len(terminated)))
        t_table.full_list = _full_list(L, "fct_project_lifecycle", ["status <> 'active'", *of_city])
    return s_table, t_table


def _full_list(L: dict[str, str], table: str, conditions: list[str]) -> str:
    """Where a capped list is in full: the published table (and the rows), Parquet, export."""
    where = f"{table} where {' and '.join(conditions)}" if conditions else table
    return L["full_list"].format(
        table=where,
        parquet=f"published/parquet/{table}.parquet",
        export=f"scenetrack export --format csv --mart {table}",
    )


def _render_index(env, p: Paths, data: ReportData, lang: str) -> str:
    L = labels(lang)
    page_dir = lang_dir(p, lang)
    other = lang_dir(p, "en" if lang == "zh" else "zh") / "index.html"
    national = [r for r in data.funnel if r["breakdown"] == "national"]
    stalled, terminated = _capped_watchlists(
        data, data.stalled, data.terminated, WATCHLIST_ROWS, lang, city=None
    )
    dd, dbt = data_docs_index(p), dbt_docs_index(p)
    gate = data.quality.gate
    ctx = _common(p, data, lang, page_dir, other) | {
        "prev": data.previous,
        "change_label": L["change_vs"].format(v=data.previous.version) if data.previous else "",
        "kpis": _overview_kpis(data.overview, data.previous, lang),
        "stage_table": _stage_table(data.overview, data.previous, lang),
        "charts": national_charts(data, lang),
        "funnel_table": _funnel_table("funnel_national", national, lang),
        "domain_table": _domain_table(data, lang),
        "leaderboard": _leaderboard(data, lang, lambda c: f"city/{c}.html"),
        "transition_table": _transition_table(data.transitions, lang),
        "stalled_note": _stalled_note(data, lang),
        "stalled_table": stalled,
        "terminated_table": terminated,
        "problem_table": _problem_table(data, lang),
        "quarantine_table": _quarantine_table(data, lang),
        "held_table": _held_table(data, lang),
        "unmapped_table": _unmapped_table(data, lang),
        "batch_table": _batch_table(data, lang),
        "quality_reason": L["quality_unavailable"].format(reason=data.quality.reason or "-"),
        "gate_newer": bool(gate and gate["run_id"] != data.overview.gate_run_id),
        "data_docs_href": _rel(dd, page_dir) if dd.exists() else None,
        "dbt_docs_href": _rel(dbt, page_dir) if dbt.exists() else None,
        "filters": _filters(data, lang),
        "activity_json": activity_json(data),
        "activity_year": _activity_table(data, "year", lang),
        "activity_quarter": _activity_table(data, "quarter", lang),
        "cohort_table": _cohort_table(data, lang),
        "maturity_note": _maturity_note(data, lang),
        "attention_table": _attention_table(data, lang),
        "attention_note": _attention_note(data, lang),
        "freshness_table": _freshness_table(data, lang),
        "freshness_note": _freshness_note(data, lang),
        "money_domain": _money_table(data, "domain_code", lang),
        "money_technology": _money_table(data, "technology_code", lang),
        "supplier_table": _top_table("suppliers", data.top_suppliers, "supplier", lang),
        "owner_table": _top_table("demand_owners", data.top_demand_owners, "demand_owner", lang),
        "stalled_rule_table": _stalled_rule_table(data, lang),
        "reason_table": _reason_table(data, lang),
    }
    return env.get_template("index.html.j2").render(ctx)


def _attention_note(data: ReportData, lang: str) -> str:
    freshness_days = settings().freshness_days

    ref = data.reference_date.isoformat() if data.reference_date else "-"
    return labels(lang)["attention_note"].format(days=freshness_days, d=ref)


def _freshness_note(data: ReportData, lang: str) -> str:
    freshness_days = settings().freshness_days

    ref = data.reference_date.isoformat() if data.reference_date else "-"
    return labels(lang)["freshness_note"].format(days=freshness_days, d=ref)


def _render_city(env, p: Paths, data: ReportData, row: Row, lang: str) -> str:
    code = row["city_code"]
    page_dir = lang_dir(p, lang) / "city"
    other = lang_dir(p, "en" if lang == "zh" else "zh") / "city" / f"{code}.html"
    name = row["city_name_zh"] if lang == "zh" else row["city_name_en"]
    stalled, terminated = _capped_watchlists(
        data,
        data.of_city("stalled", code),
        data.of_city("terminated", code),
        CITY_WATCHLIST_ROWS,
        lang,
        city=code,
    )
    funnel = data.funnel_by("city").get(code, [])
    quarters = data.of_city("quarterly", code)
    supply = data.of_city("supply_demand", code)
    quarantined = sum(
        r["rows_quarantined"] for r in data.quality.quarantine if r["city_code"] == code
    )
    ctx = _common(p, data, lang, page_dir, other) | {
        "city_title": f"{name} ({code})",
        "home_href": "../index.html",
        "kpis": _city_kpis(row, lang),
        "charts": city_charts(data, code, lang),
        "funnel_table": _funnel_table("city_funnel", funnel, lang),
        "quarter_table": _quarter_table(quarters, lang),
        "supply_table": _supply_table(data, supply, lang),
        "stalled_note": _stalled_note(data, lang),
        "stalled_table": stalled,
        "terminated_table": terminated,
        "city_quarantined": quarantined,
        "benchmark_table": _benchmark_table(data, code, lang),
        "benchmark_note": labels(lang)["benchmark_note"].format(n=slices.RANK_MIN_PROJECTS),
        "project_table": _city_project_table(data, code, lang),
        "filters": [],
        "activity_json": "",
    }
    return env.get_template("city.html.j2").render(ctx)


def build_report(p: Paths, lang: str = "zh", data: ReportData | None = None) -> Path:
    """Write the report in ``lang`` (zh: ``report/``, en: ``report/en/``); return its index.

    Reads the published warehouse read-only (and, unless ``data`` is given, the work DB
    read-only for the data-quality panel). City pages of cities no longer in the marts are
    removed.
    """
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, got {lang!r}")
    data = data or read_report_data(p)
    env = _env()
    out = lang_dir(p, lang)
    _copy_plotly(report_dir(p) / "assets")
    _copy_vendor(report_dir(p) / "assets")
    written = set()
    pages = progress.track(
        data.leaderboard,
        f"report ({lang})",
        "city pages",
        note=lambda row: city_name(data, row["city_code"], lang),
    )
    for row in pages:
        page = out / "city" / f"{row['city_code']}.html"
        _write(page, _render_city(env, p, data, row, lang))
        written.add(page.name)
    for stale in (out / "city").glob("*.html") if (out / "city").exists() else []:
        if stale.name not in written:
            stale.unlink()
    index = out / "index.html"
    _write(index, _render_index(env, p, data, lang))
    return index


# --- the evaluator's cuts: periods, cohorts, benchmarks, attention, money ------------------


def _activity_table(data: ReportData, period_type: str, lang: str) -> Table:
    """Projects entering each stage per period, nationally; the page's script recomputes the
    same columns from the embedded mart rows when a filter is set."""
    L = labels(lang)
    cols = [Col("period_label", L["period"], "text")]
    cols += [Col(f"entered_{s}", L[f"entered_{s}"]) for s in STAGES]
    cols += [
        Col("projects_failed", L["projects_failed"]),
        Col("projects_withdrawn", L["projects_withdrawn"]),
        Col("amount_yi", L["amount_signed_yi"], "yi"),
        Col("application_change_previous", L["application_change_previous"]),
    ]
    if period_type == "quarter":
        cols.append(Col("application_change_year", L["application_change_year"]))
    t = Table(f"activity_{period_type}", cols)
    for a in slices.activity_by_period(data.activity, period_type):
        display = {
            k: fmt_signed(a[k])
            for k in ("application_change_previous", "application_change_year")
            if a[k] is not None
        }
        t.add(a, key=a["period_label"], display=display, dims={"year": slices.year_of(a)})
    return t


def activity_json(data: ReportData) -> str:
    """The activity rows the filters slice, as compact JSON for the page's script: column
    names once, text columns as indexes into a list of their values (``dicts``), then one
    list per row (the filter dimensions the rows carry included)."""
    dims = [
        d
        for d in slices.FILTER_DIMENSIONS
        if d != "year" and data.activity and d in data.activity[0]
    ]
    texts = ["period_type", "period_label", "stage_code", *dims]
    numbers = ["projects_entered", "projects_failed", "projects_withdrawn"]
    dicts: dict[str, dict[str, int]] = {c: {} for c in texts}
    rows = []
    for r in data.activity:
        coded = [dicts[c].setdefault(str(r[c]), len(dicts[c])) for c in texts]
        amount = r["cooperation_amount_yuan"] or 0
        rows.append([*coded, *(int(r[c]) for c in numbers), float(amount)])
    return json.dumps(
        {
            "columns": [*texts, *numbers, "cooperation_amount_yuan"],
            "dicts": {c: list(v) for c, v in dicts.items()},
            "rows": rows,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _filters(data: ReportData, lang: str) -> list[dict]:
    """The filter bar: each dimension the page's rows carry, with its values and names."""
    L = labels(lang)
    values: dict[str, set[str]] = defaultdict(set)
    for r in data.activity:
        for d in slices.FILTER_DIMENSIONS:
            if d == "year":
                values[d].add(slices.year_of(r))
            elif r.get(d) is not None:
                values[d].add(str(r[d]))
    for c in data.cities.values():
        if c["city_code"] in {r["city_code"] for r in data.leaderboard}:
            values["region"].add(c["region"])
            values["province_zh"].add(c["province_zh"])
    province_names = {c["province_zh"]: c["province_en"] for c in data.cities.values()}

    def text(dim: str, v: str) -> str:
        if dim == "region":
            return L.get(f"region_{v}", v)
        if dim == "province_zh":
            return v if lang == "zh" else province_names.get(v, v)
        if dim == "domain_code":
            return L["unknown"] if v == "unknown" else _name_of(data.domains, v, lang)
        if dim == "technology_code":
            return L["unknown"] if v == "unknown" else _name_of(data.technologies, v, lang)
        if dim == "batch_code" and v == "none":
            return L["no_batch"]
        return v

    out = []
    for d in slices.FILTER_DIMENSIONS:
        if values.get(d):
            opts = sorted(((v, text(d, v)) for v in values[d]), key=lambda o: (o[1], o[0]))
            out.append({"dim": d, "label": L[f"dim_{d}"], "options": opts})
    return out


def _cohort_table(data: ReportData, lang: str) -> Table:
    """Reach and conversion per opportunity cohort (quarter); conversions of cohorts younger
    than the maturity rule are shown as "too early" (the mart value stays in data-value)."""
    L = labels(lang)
    cols = [Col("cohort", L["cohort_quarter"], "text")]
    cols += [Col(f"reached_{s}", stage_label(s, lang)) for s in STAGES]
    cols += [Col(f"conversion_{s}", f"→ {stage_label(s, lang)}", "pct") for s in STAGES[1:]]
    t = Table("cohorts", cols)
    for label, rows in sorted(data.funnel_by("cohort_quarter").items()):
        by_stage = {r["stage_code"]: r for r in rows}
        values: dict[str, Any] = {"cohort": label}
        display: dict[str, str] = {}
        early = []
        for s in STAGES:
            r = by_stage.get(s)
            values[f"reached_{s}"] = r["projects_reached"] if r else 0
            if s != STAGES[0]:
                values[f"conversion_{s}"] = r["conversion_from_previous_stage"] if r else None
                if slices.too_early(label, s, data.maturity_days, data.reference_date):
                    display[f"conversion_{s}"] = L["too_early"]
                    early.append(s)
        t.add(
            values,
            key=label,
            display=display,
            dims={"year": label[:4]},
            attrs={"too-early": " ".join(early)},
        )
    return t


def _maturity_note(data: ReportData, lang: str) -> str:
    days = {s: fmt_days(data.maturity_days.get(s)) for s in STAGES[1:]}
    return labels(lang)["maturity_note"].format(**days)


def _benchmark_table(data: ReportData, code: str, lang: str) -> Table:
    L = labels(lang)
    t = Table(
        "benchmarks",
        [
            Col("measure", L["measure"], "text"),
            Col("value", L["city_value"], "text"),
            Col("rank", L["rank"]),
            Col("ranked_cities", L["ranked_cities"]),
            Col("national_median", L["national_median"], "text"),
            Col("regional_median", L["regional_median"], "text"),
            Col("denominator", L["denominator"]),
        ],
        sortable=False,
    )
    for b in slices.benchmarks(data.leaderboard, code):
        fmt = fmt_pct if b["measure"].startswith("conversion") else fmt_days
        display = {
            "measure": L[b["measure"]],
            "value": fmt(b["value"]),
            "national_median": fmt(b["national_median"]),
            "regional_median": fmt(b["regional_median"]),
        }
        if b["rank"] is None:
            display["rank"] = L["not_ranked"]
        t.add(b, key=b["measure"], display=display)
    return t


def _attention_table(data: ReportData, lang: str) -> Table:
    freshness_days = settings().freshness_days

    L = labels(lang)
    t = Table(
        "attention",
        [
            Col("city", L["city"], "text"),
            Col("reasons", L["reasons"], "text"),
            Col("projects_stalled", L["projects_stalled"]),
            Col("last_reported_on", L["last_reported_on"], "date"),
            Col("days_silent", L["days_silent"]),
            Col("capabilities_published", L["capabilities_published"]),
        ],
    )
    last = {r["city_code"]: _as_date(r["last_reported_on"]) for r in data.quality.last_reports}
    for a in slices.attention(data.leaderboard, last, data.reference_date, freshness_days):
        t.add(
            {**a, "city": a["city_code"], "reasons": " ".join(a["reasons"])},
            key=a["city_code"],
            display={
                "city": city_name(data, a["city_code"], lang),
                "reasons": "、".join(L[f"reason_{r}"] for r in a["reasons"])
                if lang == "zh"
                else ", ".join(L[f"reason_{r}"] for r in a["reasons"]),
            },
            hrefs={"city": f"city/{a['city_code']}.html"},
            dims=_city_dims(data, a["city_code"]),
        )
    return t


def _as_date(v: Any) -> date | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    return date.fromisoformat(str(v)[:10])


def _freshness_table(data: ReportData, lang: str) -> Table:
    freshness_days = settings().freshness_days

    L = labels(lang)
    t = Table(
        "freshness",
        [
            Col("city", L["city"], "text"),
            Col("last_reported_on", L["last_reported_on"], "date"),
            Col("days_silent", L["days_silent"]),
            Col("status", L["status_fresh"], "text"),
        ],
    )
    ref = data.reference_date
    for r in data.quality.last_reports:
        last = _as_date(r["last_reported_on"])
        days = (ref - last).days if (ref and last) else None
        fresh = days is not None and days <= freshness_days
        t.add(
            {
                "city": r["city_code"],
                "last_reported_on": last,
                "days_silent": days,
                "status": "fresh" if fresh else "stale",
            },
            key=r["city_code"],
            display={
                "city": city_name(data, r["city_code"], lang),
                "status": L["fresh" if fresh else "stale"],
            },
            dims=_city_dims(data, r["city_code"]),
        )
    return t


def _money_table(data: ReportData, dimension: str, lang: str) -> Table:
    L = labels(lang)
    names = data.domains if dimension == "domain_code" else data.technologies
    t = Table(
        f"money_{dimension.removesuffix('_code')}",
        [
            Col("value", L[f"dim_{dimension}"], "text"),
            Col("year", L["year"], "text"),
            Col("projects", L["projects_signed"]),
            Col("amount_yi", L["amount_signed_yi"], "yi"),
            Col("planned_yi", L["planned_investment_yi"], "yi"),
        ],
    )
    for m in slices.money_by(data.activity, dimension):
        v = m["value"]
        t.add(
            m,
            key=f"{v}:{m['year']}",
            display={"value": L["unknown"] if v == "unknown" else _name_of(names, v, lang)},
            dims={dimension: v, "year": m["year"]},
        )
    return t


def _top_table(name: str, rows: list[Row], who: str, lang: str) -> Table:
    """Suppliers or demand owners by projects reaching application (``who``: the column's
    label key)."""
    L = labels(lang)
    t = Table(
        name,
        [
            Col("name", L[who], "text"),
            Col("projects_reached_application", L["projects_reached_application"]),
            Col("projects", L["projects"]),
            Col("cities", L["cities_count"]),
            Col("cooperation_amount_yi", L["cooperation_amount_yi"], "yi"),
        ],
    )
    for r in rows:
        t.add(
            {**r, "cooperation_amount_yi": float(r["cooperation_amount_yuan"]) / 1e8},
            key=r["name"],
        )
    return t


def _stalled_rule_table(data: ReportData, lang: str) -> Table:
    """Each stage's threshold beside the p90 of the days projects took to leave it."""
    L = labels(lang)
    t = Table(
        "stalled_rule",
        [
            Col("stage", L["stage"], "text"),
            Col("stalled_after_days", L["threshold"]),
            Col("p90_days", L["p90_days"], "days"),
            Col("projects_stalled", L["projects_stalled"]),
        ],
        sortable=False,
    )
    days: dict[str, list[int]] = defaultdict(list)
    for r in data.transitions:
        days[r["from_stage"]].append(int(r["days_taken"]))
    thresholds: dict[str, int] = {}
    counts: dict[str, int] = defaultdict(int)
    for r in data.stalled:
        thresholds[r["current_stage"]] = int(r["stalled_after_days"])
        counts[r["current_stage"]] += 1
    for s in STAGES[:-1]:
        t.add(
            {
                "stage": s,
                "stalled_after_days": thresholds.get(s),
                "p90_days": _p90(days.get(s, [])),
                "projects_stalled": counts.get(s, 0),
            },
            key=s,
            display={"stage": stage_label(s, lang)},
        )
    return t


def _p90(values: list[int]) -> float | None:
    """Linear-interpolated 90th percentile (quantile_cont's definition)."""
    if not values:
        return None
    v = sorted(values)
    pos = 0.9 * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _city_project_table(data: ReportData, code: str, lang: str) -> Table:
    L = labels(lang)
    t = Table(
        "projects",
        [
            Col("project_key", L["project_key"], "text"),
            Col("project_name", L["project"], "text"),
            Col("domain_code", L["domain"], "text"),
            Col("supplier", L["supplier"], "text"),
            Col("current_stage", L["current_stage"], "text"),
            Col("status", L["status"], "text"),
            Col("current_stage_entered_on", L["current_stage_entered_on"], "date"),
            Col("cooperation_amount_yi", L["cooperation_amount_yi"], "yi"),
        ],
    )
    rows = data.of_city("projects", code)
    for r in rows:
        reached = [s for s in STAGES if r[f"{s}_entered_on"] is not None]
        amount = r["cooperation_amount_yuan"]
        t.add(
            {**r, "cooperation_amount_yi": None if amount is None else float(amount) / 1e8},
            key=r["project_key"],
            display={
                "domain_code": _name_of(data.domains, r["domain_code"], lang),
                "current_stage": stage_label(r["current_stage"], lang),
                "status": L.get(f"status_{r['status']}", r["status"]),
            },
            dims={
                "domain_code": r["domain_code"],
                "technology_code": r["technology_code"],
                "stage": " ".join(reached),
            },
        )
    total = sum(1 for _ in rows)
    if total >= CITY_PROJECT_ROWS:
        t.note = L["latest_n_of"].format(n=fmt_int(CITY_PROJECT_ROWS), total="≥" + fmt_int(total))
        t.full_list = _full_list(L, "fct_project_lifecycle", [f"city_code = '{code}'"])
    return t
