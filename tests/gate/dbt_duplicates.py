"""Which gate expectations re-check what a dbt test of the same model already checks.

A dbt test (not_null, unique, accepted_values, relationships to the city dimension,
unique_combination_of_columns) runs on every build before the gate, and a failing one stops the
pipeline there: a GX expectation asking the same question of the same model never decides
anything. Read from the models' YAML (what ``dbt parse`` reads), not from a list kept by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "dbt_project" / "models"
SUITES = ROOT / "expectations"
CITY_DIMENSIONS = ("ref('dim_city')", "ref('ref_cities')")

Question = tuple  # ("not_null", column) | ("unique", column) | ("in", column, values) | ...

# a key the batch query builds from columns: ``a || ':' || b || ':' || c as key``
CONCATENATED_KEY = re.compile(r"((?:\w+\s*\|\|\s*'[^']*'\s*\|\|\s*)+\w+)\s+as\s+(\w+)")


def concatenated_keys(batch_query: str) -> dict[str, tuple[str, ...]]:
    """key column -> the columns the batch query joins into it (``||``)."""
    return {
        key: tuple(sorted(re.findall(r"(\w+)\s*(?:\|\||$)", parts)))
        for parts, key in CONCATENATED_KEY.findall(batch_query)
    }


def _arguments(test: dict, name: str) -> dict:
    body = test[name] or {}
    return body.get("arguments", body)


def dbt_questions() -> dict[str, set[Question]]:
    """model name -> the questions its generic dbt tests ask."""
    out: dict[str, set[Question]] = {}
    for path in MODELS.rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("models") or []:
            asked = out.setdefault(model["name"], set())
            for test in model.get("data_tests") or []:
                name = next(iter(test)) if isinstance(test, dict) else test
                if name.endswith("unique_combination_of_columns"):
                    cols = _arguments(test, name)["combination_of_columns"]
                    asked.add(("compound", tuple(sorted(cols))))
            for column in model.get("columns") or []:
                for test in column.get("data_tests") or []:
                    name = next(iter(test)) if isinstance(test, dict) else test
                    if name in ("not_null", "unique"):
                        asked.add((name, column["name"]))
                    elif name == "accepted_values":
                        values = tuple(sorted(_arguments(test, name)["values"]))
                        asked.add(("in", column["name"], values))
                    elif name == "relationships" and _arguments(test, name)["to"] in (
                        CITY_DIMENSIONS
                    ):
                        asked.add(("in", column["name"], "city dimension"))
    return out


def expectation_question(
    expectation: dict, keys: dict[str, tuple[str, ...]] | None = None
) -> Question | None:
    """The question one GX expectation asks, in the terms of :func:`dbt_questions`; ``keys``:
    the suite's :func:`concatenated_keys` (a unique joined key is a unique combination)."""
    kind, kwargs = expectation["type"], expectation["kwargs"]
    if "row_condition" in kwargs:
        return None  # a question about some rows only
    if kind == "expect_column_values_to_not_be_null":
        return ("not_null", kwargs["column"])
    if kind == "expect_column_values_to_be_unique":
        if kwargs["column"] in (keys or {}):
            return ("compound", keys[kwargs["column"]])
        return ("unique", kwargs["column"])
    if kind == "expect_compound_columns_to_be_unique":
        return ("compound", tuple(sorted(kwargs["column_list"])))
    if kind == "expect_column_values_to_be_in_set":
        values = kwargs["value_set"]
        if values == {"$PARAMETER": "dim_city_codes"}:
            return ("in", kwargs["column"], "city dimension")
        if isinstance(values, list):
            return ("in", kwargs["column"], tuple(sorted(values)))
    return None


def duplicates() -> list[tuple[str, int, Question]]:
    """(suite, index, question) of every expectation a dbt test of its model already asks."""
    asked = dbt_questions()
    found = []
    for path in sorted(SUITES.glob("*.json")):
        suite = json.loads(path.read_text(encoding="utf-8"))
        query = suite["meta"]["batch_query"]
        keys = concatenated_keys(query if isinstance(query, str) else "\n".join(query))
        for i, expectation in enumerate(suite["expectations"]):
            question = expectation_question(expectation, keys)
            if question is not None and question in asked.get(suite["name"], set()):
                found.append((suite["name"], i, question))
    return found
