"""The CSV reader's two paths agree, and header recognition follows the alias table."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import reading
from ingestion.headers import alias_map, header_key, match_header, split_unit
from ingestion.layouts import LAYOUTS
from ingestion.reading import Limits, read_submission, sha256_of

HEADER = ["city", "project_id", "stage", "event_type", "event_date", "amount"]
# Line breaks inside values are \n (a lone \r is an old-Mac line break, out of scope).
values = st.text(alphabet=st.sampled_from(list('合肥ab1 ,;\n"')), max_size=8)
rows = st.lists(st.lists(values, min_size=6, max_size=6), max_size=12)


def _write(path, header, body, title: bool, newline: str, encoding: str) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    if title:
        w.writerow(["2025年合肥市场景项目事件表"] + [""] * 5)
    w.writerow(header)
    w.writerows(body)
    path.write_bytes(buf.getvalue().encode(encoding))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=rows,
    title=st.booleans(),
    newline=st.sampled_from(["\n", "\r\n"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_fast_and_exact_csv_readers_agree_on_every_row_and_line(
    tmp_path, body, title, newline, encoding
) -> None:
    f = tmp_path / "p.csv"
    _write(f, HEADER, body, title, newline, encoding)
    sub = read_submission(f, sha256_of(f), f.stat().st_size)
    exact = reading._csv_exact(f, sub.encoding, ",", sub.header_line, len(HEADER), sub, Limits())
    assert sub.table.column("__line").to_pylist() == exact.column("__line").to_pylist()
    for c in HEADER:
        assert sub.table.column(c).to_pylist() == exact.column(c).to_pylist()
    # expected: every non-blank row, in order, starting on the right physical line
    line = 3 if title else 2
    expected = []
    for r in body:
        if any(v.strip() for v in r):
            expected.append(line)
        line += 1 + sum(v.count("\n") for v in r)
    assert sub.table.column("__line").to_pylist() == expected


def test_header_names_are_compared_loosely() -> None:
    assert header_key(" 合作金额\n（万元）* ") == "合作金额(万元)"
    assert split_unit("合作金额（万元）") == ("合作金额", "万元")
    assert split_unit("金额(单位：亿元)") == ("金额", "亿元")
    assert split_unit("ＣＩＴＹ") == ("city", None)
    m = match_header(
        ["序号", "城市", "项目编号", "阶段", "事件", "日期", "合作金额（万元）", "城市"]
    )
    assert m.layout.name == "events"
    assert m.positions == {
        "city": 1,
        "project_id": 2,
        "stage": 3,
        "event_type": 4,
        "event_date": 5,
        "amount": 6,
    }
    assert m.units == {"amount": 10_000}
    assert m.ignored == ("序号", "城市")  # a second 城市 column is not read
    assert match_header(["城市", "能力编号", "发布日期"]).layout.name == "capabilities"
    assert match_header(["城市", "项目编号", "验证日期"]).layout.name == "register"
    assert match_header(["colour", "shape"]) is None


def test_no_alias_names_two_columns_of_a_layout() -> None:
    for layout in LAYOUTS:
        amap = alias_map(layout.name)  # raises on a clash
        assert set(amap.values()) <= set(layout.column_names)
