"""The evaluator's cuts of the published marts: periods (activity), benchmarks, maturity.

Everything here is a sum, a ratio of sums, a rank or a median of mart values, so the browser
test can recompute each figure with one SQL statement over the published file. Filters are
generic over :data:`FILTER_DIMENSIONS`: a dimension is offered when the rows carry its column,
so the opportunity-list batch (``batch_code``, once the marts carry it) plugs in unchanged.
"""

from __future__ import annotations

import statistics
import sys
from datetime import date, timedelta
from typing import Any

from scenetrack.report.labels import STAGES

Row = dict[str, Any]

FILTER_DIMENSIONS: tuple[str, ...] = (
    "region",
    "province_zh",
    "domain_code",
    "technology_code",
    "year",
    "batch_code",
)
"""Row attributes the filter bar can slice by, in the bar's order (those present are shown)."""


def __getattr__(name: str) -> Any:
    """``RANK_MIN_PROJECTS`` (``SCENETRACK_RANK_MIN_PROJECTS``, read when asked): a city's rates
    are ranked (and count in the national and regional medians) only when it published at least
    this many opportunities: 西宁 first on 26 opportunities ranks noise. Setting the attribute
    (a test) overrides the environment."""
    if name == "RANK_MIN_PROJECTS":
        from scenetrack.config import settings

        return settings().rank_min_projects
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BENCHMARKS: tuple[tuple[str, str, bool], ...] = (
    # (scorecard column, denominator column, higher is better)
    ("conversion_opportunity_to_validation", "opportunities_published", True),
    ("conversion_validation_to_application", "projects_reached_validation", True),
    ("conversion_application_to_scale_up", "projects_reached_application", True),
    ("median_days_opportunity_to_validation", "projects_reached_validation", False),
    ("median_days_validation_to_application", "projects_reached_application", False),
    ("median_days_application_to_scale_up", "projects_reached_scale_up", False),
)


def year_of(row: Row) -> str:
    """The year a period row belongs to ('2025' of '2025-Q2')."""
    return str(row["period_label"])[:4]


def activity_by_period(rows: list[Row], period_type: str) -> list[Row]:
    """Activity summed over cities, domains and technologies: one row per period, with the
    projects entering each stage, failures, withdrawals, the money signed (application
    rows), and the change of applications against the previous period and the same period a
    year before (None when that period has no row)."""
    acc: dict[str, Row] = {}
    for r in rows:
        if r["period_type"] != period_type:
            continue
        a = acc.setdefault(
            r["period_label"],
            {"period_label": r["period_label"], "period_start": r["period_start"]}
            | {f"entered_{s}": 0 for s in STAGES}
            | {"projects_failed": 0, "projects_withdrawn": 0, "amount_yuan": 0},
        )
        a[f"entered_{r['stage_code']}"] += int(r["projects_entered"])
        a["projects_failed"] += int(r["projects_failed"])
        a["projects_withdrawn"] += int(r["projects_withdrawn"])
        if r["stage_code"] == "application":
            a["amount_yuan"] += r["cooperation_amount_yuan"] or 0
    out = sorted(acc.values(), key=lambda a: a["period_start"])
    by_start = {a["period_start"]: a for a in out}
    for a in out:
        a["amount_yi"] = float(a.pop("amount_yuan")) / 1e8
        start: date = a["period_start"]
        if period_type == "quarter":
            prev = _shift_months(start, -3)
        else:
            prev = start.replace(year=start.year - 1)
        a["application_change_previous"] = _diff(a, by_start.get(prev))
        a["application_change_year"] = _diff(a, by_start.get(start.replace(year=start.year - 1)))
    return out


def _shift_months(d: date, months: int) -> date:
    m = d.year * 12 + d.month - 1 + months
    return date(m // 12, m % 12 + 1, 1)


def _diff(a: Row, b: Row | None) -> int | None:
    return None if b is None else a["entered_application"] - b["entered_application"]


def cohort_quarter_end(label: str) -> date:
    """Last day of cohort quarter '2025-Q2'."""
    year, q = int(label[:4]), int(label[-1])
    return _shift_months(date(year, 3 * q - 2, 1), 3) - timedelta(days=1)


def too_early(label: str, stage: str, maturity_days: dict[str, float], as_of: date | None) -> bool:
    """The maturity rule: cohort quarter ``label``'s conversion into ``stage`` is too early
    to judge while fewer days than the p90 of publication-to-``stage`` (among projects that
    reached it, nationally) have passed since the quarter ended."""
    days = maturity_days.get(stage)
    if as_of is None or days is None:
        return False
    return (as_of - cohort_quarter_end(label)).days < days


def benchmarks(board: list[Row], code: str, min_projects: int | None = None) -> list[Row]:
    """For city ``code``: each headline rate and duration, the city's value, its rank among
    the cities with at least ``min_projects`` in the measure's denominator (higher rates and
    shorter durations first), how many were ranked, and the national and regional medians
    over those cities."""
    if min_projects is None:
        min_projects = sys.modules[__name__].RANK_MIN_PROJECTS
    city = next(r for r in board if r["city_code"] == code)
    out = []
    for col, denominator, higher_better in BENCHMARKS:
        eligible = [
            r for r in board if r[col] is not None and (r[denominator] or 0) >= min_projects
        ]
        values = sorted((float(r[col]) for r in eligible), reverse=higher_better)
        regional = [float(r[col]) for r in eligible if r["region"] == city["region"]]
        ranked = city in eligible
        out.append(
            {
                "measure": col,
                "value": city[col],
                "rank": values.index(float(city[col])) + 1 if ranked else None,
                "ranked_cities": len(values),
                "national_median": statistics.median(values) if values else None,
                "regional_median": statistics.median(regional) if regional else None,
                "denominator": city[denominator],
            }
        )
    return out


def attention(
    board: list[Row], last_reports: dict[str, date], as_of: date | None, silent_after: int
) -> list[Row]:
    """Cities needing attention: stalled projects, no report for ``silent_after`` days (as
    of the evaluation's date), no capability listed; most reasons first."""
    out = []
    for r in board:
        last = last_reports.get(r["city_code"])
        silent = (as_of - last).days if (as_of and last) else None
        reasons = []
        if r["projects_stalled"]:
            reasons.append("stalled")
        if silent is not None and silent > silent_after:
            reasons.append("silent")
        if not r["capabilities_published"]:
            reasons.append("no_capabilities")
        if reasons:
            out.append(
                {
                    "city_code": r["city_code"],
                    "region": r["region"],
                    "projects_stalled": r["projects_stalled"],
                    "last_reported_on": last,
                    "days_silent": silent,
                    "capabilities_published": r["capabilities_published"],
                    "reasons": reasons,
                }
            )
    return sorted(out, key=lambda a: (-len(a["reasons"]), -a["projects_stalled"], a["city_code"]))


def money_by(rows: list[Row], dimension: str) -> list[Row]:
    """Per ``dimension`` value and year: the money signed (application rows of the activity,
    by the year projects reached application) beside the planned investment the opportunity
    lists stated (opportunity rows, by the year the opportunities were published)."""
    acc: dict[tuple[str, str], Row] = {}
    for r in rows:
        if r["period_type"] != "year" or r["stage_code"] not in ("opportunity", "application"):
            continue
        a = acc.setdefault(
            (r[dimension], r["period_label"]),
            {
                "value": r[dimension],
                "year": r["period_label"],
                "projects": 0,
                "amount_yuan": 0,
                "planned_yuan": 0,
            },
        )
        if r["stage_code"] == "application":
            a["projects"] += int(r["projects_entered"])
            a["amount_yuan"] += r["cooperation_amount_yuan"] or 0
        else:
            a["planned_yuan"] += r.get("planned_investment_yuan") or 0
    out = []
    for a in acc.values():
        if not a["projects"] and not a["planned_yuan"]:
            continue  # a year with opportunities but neither money signed nor planned
        a["amount_yi"] = float(a.pop("amount_yuan")) / 1e8
        a["planned_yi"] = float(a.pop("planned_yuan")) / 1e8
        out.append(a)
    return sorted(out, key=lambda a: (a["year"], -a["amount_yi"], a["value"]))
