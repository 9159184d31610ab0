"""Every gate check says why it exists in English and in Chinese.

The evaluator report's Chinese page shows each check's ``meta.notes_zh`` (the English page
``meta.notes``). A Chinese text must be Chinese: column names, codes, parameters and numbers
stay as written (they are what the reader looks up), but no English sentence is left over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from scenetrack.gate import SuiteSpec, load_suite_specs

CJK = re.compile(r"[\u4e00-\u9fff]")
# An ASCII run as code is written: words, snake_case, dotted names, dates, 2025-Q2, GB/T.
TOKEN = re.compile(r"[A-Za-z0-9_.:/-]+")
NUMBER = re.compile(r"\d+(?:\.\d+)?")
# Tool names and literals a Chinese text keeps in the original.
KEPT_WORDS = {"dbt", "seed", "true", "false"}


def _checks() -> Iterator[tuple[str, dict[str, Any]]]:
    specs: list[SuiteSpec] = load_suite_specs()
    for spec in specs:
        for i, e in enumerate(spec.expectations):
            yield f"{spec.name}#{i} {e['type']}", e


CHECKS = list(_checks())


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _is_code(token: str) -> bool:
    """snake_case, dotted or numbered names and upper-case codes (NULL, GB/T, SHA-256)."""
    return bool(re.search(r"[_.:0-9]", token)) or token.upper() == token


def _english_left_over(zh: str, kwargs: dict[str, Any]) -> list[str]:
    """ASCII words in ``zh`` that are neither codes nor the check's own values (its column
    names and value sets, as in ``enter、fail、withdraw``) nor tool names: English prose.

    Stricter than a share of ASCII letters: one English word left in a Chinese text fails."""
    own = {w.lower() for s in _strings(kwargs) for w in re.findall(r"[A-Za-z]+", s)}
    left = []
    for token in TOKEN.findall(zh):
        if _is_code(token):
            continue
        for word in re.findall(r"[A-Za-z]+", token):
            if word.lower() not in own | KEPT_WORDS:
                left.append(word)
    return left


def test_the_suites_have_checks() -> None:
    # 112 before the gate left to dbt what a dbt test of the same model asks (issue 19)
    assert len(CHECKS) >= 70


@pytest.mark.parametrize(("check", "expectation"), CHECKS, ids=[c for c, _ in CHECKS])
def test_every_check_says_why_in_english_and_chinese(
    check: str, expectation: dict[str, Any]
) -> None:
    meta = expectation.get("meta") or {}
    notes, zh = meta.get("notes"), meta.get("notes_zh")
    assert isinstance(notes, str) and notes.strip(), f"{check}: meta.notes is empty"
    assert isinstance(zh, str) and zh.strip(), f"{check}: meta.notes_zh is missing"
    assert list(meta).index("notes_zh") == list(meta).index("notes") + 1, (
        f"{check}: notes_zh belongs right after notes"
    )

    cjk = len(CJK.findall(zh))
    assert cjk >= 4, f"{check}: notes_zh has no Chinese text: {zh!r}"
    left = _english_left_over(zh, expectation["kwargs"])
    assert not left, f"{check}: English left in notes_zh: {left} in {zh!r}"

    # What the reader looks up stays as written: column names, parameters, numbers.
    for name in re.findall(r"\b[A-Za-z0-9]+(?:[_.][A-Za-z0-9]+)+\b", notes):
        if not NUMBER.fullmatch(name):
            assert name in zh, f"{check}: {name} is in notes but not in notes_zh"
    for number in NUMBER.findall(notes):
        assert number in zh, f"{check}: {number} is in notes but not in notes_zh"
