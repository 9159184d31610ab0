"""The mutation-testing configuration stays true to the code it describes
(benchmarks/mutation.toml), and the substitution pass mutates what it says it mutates."""

from __future__ import annotations

import re

from benchmarks.mutation import ROOT, load_config, mutant_globs, sql_mutants

MUTMUT_NAME = re.compile(r"^[a-z_.]+\.x(_\w+|ǁ\w+ǁ\w+)__mutmut_\d+$")
SQL_NAME = re.compile(r"^[\w/]+\.py line \d+ col \d+: .+$")


def test_every_target_names_files_that_exist() -> None:
    config = load_config()
    for target in config["target"]:
        assert (ROOT / target["module"]).is_file(), target["module"]
        for t in target["tests"]:
            assert (ROOT / t).is_file(), t
    assert 0 < config["target_score"] <= 1


def test_every_dbt_mutant_changes_text_that_is_there_once() -> None:
    mutants = load_config()["dbt_mutant"]
    assert {m["rule"].split(":")[0] for m in mutants} >= {
        "stage order",
        "latest report wins",
        "stalled threshold",
        "conversion denominators",
    }
    for m in mutants:
        assert set(m) == {"rule", "model", "old", "new"}, m["rule"]
        text = (ROOT / m["model"]).read_text(encoding="utf-8")
        assert text.count(m["old"]) == 1, m["rule"]
        assert m["old"] != m["new"]


def test_every_equivalent_mutant_is_named_and_explained() -> None:
    modules = {t["module"] for t in load_config()["target"]}
    for name, why in load_config()["equivalent"].items():
        assert MUTMUT_NAME.match(name) or SQL_NAME.match(name), name
        assert len(why) > 20, name
        if SQL_NAME.match(name):
            assert name.split(" line ")[0] in modules


def test_mutant_names_of_functions_and_methods() -> None:
    assert mutant_globs("scenetrack/gate/types.py", ["passed", "GateResult.*"]) == [
        "scenetrack.gate.types.x_passed__mutmut_*",
        "scenetrack.gate.types.xǁGateResultǁ*__mutmut_*",
    ]
    assert mutant_globs("ingestion/headers.py", None) == ["ingestion.headers.*"]


def test_the_substitution_pass_mutates_string_literals_but_not_docstrings() -> None:
    source = (
        '"""Module doc: a > b and 1."""\n'
        "def f():\n"
        '    """Doc: x = 1."""\n'
        '    return "select 1 from t where a > 2 and b is null" + f"\'{x}\'"\n'
    )
    found = {where for where, _ in sql_mutants(source)}
    assert found == {
        "line 4 col 19: number + 1: '1'",
        "line 4 col 36: > to >=: '>'",
        "line 4 col 38: number + 1: '2'",
        "line 4 col 40: and to or: 'and'",
        "line 4 col 46: is null to is not null: 'is null'",
    }
    mutated = dict(sql_mutants(source))["line 4 col 36: > to >=: '>'"]
    assert "where a >= 2 and b is null" in mutated and mutated.count(">=") == 1
