"""Plotly figures of the report, built from mart rows only.

Each figure is serialised to Plotly JSON and embedded in the page inside a
``<script type="application/json" data-chart="...">`` block; a few lines of inline JS hand it
to ``Plotly.newPlot``. Plotly.js itself is one local file (``assets/plotly.min.js``, copied from
the plotly wheel), so the pages open from disk with no network. Values are passed as plain
Python lists (never numpy arrays, which plotly would base64-encode), so the numbers in the page
are readable and testable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from scenetrack.report.data import ReportData, Row
from scenetrack.report.labels import STAGES, labels, stage_label

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
STAGE_COLOURS = {
    "opportunity": "#4C78A8",
    "validation": "#F58518",
    "application": "#54A24B",
    "scale_up": "#B279A2",
}
FAILED_COLOUR, WITHDRAWN_COLOUR = "#E45756", "#9D9DA0"
COLORWAY = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#72B7B2", "#EECA3B", "#FF9DA6"]


@dataclass(frozen=True)
class Chart:
    """One chart: its id in the page, its heading and its Plotly JSON."""

    key: str
    title: str
    spec_json: str
    # a click on a mark drills down: "leaderboard" (order the city leaderboard by the stage
    # clicked) or "stage" (filter the page's project list to the stage clicked)
    drill: str | None = None


def plotly_js_path() -> Path:
    """plotly.min.js shipped inside the plotly wheel (no CDN, no network)."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


def _chart(key: str, title: str, fig: go.Figure, height: int = 380) -> Chart:
    # The empty "none" template plus a few explicit settings: the stock templates would be
    # deep-copied into every figure (slow, and ~10 kB of JSON per chart).
    fig.update_layout(
        template="none",
        colorway=COLORWAY,
        paper_bgcolor="#fff",
        plot_bgcolor="#fff",
        xaxis={"gridcolor": "#eef1f4", "automargin": True},
        yaxis={"gridcolor": "#eef1f4", "zerolinecolor": "#d9e2ec", "automargin": True},
        height=height,
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        font={"family": FONT, "size": 13},
        legend={"orientation": "h", "y": -0.2},
    )
    return Chart(key, title, pio.to_json(fig, validate=True))


def _funnel(key: str, title: str, rows: list[Row], lang: str, drill: str | None = None) -> Chart:
    rows = sorted(rows, key=lambda r: r["stage_order"])
    fig = go.Figure(
        go.Funnel(
            y=[stage_label(r["stage_code"], lang) for r in rows],
            x=[int(r["projects_reached"]) for r in rows],
            textinfo="value+percent initial",
            marker={"color": [STAGE_COLOURS.get(r["stage_code"], "#888") for r in rows]},
            customdata=[r["stage_code"] for r in rows],
        )
    )
    fig.update_layout(margin={"l": 100})
    return replace(_chart(key, title, fig, height=320), drill=drill)


def _grouped_by_stage(
    groups: dict[str, list[Row]], names: dict[str, str], lang: str
) -> list[go.Bar]:
    traces = []
    for value, rows in groups.items():
        by_stage = {r["stage_code"]: int(r["projects_reached"]) for r in rows}
        traces.append(
            go.Bar(
                name=names.get(value, value),
                x=[stage_label(s, lang) for s in STAGES],
                y=[by_stage.get(s, 0) for s in STAGES],
            )
        )
    return traces


def _durations(key: str, title: str, transitions: list[Row], lang: str) -> Chart:
    by_kind: dict[tuple[str, str], list[int]] = defaultdict(list)
    for t in transitions:
        by_kind[(t["from_stage"], t["to_stage"])].append(int(t["days_taken"]))
    order = {s: i for i, s in enumerate(STAGES)}
    fig = go.Figure()
    for (a, b), days in sorted(
        by_kind.items(), key=lambda kv: (order.get(kv[0][0], 9), order.get(kv[0][1], 9))
    ):
        fig.add_trace(
            go.Box(
                name=f"{stage_label(a, lang)} → {stage_label(b, lang)}",
                y=days,
                boxpoints=False,
                marker={"color": STAGE_COLOURS.get(b, "#888")},
            )
        )
    fig.update_layout(yaxis_title=labels(lang)["days_taken"], showlegend=False)
    return _chart(key, title, fig)


def _failures_by_stage(key: str, title: str, rows: list[Row], lang: str) -> Chart:
    L = labels(lang)
    rows = sorted(rows, key=lambda r: r["stage_order"])
    x = [stage_label(r["stage_code"], lang) for r in rows]
    fig = go.Figure(
        [
            go.Bar(
                name=L["projects_failed_here"],
                x=x,
                y=[int(r["projects_failed_here"]) for r in rows],
                marker={"color": FAILED_COLOUR},
            ),
            go.Bar(
                name=L["projects_withdrawn_here"],
                x=x,
                y=[int(r["projects_withdrawn_here"]) for r in rows],
                marker={"color": WITHDRAWN_COLOUR},
            ),
        ]
    )
    fig.update_layout(barmode="stack")
    return _chart(key, title, fig, height=320)


def city_name(data: ReportData, code: str | None, lang: str) -> str:
    """A city's name in ``lang`` from dim_city (the code when it is not in the dimension)."""
    if code is None:
        return labels(lang)["unattributed"]
    c = data.cities.get(code)
    if not c:
        return code
    return c["name_zh"] if lang == "zh" else c["name_en"]


def national_charts(data: ReportData, lang: str) -> dict[str, Chart]:
    """The charts of the national page, by key."""
    L = labels(lang)
    name_key = "name_zh" if lang == "zh" else "name_en"
    charts: dict[str, Chart] = {}
    national = data.funnel_by("national").get("all", [])
    charts["funnel_national"] = _funnel(
        "funnel_national", L["funnel_national"], national, lang, drill="leaderboard"
    )

    domains = data.funnel_by("domain")
    names = {k: v[name_key] for k, v in data.domains.items()} | {"unknown": L["unknown"]}
    ordered = {k: domains[k] for k in [*data.domains, "unknown"] if k in domains}
    fig = go.Figure(_grouped_by_stage(ordered, names, lang))
    fig.update_layout(barmode="group", yaxis_title=L["projects_reached"])
    charts["funnel_by_domain"] = _chart("funnel_by_domain", L["funnel_by_domain"], fig)

    cohorts = data.funnel_by("cohort_quarter")
    quarters = sorted(cohorts)
    fig = go.Figure()
    for s in STAGES:
        fig.add_trace(
            go.Bar(
                name=stage_label(s, lang),
                x=quarters,
                y=[
                    next(
                        (int(r["projects_reached"]) for r in cohorts[q] if r["stage_code"] == s), 0
                    )
                    for q in quarters
                ],
                marker={"color": STAGE_COLOURS[s]},
            )
        )
    fig.update_layout(barmode="group", yaxis_title=L["projects_reached"])
    charts["funnel_by_cohort"] = _chart("funnel_by_cohort", L["funnel_by_cohort"], fig)

    charts["durations"] = _durations("durations", L["durations"], data.transitions, lang)
    charts["failures_by_stage"] = _failures_by_stage(
        "failures_by_stage", L["failures_by_stage"], national, lang
    )

    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in data.stalled:
        counts[r["city_code"]][r["current_stage"]] += 1
    cities = sorted(counts, key=lambda c: -sum(counts[c].values()))
    fig = go.Figure(
        [
            go.Bar(
                name=stage_label(s, lang),
                x=[city_name(data, c, lang) for c in cities],
                y=[counts[c].get(s, 0) for c in cities],
                marker={"color": STAGE_COLOURS[s]},
            )
            for s in STAGES
            if any(counts[c].get(s) for c in cities)
        ]
    )
    fig.update_layout(barmode="stack", yaxis_title=L["projects_stalled"])
    charts["stalled_by_city"] = _chart("stalled_by_city", L["stalled_by_city"], fig)
    return charts


def city_charts(data: ReportData, code: str, lang: str) -> dict[str, Chart]:
    """The charts of one city's page, by key."""
    L = labels(lang)
    charts: dict[str, Chart] = {}
    rows = data.funnel_by("city").get(code, [])
    charts["city_funnel"] = _funnel("city_funnel", L["city_funnel"], rows, lang, drill="stage")

    quarters = data.of_city("quarterly", code)
    x = [r["period_label"] for r in quarters]
    fig = go.Figure()
    for col, stage in (
        ("opportunities_published", "opportunity"),
        ("projects_reached_validation", "validation"),
        ("projects_reached_application", "application"),
        ("projects_reached_scale_up", "scale_up"),
    ):
        fig.add_trace(
            go.Bar(
                name=L[col],
                x=x,
                y=[int(r[col]) for r in quarters],
                marker={"color": STAGE_COLOURS[stage]},
            )
        )
    fig.update_layout(barmode="group", yaxis_title=L["projects_reached"])
    charts["city_quarterly"] = _chart("city_quarterly", L["by_quarter"], fig)

    transitions = data.of_city("transitions", code)
    charts["city_durations"] = _durations("city_durations", L["city_durations"], transitions, lang)

    sd = data.of_city("supply_demand", code)
    name_key = "name_zh" if lang == "zh" else "name_en"
    tech = [
        data.technologies.get(r["technology_code"], {}).get(name_key) or r["technology_code"]
        for r in sd
    ]
    fig = go.Figure(
        [
            go.Bar(
                name=L["opportunities_published"],
                x=tech,
                y=[int(r["opportunities_published"]) for r in sd],
                marker={"color": STAGE_COLOURS["opportunity"]},
            ),
            go.Bar(
                name=L["capabilities_published"],
                x=tech,
                y=[int(r["capabilities_published"]) for r in sd],
                marker={"color": "#72B7B2"},
            ),
            go.Bar(
                name=L["opportunities_matched"],
                x=tech,
                y=[int(r["opportunities_matched"]) for r in sd],
                marker={"color": STAGE_COLOURS["validation"]},
            ),
        ]
    )
    fig.update_layout(barmode="group")
    charts["supply_demand"] = _chart("supply_demand", L["supply_demand"], fig)
    return charts
