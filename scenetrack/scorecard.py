"""The city scorecard as evaluators read it, from the published warehouse only."""

from __future__ import annotations

import duckdb

from scenetrack.config import Paths

COLUMNS = (
    ("city_name_zh", "城市", "{}"),
    ("city_name_en", "City", "{}"),
    ("opportunities_published", "机会", "{:,}"),
    ("capabilities_published", "能力", "{:,}"),
    ("projects_reached_validation", "验证", "{:,}"),
    ("projects_reached_application", "应用", "{:,}"),
    ("projects_reached_scale_up", "推广", "{:,}"),
    ("projects_failed", "失败", "{:,}"),
    ("projects_withdrawn", "撤回", "{:,}"),
    ("conversion_validation_to_application", "验证→应用", "{:.0%}"),
    ("cooperation_amount_yi", "金额(亿元)", "{:,.2f}"),
    ("median_days_opportunity_to_validation", "机会→验证(天)", "{:.0f}"),
)


def top_cities(p: Paths, limit: int = 15) -> list[dict]:
    """All-time scorecard rows of the cities with the most cooperation, read-only."""
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        cols = ", ".join(c for c, _, _ in COLUMNS)
        cur = con.execute(
            f"select {cols} from main.mart_city_scorecard where period_type = 'all' "
            "order by projects_reached_application desc, city_name_en limit ?",
            [limit],
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def render(rows: list[dict]) -> str:
    """A plain-text table (CJK-aware widths) for the terminal."""

    def width(s: str) -> int:
        return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)

    def fmt(v, f: str) -> str:
        return "-" if v is None else f.format(float(v) if "%" in f or "f}" in f else v)

    table = [[h for _, h, _ in COLUMNS]] + [[fmt(r[c], f) for c, _, f in COLUMNS] for r in rows]
    widths = [max(width(row[i]) for row in table) for i in range(len(COLUMNS))]
    lines = []
    for row in table:
        cells = [
            cell + " " * (w - width(cell)) if i < 2 else " " * (w - width(cell)) + cell
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)
