"""Per-city holdback: one city's bad row does not keep every other city's figures back (issue
17, finding 6).

Before: after a 20000亿 row from 合肥, a clean file from 无锡 could not publish either, and the
only remedy was a correction from 合肥. Now 合肥's newest submission is held (its rows stay in
raw, marked held with the failing checks), 无锡 publishes, and 合肥's rows come back once the
operator releases them after the correction. A failure no city owns still blocks everyone.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from scenetrack import pipeline
from scenetrack.cli import main
from scenetrack.config import Paths
from scenetrack.gate import ExpectationOutcome, GateResult
from scenetrack.publish import publish_log
from scenetrack.report import build_report
from tests.conftest import event, write_csv

HEFEI, WUXI = "340100", "320200"


def _published(p: Paths, sql: str) -> list:
    con = duckdb.connect(str(p.published_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _work(p: Paths, sql: str) -> list:
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _amounts(p: Paths) -> dict:
    rows = _published(p, "select project_key, cooperation_amount_yuan from fct_project_lifecycle")
    return {k: (None if v is None else int(v)) for k, v in rows}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Paths:
    """v1 published: one clean project in each of 合肥 and 无锡."""
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    p = Paths(tmp_path / "home").ensure()
    first = [
        event("合肥", "P1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
        event("合肥", "P1", "application", "enter", "2025-04-01", "100万元", "2025-04-02"),
        event("无锡", "W1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
        event("无锡", "W1", "application", "enter", "2025-04-01", "200万元", "2025-04-02"),
    ]
    pipeline.ingest_paths(p, [write_csv(tmp_path / "first.csv", first)])
    assert pipeline.run(p).published_version == 1
    return p


def test_a_bad_row_holds_back_its_city_only_until_released(home: Paths, tmp_path) -> None:
    hefei = [
        event("合肥", "P2", "opportunity", "enter", "2025-02-01", reported="2025-06-01"),
        event("合肥", "P2", "application", "enter", "2025-05-01", "20000亿元", "2025-06-01"),
    ]
    wuxi = [event("无锡", "W2", "opportunity", "enter", "2025-03-01", reported="2025-06-01")]
    pipeline.ingest_paths(
        home,
        [
            write_csv(tmp_path / "hefei_june.csv", hefei),
            write_csv(tmp_path / "wuxi_june.csv", wuxi),
        ],
    )
    out = pipeline.run(home)

    # 无锡 published; 合肥's new file entirely held back, its earlier figures kept
    assert out.published_version == 2
    assert _amounts(home) == {
        f"{HEFEI}:P1": 1_000_000,
        f"{WUXI}:W1": 2_000_000,
        f"{WUXI}:W2": None,
    }
    [held] = out.held
    assert (held["city_code"], held["file_name"]) == (HEFEI, "hefei_june.csv")
    assert held["held_by"].startswith("gate ")
    assert any("amount_yuan" in c for c in held["checks"])
    # its rows are still in raw, marked held with the checks
    assert _work(home, f"select count(*) from raw.events where city_code = '{HEFEI}'") == [(4,)]
    holds = _work(home, "select city_code, reason, released_at from raw.file_holds")
    assert [(c, r is None) for c, _, r in holds] == [(HEFEI, True)]
    assert "stg_raw__events: expect_column_values_to_be_between(amount_yuan)" in json.loads(
        holds[0][1]
    )
    # the gate run that was published validated marts without the held rows
    assert _work(home, "select count(*) from staging.stg_raw__events where amount_yuan > 1e12") == [
        (0,)
    ]

    # the report's quality panel says what is held back, and why
    page = build_report(home, "en").read_text(encoding="utf-8")
    panel = page[page.index("Submissions held back") :]
    assert "hefei_june.csv" in panel and "amount_yuan" in panel
    assert 'data-table="held_submissions"' in page

    # 合肥 corrects the amount; the operator releases; the next run publishes 合肥 again
    fixed = [event("合肥", "P2", "application", "enter", "2025-05-01", "2000万元", "2025-06-10")]
    pipeline.ingest_paths(home, [write_csv(tmp_path / "hefei_fix.csv", fixed)])
    assert main(["release", "--city", "合肥", "--home", str(home.home)]) == 0
    out = pipeline.run(home)
    assert out.held == []
    assert out.published_version == 3
    assert _amounts(home)[f"{HEFEI}:P2"] == 20_000_000
    assert _published(home, "select count(*) from fct_project_lifecycle") == [(4,)]


def test_a_failure_no_city_owns_blocks_everyone(home: Paths, tmp_path) -> None:
    more = [
        event("合肥", f"P{i}", "opportunity", "enter", "2025-02-01", reported="2025-02-02")
        for i in (3, 4, 5)
    ]
    pipeline.ingest_paths(home, [write_csv(tmp_path / "hefei_more.csv", more)])
    assert pipeline.run(home).published_version == 2  # 5 projects: 4 in 合肥, 1 in 无锡
    # the operator holds 合肥 by hand: 4 of the 5 lifecycle rows go, which trips the fact's
    # volume guard (a row count: no city's row) -> the whole publish is blocked
    assert main(["hold", "--city", "340100", "--home", str(home.home)]) == 0
    with pytest.raises(pipeline.GateBlockedError) as blocked:
        pipeline.run(home)
    message = str(blocked.value)
    assert "ERROR fct_project_lifecycle: expect_table_row_count_to_be_between" in message
    assert "1 rows; floor 2 = the 5 rows of the published version less 50%" in message
    assert "SCENETRACK_VOLUME_MAX_DROP=0.5" in message
    assert [r.version for r in publish_log(home)] == [1, 2]


def _outcome(cities: tuple[str, ...] | None, success: bool = False, severity: str = "error"):
    return ExpectationOutcome(
        "s", "expect_x", "c", severity, success, None, 1, None, None, cities=cities
    )


def test_failing_cities_only_when_every_failure_has_its_cities() -> None:
    def result(*outcomes):
        return GateResult("r", None, list(outcomes), None)

    assert result(_outcome(("340100",)), _outcome(("340100", "320200"))).failing_cities == {
        "340100": ["s: expect_x(c)", "s: expect_x(c)"],
        "320200": ["s: expect_x(c)"],
    }
    assert result(_outcome(("340100",)), _outcome(None)).failing_cities is None
    # warnings and passing checks neither block nor hold
    assert (
        result(_outcome(None, severity="warn"), _outcome(None, success=True)).failing_cities is None
    )
    assert result(_outcome(("340100",)), _outcome(None, severity="warn")).failing_cities == {
        "340100": ["s: expect_x(c)"]
    }
