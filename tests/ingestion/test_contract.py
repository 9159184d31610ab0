"""The published submission contract is the alias table the intake uses, up to date, and its
template ships with the package."""

from __future__ import annotations

import csv
import tomllib

from ingestion.contract import DOC_PATH, TEMPLATE, _env, render
from ingestion.headers import ALIASES_FILE
from ingestion.locations import project_dir
from ingestion.receipts import FILE_REASONS, ROW_REASONS
from scenetrack.config import SEEDS_DIR


def test_the_doc_lists_every_header_alias_and_value_alias() -> None:
    doc = DOC_PATH.read_text(encoding="utf-8")
    with ALIASES_FILE.open(encoding="utf-8", newline="") as f:
        header_aliases = [r["alias"] for r in csv.DictReader(f)]
    with (SEEDS_DIR / "value_aliases.csv").open(encoding="utf-8", newline="") as f:
        value_aliases = [r["alias"] for r in csv.DictReader(f)]
    missing = [a for a in header_aliases + value_aliases if f"`{a}`" not in doc]
    assert not missing, f"not in {DOC_PATH.name}: {missing}"
    for code in (*ROW_REASONS, *FILE_REASONS):
        assert f"`{code}`" in doc


def test_the_doc_is_regenerated_from_the_data() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render(), (
        "docs/submission_contract.md is stale: run `python -m ingestion.contract`"
    )


def test_the_template_is_package_data() -> None:
    """The prose is ingestion/templates/submission_contract.md.j2, shipped with the package."""
    root = project_dir()
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["ingestion"]
    shipped = {f for g in globs for f in (root / "ingestion").glob(g)}
    templates = set((root / "ingestion" / "templates").iterdir())
    assert templates and templates <= shipped
    assert _env().list_templates() == [TEMPLATE]
