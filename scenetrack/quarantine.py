"""What waits in quarantine and why: the operator's to-do list (``scenetrack quarantine``).

A quarantined row is listed once per failing column and reason (``raw.quarantine``); these
views count *rows* (a file and a line), most frequent first, grouped by reason, by value (the
column, the value as written and the reason: the alias or reference to add), by city (the
row's city when it could be told, else the file's) or by file. ``scenetrack replay`` then
loads what a fix made readable.
"""

from __future__ import annotations

import duckdb

from ingestion.printable import printable

BY = ("reason", "value", "city", "file")
DEFAULT_LIMIT = 20

_GROUPS = {
    "reason": ("reason", "reason"),
    "value": ("column_name, raw_value, reason", "column_name, raw_value, reason"),
    "city": ("coalesce(city_code, '(unknown)') as city_code", "1"),
    "file": (
        "source_file_sha256, any_value(source_file_name) as file_name",
        "source_file_sha256",
    ),
}


def waiting(con: duckdb.DuckDBPyConnection, by: str, limit: int | None = DEFAULT_LIMIT) -> dict:
    """Rows waiting in quarantine grouped ``by`` reason, value, city or file, most rows first
    (at most ``limit`` groups; None: all), with the totals."""
    if by not in BY:
        raise ValueError(f"--by must be one of {', '.join(BY)}, not {by!r}")
    columns, group = _GROUPS[by]
    rows = con.execute(
        f"""
        select {columns}, count(distinct (source_file_sha256, source_line)) as rows,
               count(distinct source_file_sha256) as files,
               string_agg(distinct reason, ', ' order by reason) as reasons
        from raw.quarantine
        group by {group}
        order by rows desc, 1
        """
        + (f" limit {int(limit)}" if limit else "")
    ).fetchall()
    names = [d[0] for d in con.description]
    total_rows, total_files = con.execute(
        "select count(distinct (source_file_sha256, source_line)), "
        "count(distinct source_file_sha256) from raw.quarantine"
    ).fetchone()
    return {
        "by": by,
        "rows": total_rows,
        "files": total_files,
        "groups": [dict(zip(names, r, strict=True)) for r in rows],
    }


def summary(w: dict) -> str:
    """The text of ``scenetrack quarantine``: one line per group (file-derived text escaped)."""
    if not w["rows"]:
        return "quarantine: no rows waiting"
    lines = [
        f"quarantine: {w['rows']:,} rows waiting in {w['files']:,} file(s), by {w['by']} "
        "(most rows first):"
    ]
    for g in w["groups"]:
        if w["by"] == "reason":
            what = g["reason"]
        elif w["by"] == "value":
            what = f"{g['column_name']} = {g['raw_value']!r} ({g['reason']})"
        elif w["by"] == "city":
            what = g["city_code"]
        else:
            what = f"{g['source_file_sha256'][:12]} {g['file_name']}"
        reasons = "" if w["by"] in ("reason", "value") else f"  [{g['reasons']}]"
        files = f"{g['files']} file" + ("s" if g["files"] != 1 else "")
        lines.append(f"  {printable(what):<40} {g['rows']:>9,} rows in {files}{reasons}")
    lines.append(
        "after adding the alias or reference a row lacks: scenetrack replay [--reason R] "
        "[--file SHA], then scenetrack run"
    )
    return "\n".join(lines)
