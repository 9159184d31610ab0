"""The submission contract given to cities, rendered from the data the intake itself uses.

``python -m ingestion.contract`` rewrites ``docs/submission_contract.md`` from
``header_aliases.csv``, the ``value_aliases`` and ``ref_cities`` seeds, the layouts, the limits,
the list rules (ingestion.normalise, ingestion.context) and the reason codes; a test checks the
checked-in document is up to date.

The prose lives in the Jinja2 template ``ingestion/templates/submission_contract.md.j2``
(package data), so a writer edits the text without touching code; this module only computes
the values the template fills in (limits, units, the layouts' rows and accepted header names,
the value and city aliases, the list rules' words, the reason codes). The template also words
the cells: a column's kind and whether it is required, an alias's source.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ingestion import normalise as n
from ingestion.headers import MAX_HEADER_SEARCH_ROWS, PERSONAL, UNIT_MULTIPLIERS, aliases
from ingestion.layouts import LAYOUTS, Layout
from ingestion.locations import project_dir, seeds_dir
from ingestion.reading import Limits
from ingestion.receipts import FILE_REASONS, ROW_REASONS
from ingestion.reference import CITY_ALIASES_FILE, technology_separators
from ingestion.sql import MAX_VALUE_CHARS

DOC_PATH = project_dir() / "docs" / "submission_contract.md"
TEMPLATE = "submission_contract.md.j2"

# The value sections: kind of value_aliases.csv -> (reference seed, its code column), or None
# when no seed names the codes. The template gives each its title and order.
VALUE_REFERENCES: dict[str, tuple[str, str] | None] = {
    "stage": ("lifecycle_stages.csv", "stage_code"),
    "event_type": None,
    "end_type": None,
    "domain": ("ref_domains.csv", "domain_code"),
    "technology": ("ref_technologies.csv", "technology_code"),
}


@dataclass(frozen=True)
class Row:
    """One column of a layout as the contract lists it.

    ``required``: ``yes``; ``inferred`` (required, but the file's context may give it);
    ``one_stage_date`` (a register's stage dates: one of them); ``one_of`` (one of the
    layout's ``required_any``); or empty. ``derived``: the id a published list derives when
    the row leaves it empty. ``names``: the header names accepted, the canonical one first.
    """

    name: str
    kind: str
    required: str
    derived: bool
    names: list[str]


@dataclass(frozen=True)
class Written:
    """One way of writing a value: the alias and where it comes from (``platform`` or a
    ``source`` of value_aliases.csv)."""

    alias: str
    source: str


@dataclass(frozen=True)
class Value:
    """A code of a value section, its reference name (Chinese, English) if any, its aliases."""

    code: str
    name: tuple[str, str] | None
    written: list[Written]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _rows(layout: Layout) -> list[Row]:
    rows = []
    for col in layout.columns:
        names = [
            a.alias for a in aliases() if a.column == col.name and a.layout in ("all", layout.name)
        ]
        if col.name not in names:
            names.insert(0, col.name)
        if col.required:
            required = "inferred" if col.name in layout.inferred else "yes"
        elif col.name in layout.required_any:
            required = "one_stage_date" if layout.name == "register" else "one_of"
        else:
            required = ""
        derived = col.name in layout.derived_id[:1]
        rows.append(Row(col.name, col.kind, required, derived, names))
    return rows


def _values(kind: str) -> list[Value]:
    ref = VALUE_REFERENCES[kind]
    reference = _read(seeds_dir() / ref[0]) if ref else []
    names = {r[ref[1]]: (r["name_zh"], r["name_en"]) for r in reference} if ref else {}
    written: dict[str, list[Written]] = {}
    for r in _read(seeds_dir() / "value_aliases.csv"):
        if r["kind"] == kind:
            source = r.get("source") or "platform"
            written.setdefault(r["code"], []).append(Written(r["alias"], source))
    return [Value(code, names.get(code), ws) for code, ws in written.items()]


def _env() -> jinja2.Environment:
    """Jinja2 over ``ingestion/templates`` (package data). Markdown, so nothing is escaped;
    an unknown name fails the rendering instead of leaving a gap."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ingestion", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["code"] = lambda s: f"`{s}`"
    env.filters["num"] = lambda x: f"{x:,}"
    return env


def context() -> dict[str, object]:
    """The values the template fills in."""
    lim = Limits()
    mib = 1024 * 1024
    return {
        "title_rows": MAX_HEADER_SEARCH_ROWS - 1,
        "limits": {
            "mib": lim.max_bytes // mib,
            "rows": lim.max_rows,
            "columns": lim.max_columns,
            "xlsx_mib": lim.max_xlsx_uncompressed // mib,
            "xlsx_ratio": lim.max_xlsx_ratio,
            "xlsx_members": lim.max_xlsx_members,
        },
        "max_value_chars": MAX_VALUE_CHARS,
        "units": list(UNIT_MULTIPLIERS.items()),
        "layouts": [{"layout": lay, "rows": _rows(lay)} for lay in LAYOUTS],
        "personal": [a.alias for a in aliases() if a.layout == PERSONAL],
        "derived_id_prefix": n.DERIVED_ID_PREFIX,
        "derived_id_hex": n.DERIVED_ID_HEX,
        "approximate_prefix": n.APPROXIMATE_PREFIX,
        "approximate_suffix": n.APPROXIMATE_SUFFIX,
        "no_figure": n.NO_FIGURE,
        "technology_separators": technology_separators(),
        "city_aliases": _read(CITY_ALIASES_FILE),
        "values": {kind: _values(kind) for kind in VALUE_REFERENCES},
        "row_reasons": ROW_REASONS,
        "file_reasons": FILE_REASONS,
    }


def render() -> str:
    """The whole contract as Markdown."""
    return _env().get_template(TEMPLATE).render(context())


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
