"""The alias seeds stay unambiguous: one code per wording, codes that exist, no alias that
the technology separators would cut in two, every alias's source documented."""

from __future__ import annotations

import csv
from collections import defaultdict

from ingestion.reference import technology_separators
from scenetrack.config import SEEDS_DIR

SOURCES = {"platform", "national-opinion-2025", "city-lists", "synonym"}


def _rows(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / name).open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_each_wording_has_one_code_and_every_code_exists() -> None:
    codes: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in _rows("value_aliases.csv"):
        codes[(r["kind"], r["alias"].lower().replace(" ", ""))].add(r["code"])
    assert {k: v for k, v in codes.items() if len(v) > 1} == {}
    known = {
        "domain": {r["domain_code"] for r in _rows("ref_domains.csv")},
        "technology": {r["technology_code"] for r in _rows("ref_technologies.csv")},
        "stage": {r["stage_code"] for r in _rows("lifecycle_stages.csv")},
    }
    for (kind, alias), code in codes.items():
        if kind in known:
            assert code <= known[kind], (kind, alias, code)
    assert "unclassified" in known["domain"] and "unclassified" in known["technology"]


def test_no_alias_holds_a_technology_separator_and_every_source_is_documented() -> None:
    seps = technology_separators()
    rows = _rows("value_aliases.csv")
    assert [r["alias"] for r in rows if any(s in r["alias"] for s in seps)] == []
    assert {r["source"] for r in rows} <= SOURCES
    readme = (SEEDS_DIR / "README_value_aliases.md").read_text(encoding="utf-8")
    assert all(f"`{s}`" in readme for s in SOURCES)
