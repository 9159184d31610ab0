"""The gate's runbook, one entry per check, written from the suites themselves.

``expectations/RUNBOOK.md`` is generated (``python -m scenetrack.runbook``; a test keeps it
current): for every expectation of every suite, what it checks, its severity, why it exists
(``meta.notes``) and what to do when it fails, which is ``meta.runbook`` where a suite says it
and otherwise the advice for its kind of check (:data:`ADVICE`). The gate's summary points at
the section of the suite that failed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from scenetrack.config import EXPECTATIONS_DIR
from scenetrack.gate import SuiteSpec, load_suite_specs

RUNBOOK = EXPECTATIONS_DIR / "RUNBOOK.md"

HOLDBACK = (
    " If only some cities' rows fail it, the gate holds back those cities' newest submissions "
    "and publishes everyone else (see 'Per-city holdback' in expectations/README.md): release "
    "them with `scenetrack release --city <code>` once the city has sent its correction."
)

ADVICE: dict[str, str] = {
    "volume": (
        "The table lost more of the published version's rows than SCENETRACK_VOLUME_MAX_DROP "
        "allows (a silent half-file, a broken join, a hold that took most of the data). The "
        "observed value names the rows now, the floor and the baseline. Find where the rows "
        "went (compare the work database's mart with the published one). If the drop is real "
        "and wanted (a city's data withdrawn on purpose), run once with a higher knob: "
        "`SCENETRACK_VOLUME_MAX_DROP=0.9 scenetrack run`. This check belongs to no city: it "
        "always blocks the whole publish."
    ),
    "row_count": (
        "The model is empty: did the build load anything? Check `scenetrack status` (the "
        "ledger) and the dbt log under <home>/logs/."
    ),
    "unique": (
        "A key appears twice: broken deduplication or a join fan-out in dbt (often a "
        "duplicate in a seed such as ref_cities). Query the model for the sample keys, fix "
        "the SQL or the seed."
    ),
    "not_null": (
        "A value the model always fills is empty: a value got past the intake's mapping or "
        "the model lost a join. Query the sample keys; fix the model or the alias seed."
    ),
    "in_set_city": (
        "A city code not in the city reference: add the city to ref_cities (see "
        "dbt_project/seeds/README_ref_cities.md) or fix the name resolution."
    ),
    "in_set": (
        "A code outside the allowed set: if it is a real synonym, add it to "
        "dbt_project/seeds/value_aliases.csv; if a model emits it, fix the model. Do not "
        "widen the set unless the domain really changed."
    ),
    "regex": (
        "A value in the wrong format (e.g. a city code that is not six digits): fix its source."
    ),
    "dates": (
        "A date before 2015 or after the as-of date: a typo in a submission (2205 for 2025) or "
        "a swapped column. Ask the city for a correction file (a later reported_at wins)."
    ),
    "amount": (
        "An amount outside the believable range: a unit error (万元 written as 元, or 亿元). "
        "Ask the city for a correction file; check the amount parser if many rows are hit."
    ),
    "ratio": (
        "A conversion or share outside 0..1: a wrong denominator or a fan-out in the mart SQL."
    ),
    "between": "A value outside its range: query the sample keys and fix the source or the SQL.",
    "pair_order": (
        "Stage dates out of order (a warning): the project stays in the marts, flagged "
        "has_stage_date_regression. Send the sample to the city to confirm or correct."
    ),
    "pair_equal": (
        "Two figures that must agree do not (the scorecard against the lifecycle fact): a "
        "project lost or counted twice. Compare both sides for the sample's city."
    ),
    "guard": "The gate itself, not the data: do not publish; reproduce with tests/gate.",
    "other": "Read the check's notes and the sample in Data Docs; fix the source or the model.",
}


def _kind(expectation: dict[str, Any]) -> str:
    kind, kwargs = expectation["type"], expectation["kwargs"]
    column = str(kwargs.get("column") or "")
    if "row_count" in kind:
        bound = kwargs.get("min_value")
        volume = isinstance(bound, dict) and "min_rows_" in str(bound.get("$PARAMETER"))
        return "volume" if volume else "row_count"
    if kind.endswith("_to_be_unique"):
        return "unique"
    if kind.endswith("_to_not_be_null"):
        return "not_null"
    if kind.endswith("_to_be_in_set"):
        return "in_set_city" if column == "city_code" else "in_set"
    if kind.endswith("_to_match_regex"):
        return "regex"
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        return "pair_order"
    if kind == "expect_column_pair_values_to_be_equal":
        return "pair_equal"
    if kind.endswith("_to_be_between"):
        if column.endswith(("_on", "_date", "_at")):
            return "dates"
        if "amount" in column:
            return "amount"
        if column.startswith(("conversion_", "share_")):
            return "ratio"
        return "between"
    return "other"


def what_to_do(spec: SuiteSpec, expectation: dict[str, Any]) -> str:
    """The advice for one check: its own ``meta.runbook``, else its kind's, plus holdback for
    checks whose rows belong to cities."""
    meta = expectation.get("meta") or {}
    kind = _kind(expectation)
    advice = meta.get("runbook") or ADVICE[kind]
    attributable = spec.meta.get("city_column") and kind not in ("volume", "row_count")
    if attributable and meta.get("severity") == "error":
        advice += HOLDBACK
    return advice


def anchor(suite: str) -> str:
    """The Markdown anchor of a suite's section (GitHub's rule: lower-case, dashes)."""
    return re.sub(r"[^a-z0-9_-]", "", suite.lower().replace(" ", "-"))


def _bound(value: Any) -> str:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return f"`{value['$PARAMETER']}`"
    return f"`{value}`"


def _checks(e: dict[str, Any]) -> str:
    kw = e["kwargs"]
    target = (
        kw.get("column")
        or ", ".join(str(kw[k]) for k in ("column_A", "column_B") if kw.get(k))
        or ", ".join(map(str, kw.get("column_list") or []))
    )
    parts = [f"`{e['type']}`" + (f" on `{target}`" if target else "")]
    bounds = [
        f"{k.removesuffix('_value')} {_bound(kw[k])}" for k in ("min_value", "max_value") if k in kw
    ]
    if bounds:
        parts.append("(" + ", ".join(bounds) + ")")
    return " ".join(parts)


def render(specs: list[SuiteSpec] | None = None) -> str:
    """RUNBOOK.md: one section per suite, one entry per check."""
    specs = specs if specs is not None else load_suite_specs()
    total = sum(len(s.expectations) for s in specs)
    lines = [
        "# Gate runbook: every check, why it exists, what to do when it fails",
        "",
        "Generated from `expectations/*.json` by `python -m scenetrack.runbook` (do not edit; a "
        "test keeps it current). How the gate works and how to read its summary: "
        "[README.md](README.md).",
        "",
        f"{len(specs)} suites, {total} checks. Besides these, every suite gets the gate's own "
        "`batch_query` and `gate_guard_gx_saw_every_row` checks: " + ADVICE["guard"],
        "",
    ]
    for spec in specs:
        lines += [f"## {spec.name}", ""]
        if spec.meta.get("description"):
            lines += [str(spec.meta["description"]), ""]
        city = spec.meta.get("city_column")
        lines += [
            f"Batch: `{' '.join(spec.batch_query.split())}`"
            + (f"; failing rows are put on their city (`{city}`)." if city else "."),
            "",
        ]
        for i, e in enumerate(spec.expectations, start=1):
            meta = e.get("meta") or {}
            lines += [
                f"{i}. **{meta['severity']}** {_checks(e)}",
                f"   - why: {meta.get('notes') or '(no notes)'}",
                f"   - what to do: {what_to_do(spec, e)}",
            ]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write (default) or ``--check`` RUNBOOK.md."""
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        current = RUNBOOK.read_text(encoding="utf-8") if RUNBOOK.exists() else ""
        if current != text:
            print(f"{RUNBOOK} is out of date: python -m scenetrack.runbook", file=sys.stderr)
            return 1
        return 0
    Path(RUNBOOK).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
