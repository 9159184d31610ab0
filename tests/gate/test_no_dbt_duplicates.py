"""The gate keeps what dbt cannot check and asks nothing a dbt test of the same model asks."""

from __future__ import annotations

from tests.gate.dbt_duplicates import (
    concatenated_keys,
    dbt_questions,
    duplicates,
    expectation_question,
)


def test_no_expectation_repeats_a_dbt_test_of_its_model():
    assert duplicates() == []


def test_the_comparison_sees_the_dbt_tests_it_compares_with():
    # worked out from dbt_project/models/staging/_staging.yml by hand: the questions the
    # dropped expectations asked are still asked, by dbt
    asked = dbt_questions()["stg_raw__events"]
    assert {
        ("not_null", "event_key"),
        ("unique", "event_key"),
        ("in", "city_code", "city dimension"),
        ("in", "event_type", ("enter", "fail", "withdraw")),
    } <= asked
    assert ("compound", ("city_code", "period_label", "period_type")) in dbt_questions()[
        "mart_city_scorecard"
    ]


def test_a_question_on_some_rows_or_a_range_is_not_a_duplicate():
    unique = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "k"}}
    assert expectation_question(unique) == ("unique", "k")
    scoped = {**unique, "kwargs": {"column": "k", "row_condition": 'a=="x"'}}
    assert expectation_question(scoped) is None
    between = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "k"}}
    assert expectation_question(between) is None


def test_a_unique_key_joined_from_columns_is_their_unique_combination():
    query = "select *, city_code || ':' || technology_code as supply_demand_key from m"
    keys = concatenated_keys(query)
    assert keys == {"supply_demand_key": ("city_code", "technology_code")}
    unique = {
        "type": "expect_column_values_to_be_unique",
        "kwargs": {"column": "supply_demand_key"},
    }
    assert expectation_question(unique, keys) == ("compound", ("city_code", "technology_code"))
