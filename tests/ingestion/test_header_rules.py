"""Header recognition rules the end-to-end tests reach only by luck: contact columns dropped
where they stand, a column another layout owns ruling a layout out (with or without a unit in
its header), a tie between a header row and the row below it, and the ``all`` rows of the alias
table in the ``unknown_layout`` message.
"""

from __future__ import annotations

import pytest

import ingestion.headers as h
from ingestion.headers import Alias, expected_header_text, find_header, match_header


def test_contact_columns_are_dropped_where_they_stand_and_the_rest_is_read() -> None:
    m = match_header(["城市", "联系人", "项目编号", "阶段", "事件", "日期", "联系\n电话", "备注"])
    assert m is not None and m.layout.name == "events"
    assert m.dropped == ("联系人", "联系 电话")  # as written, one space for the line break
    assert m.dropped_positions == (1, 6)
    assert m.positions == {"city": 0, "project_id": 2, "stage": 3, "event_type": 4, "event_date": 5}
    assert "联系人" not in m.ignored and "联系 电话" not in m.ignored


def test_a_column_another_layout_owns_rules_a_list_out_even_with_a_unit() -> None:
    # an opportunity list carries no cooperation amount: 合作金额 (with its unit) rules it out,
    # and no other layout is satisfied by these columns
    assert match_header(["城市", "场景编号", "场景名称"]).layout.name == "opportunities"
    assert match_header(["城市", "场景编号", "场景名称", "合作金额（万元）"]) is None
    assert match_header(["城市", "场景编号", "场景名称", "合作金额"]) is None


@pytest.fixture
def extra_alias(monkeypatch):
    """Adds alias rows to the table for one test (the caches keyed on it are cleared)."""

    def add(*rows: Alias) -> None:
        every = (*h.aliases(), *rows)
        monkeypatch.setattr(h, "aliases", lambda: every)
        h.alias_map.cache_clear()
        h._excluded_map.cache_clear()

    yield add
    h.alias_map.cache_clear()
    h._excluded_map.cache_clear()


def test_an_excluded_alias_with_a_unit_like_bracket_is_looked_up_whole(extra_alias) -> None:
    # 验证(亿) splits into 验证 + 亿, which names nothing; the whole text is a register column
    # (validation_date), which an opportunity list excludes
    extra_alias(Alias("register", "validation_date", "验证(亿)"))
    assert match_header(["城市", "场景名称", "合作方"]).layout.name == "opportunities"
    assert match_header(["城市", "场景名称", "验证（亿）"]) is None


def test_on_a_tie_the_upper_header_row_wins() -> None:
    # row 1 merged with row 0 (城市, 项目编号, 应用日期) names as many columns as row 0: the
    # lower row is taken only when it names more
    rows = [["城市", "项目编号", "验证日期"], ["", "", "应用日期"]]
    found = find_header(rows)
    assert found is not None
    i, m = found
    assert (i, m.layout.name) == (0, "register")
    assert m.positions == {"city": 0, "project_id": 1, "validation_date": 2}


def test_the_unknown_layout_message_takes_chinese_names_from_the_all_rows(monkeypatch) -> None:
    # only ASCII aliases, plus one Chinese name in a row of layout "all": every layout with an
    # event_date column is named with it
    kept = (*(a for a in h.aliases() if a.alias.isascii()), Alias("all", "event_date", "发生日期"))
    monkeypatch.setattr(h, "aliases", lambda: kept)
    assert expected_header_text().startswith(
        "events needs project_id, stage, event_type, event_date (发生日期); "
        "opportunities needs project_id or project_name; "
    )
