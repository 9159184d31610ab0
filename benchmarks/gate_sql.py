"""The gate's checks as ONE DuckDB query per suite: the reference the GX gate is measured against.

Each suite in ``expectations/*.json`` becomes a single statement::

    with batch as (<meta.batch_query>)
    select count(*), <unexpected count of expectation 1>, <... of expectation 2>, ...
    from batch

where every expectation is one aggregate over the same batch (not-null, unique, in-set,
between, regex, column pairs, compound uniqueness, row count). Suite parameters
(``{"$PARAMETER": ...}``) are resolved exactly as the gate resolves them
(:func:`scenetrack.gate.suite_parameters`), so both sides check the same thing; the outcomes
are compared with the GX run's (``agrees``) so a mistranslation shows up as a mismatch rather
than as a flattering time. An expectation type this module does not know is reported as
``not covered`` (never silently skipped).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from scenetrack.config import EXPECTATIONS_DIR


@dataclass(frozen=True)
class Check:
    suite: str
    expectation: str
    column: str | None
    severity: str
    success: bool | None  # None: not covered
    unexpected: int | None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if not isinstance(value, float) or math.isfinite(value) else "null"
    text = str(value)
    try:
        date.fromisoformat(text)
        return f"date '{text}'"
    except ValueError:
        return "'" + text.replace("'", "''") + "'"


def _resolve(value: Any, params: dict[str, Any]) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _unexpected_sql(kind: str, kw: dict[str, Any], params: dict[str, Any]) -> str | None:
    """SQL for the number of unexpected rows (row count for table expectations), or None."""
    col = _q(kw["column"]) if "column" in kw else None
    if kind == "expect_table_row_count_to_be_between":
        return "count(*)"
    if kind == "expect_column_values_to_not_be_null":
        return f"count(*) filter (where {col} is null)"
    if kind == "expect_column_values_to_be_unique":
        return (
            f"(select coalesce(sum(n), 0) from (select count(*) as n from batch "
            f"where {col} is not null group by {col} having count(*) > 1))"
        )
    if kind == "expect_compound_columns_to_be_unique":
        cols = ", ".join(_q(c) for c in kw["column_list"])
        not_all_null = " or ".join(f"{_q(c)} is not null" for c in kw["column_list"])
        return (
            f"(select coalesce(sum(n), 0) from (select count(*) as n from batch "
            f"where {not_all_null} group by {cols} having count(*) > 1))"
        )
    if kind == "expect_column_values_to_match_regex":
        rx = _literal(str(kw["regex"]))
        text = f"cast({col} as varchar)"
        return f"count(*) filter (where {col} is not null and not regexp_matches({text}, {rx}))"
    if kind == "expect_column_values_to_be_in_set":
        values = _resolve(kw["value_set"], params)
        if not values:
            return f"count(*) filter (where {col} is not null)"
        listed = ", ".join(_literal(v) for v in values)
        return f"count(*) filter (where {col} is not null and {col} not in ({listed}))"
    if kind == "expect_column_values_to_be_between":
        lo, hi = _resolve(kw.get("min_value"), params), _resolve(kw.get("max_value"), params)
        cond = []
        if lo is not None:
            cond.append(f"{col} {'<=' if kw.get('strict_min') else '<'} {_literal(lo)}")
        if hi is not None:
            cond.append(f"{col} {'>=' if kw.get('strict_max') else '>'} {_literal(hi)}")
        if not cond:
            return "0"
        return f"count(*) filter (where {col} is not null and ({' or '.join(cond)}))"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = _q(kw["column_A"]), _q(kw["column_B"])
        op = ">=" if kw.get("or_equal") else ">"
        if kw.get("ignore_row_if", "both_values_are_missing") == "either_value_is_missing":
            scope = f"{a} is not null and {b} is not null"
        else:
            scope = f"({a} is not null or {b} is not null)"
        return f"count(*) filter (where {scope} and not coalesce({a} {op} {b}, false))"
    if kind == "expect_column_pair_values_to_be_equal":
        a, b = _q(kw["column_A"]), _q(kw["column_B"])
        if kw.get("ignore_row_if", "both_values_are_missing") == "either_value_is_missing":
            scope = f"{a} is not null and {b} is not null"
        else:
            scope = f"({a} is not null or {b} is not null)"
        return f"count(*) filter (where {scope} and {a} is distinct from {b})"
    return None


def suite_query(batch_query: str, expectations: list[dict], params: dict[str, Any]) -> str:
    """The one statement computing every covered expectation of a suite."""
    aggs = ["count(*) as __rows"]
    for i, e in enumerate(expectations):
        sql = _unexpected_sql(e["type"], e["kwargs"], params)
        if sql is not None:
            aggs.append(f"{sql} as e{i}")
            if "column" in e["kwargs"]:
                aggs.append(f"count({_q(e['kwargs']['column'])}) as n{i}")
    return f"with batch as ({batch_query}) select {', '.join(aggs)} from batch"


def _success(e: dict, row: dict[str, Any], params: dict[str, Any], i: int) -> bool:
    kind, kw = e["type"], e["kwargs"]
    bad = int(row[f"e{i}"])
    if kind == "expect_table_row_count_to_be_between":
        lo, hi = _resolve(kw.get("min_value"), params), _resolve(kw.get("max_value"), params)
        return (lo is None or bad >= lo) and (hi is None or bad <= hi)
    mostly = kw.get("mostly")
    if mostly is None or bad == 0:
        return bad == 0
    scope = row.get(f"n{i}", row["__rows"])
    if kind == "expect_column_values_to_not_be_null":
        scope = row["__rows"]
    return scope == 0 or (1 - bad / scope) >= float(mostly)


def _column_of(kw: dict[str, Any]) -> str | None:
    if kw.get("column"):
        return str(kw["column"])
    if kw.get("column_A"):
        return f"{kw['column_A']}, {kw['column_B']}"
    if kw.get("column_list"):
        return ", ".join(map(str, kw["column_list"]))
    return None


def run_gate_sql(
    work_db: Path, run_date: date | None = None, suites_dir: Path = EXPECTATIONS_DIR
) -> list[Check]:
    """Every suite as one query over a read-only connection; one :class:`Check` per expectation."""
    from scenetrack.gate import load_suite_specs, suite_parameters

    run_date = run_date or date.today()
    specs = load_suite_specs(suites_dir)
    con = duckdb.connect(str(work_db), read_only=True)
    checks: list[Check] = []
    try:
        params = suite_parameters(run_date)
        for spec in specs:
            exps = list(spec.expectations)
            cur = con.execute(suite_query(spec.batch_query, exps, params))
            names = [d[0] for d in cur.description]
            row = dict(zip(names, cur.fetchone(), strict=True))
            for i, e in enumerate(exps):
                covered = f"e{i}" in row
                checks.append(
                    Check(
                        suite=spec.name,
                        expectation=e["type"],
                        column=_column_of(e["kwargs"]),
                        severity=str(e["meta"]["severity"]),
                        success=_success(e, row, params, i) if covered else None,
                        unexpected=int(row[f"e{i}"]) if covered else None,
                    )
                )
    finally:
        con.close()
    return checks


def gx_outcomes(work_db: Path, run_id: str) -> list[tuple[str, str, str | None, bool]]:
    """The GX gate's stored outcomes of one run (guards excluded), for :func:`compare`."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        rows = con.execute(
            "select suite, expectation, column_name, success from audit.gate_results "
            "where run_id = ? and expectation not like 'gate_guard%' "
            "and expectation <> 'batch_query'",
            [run_id],
        ).fetchall()
    finally:
        con.close()
    return [(s, e, c, bool(ok)) for s, e, c, ok in rows]


def compare(checks: list[Check], gx: list[tuple[str, str, str | None, bool]]) -> dict[str, Any]:
    """How far the SQL outcomes agree with GX's (multiset of (suite, type, column, success))."""
    from collections import Counter

    ours = Counter(
        (c.suite, c.expectation, c.column, c.success) for c in checks if c.success is not None
    )
    theirs = Counter(gx)
    covered = Counter((s, e, c) for s, e, c, _ in ours.elements())
    theirs_covered = Counter({k: v for k, v in theirs.items() if covered[(k[0], k[1], k[2])]})
    mismatched = sorted(map(str, (ours - theirs_covered) + (theirs_covered - ours)))
    return {
        "expectations": len(checks),
        "covered": sum(1 for c in checks if c.success is not None),
        "not_covered": sorted({f"{c.suite}:{c.expectation}" for c in checks if c.success is None}),
        "failed_in_sql": sum(1 for c in checks if c.success is False),
        "mismatches_with_gx": mismatched[:20],
        "agrees": not mismatched,
    }


if __name__ == "__main__":  # pragma: no cover - manual use: python -m benchmarks.gate_sql DB
    import sys

    for c in run_gate_sql(Path(sys.argv[1])):
        print(json.dumps(c.__dict__, ensure_ascii=False))
