"""``scenetrack status`` on a hand-made home whose every answer is worked out below.

Quarantine: file a.csv has 2 bad dates; file b.csv 1 bad date and 1 unknown city, so
bad_date = 3 rows in 2 files, unknown_city = 1 row in 1 file (real ingest).
Gate: an older run with a failure, then run ``r-new`` (1 error failure, 1 warning, 1 pass).
Unclassified wordings (the dbt model, made by hand): 物联网 in 5 rows of 320200 and 2 of 340100,
海洋开发 in 1 capability of 320200: 2 wordings, 8 rows, 物联网 first.
Freshness (window 90 days, measured against 2025-12-31): Hefei last reported 2025-01-01 (364
days: silent), Wuxi 2025-09-30 (92: silent), Nanjing 2025-10-02 (exactly 90: fresh, as the
gate's ``last_reported_on >= run date - 90 days``), Shenzhen 2025-12-01 (30: fresh).
Published: v1 then v2 at 2026-03-01T08:00:00+00:00; the Chinese report shows v1 (stale), the
English one v2 (current).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from scenetrack.cli import main
from scenetrack.config import Paths
from scenetrack.gate import (
    GATE_RESULTS_DDL,
    ExpectationOutcome,
    gate_result_rows,
    insert_gate_results_sql,
)
from scenetrack.pipeline import ingest_paths
from scenetrack.status import status, summary
from scenetrack.warehouse import connect_work, writer_lock
from tests.conftest import event, write_csv

PUBLISHED_AT = "2026-03-01T08:00:00+00:00"


def _outcome(suite, expectation, column, severity, success, observed):
    return ExpectationOutcome(
        suite, expectation, column, severity, success, observed, None, None, None
    )


def _report(p: Paths, lang_dir: str, version: int) -> None:
    page = p.published_dir / lang_dir / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        f'<html><body><p><span class="figure" data-figure="version" data-value="{version}">'
        f"v{version}</span></p></body></html>",
        encoding="utf-8",
    )


@pytest.fixture
def made(tmp_path) -> Paths:
    p = Paths(tmp_path / "home").ensure()
    a = write_csv(
        tmp_path / "a.csv",
        [
            event("合肥", "H1", "opportunity", "enter", "2025-05-13"),
            event("合肥", "H2", "opportunity", "enter", "2025-13-45"),
            event("合肥", "H3", "opportunity", "enter", "not a date"),
        ],
    )
    b = write_csv(
        tmp_path / "b.csv",
        [
            event("无锡", "W1", "opportunity", "enter", "2025-02-30"),
            event("火星", "M1", "opportunity", "enter", "2025-05-13"),
        ],
    )
    ingest_paths(p, [a, b])
    con = connect_work(p)
    try:
        con.execute(GATE_RESULTS_DDL)
        old = [_outcome("dim_city", "expect_x", "city_code", "error", False, "old failure")]
        new = [
            _outcome("fct_project_lifecycle", "expect_column_values_to_be_between",
                     "amount_yuan", "error", False, "2 of 40 rows unexpected"),
            _outcome("source_freshness", "expect_column_values_to_be_between",
                     "last_reported_on", "warn", False, "3 of 4 rows unexpected"),
            _outcome("dim_city", "expect_table_row_count_to_be_between", None,
                     "error", True, "339"),
        ]  # fmt: skip
        sql = insert_gate_results_sql("?")
        con.executemany(sql, gate_result_rows("r-old", datetime(2026, 2, 1), old))
        con.executemany(sql, gate_result_rows("r-new", datetime(2026, 2, 2), new))
        con.execute("create schema staging; create schema marts")
        con.execute("create table staging.stg_raw__events (city_code varchar, reported_at date)")
        con.execute(
            "insert into staging.stg_raw__events values ('340100', '2024-05-01'), "
            "('340100', '2025-01-01'), ('320200', '2025-09-30'), ('320100', '2025-10-02'), "
            "('440300', '2025-12-01')"
        )
        con.execute("create schema intermediate")
        con.execute(
            "create table intermediate.int_values_left_unclassified as select * from (values "
            "('events', '320200', 'technology', '物联网', 5), "
            "('events', '340100', 'technology', '物联网', 2), "
            "('capabilities', '320200', 'domain', '海洋开发', 1)) "
            "as t(reported_in, city_code, column_name, value_text, row_count)"
        )
        con.execute(
            "create table marts.dim_city (city_code varchar, name_zh varchar, name_en varchar)"
        )
        con.execute(
            "insert into marts.dim_city values ('340100', '合肥', 'Hefei'), "
            "('320200', '无锡', 'Wuxi'), ('320100', '南京', 'Nanjing'), "
            "('440300', '深圳', 'Shenzhen')"
        )
    finally:
        con.close()
    log = [
        {"version": 1, "action": "publish", "published_at": "2026-02-01T08:00:00+00:00",
         "by": "ops", "gate_run_id": "r-old", "tables": {"dim_city": 339}},
        {"version": 2, "action": "publish", "published_at": PUBLISHED_AT,
         "by": "ops", "gate_run_id": "r-new", "tables": {"dim_city": 339}},
    ]  # fmt: skip
    (p.published_dir / "publish_log.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in log), encoding="utf-8"
    )
    _report(p, "report", 1)
    _report(p, "report/en", 2)
    return p


def test_status_answers_each_question(made, monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    s = status(made, now=datetime(2026, 3, 1, 10, 5, tzinfo=UTC))
    assert s["ledger"]["loaded"] == {
        "files": 2,
        "rows_read": 5,
        "rows_loaded": 1,
        "rows_quarantined": 4,
    }
    assert s["quarantine"] == {
        "rows": 4,
        "by_reason": {
            "bad_date": {"rows": 3, "files": 2},
            "unknown_city": {"rows": 1, "files": 1},
        },
    }
    assert s["unmapped"] == {
        "known": True,
        "wordings": 2,
        "rows": 8,
        "values": [
            {"column": "technology", "value": "物联网", "rows": 7, "cities": "320200, 340100"},
            {"column": "domain", "value": "海洋开发", "rows": 1, "cities": "320200"},
        ],
    }
    gate = s["last_gate"]
    assert (gate["run_id"], gate["passed"], gate["failures"], gate["warnings"]) == (
        "r-new",
        False,
        1,
        1,
    )
    assert [(c["check"], c["severity"], c["observed_value"]) for c in gate["not_passed"]] == [
        (
            "fct_project_lifecycle: expect_column_values_to_be_between(amount_yuan)",
            "error",
            "2 of 40 rows unexpected",
        ),
        (
            "source_freshness: expect_column_values_to_be_between(last_reported_on)",
            "warn",
            "3 of 4 rows unexpected",
        ),
    ]
    pub = s["published"]
    assert (pub["version"], pub["at"], pub["age_seconds"], pub["age"]) == (
        2,
        PUBLISHED_AT,
        2 * 3600 + 5 * 60,
        "2 h 5 min",
    )
    assert (s["report"]["zh"]["version"], s["report"]["zh"]["current"]) == (1, False)
    assert (s["report"]["en"]["version"], s["report"]["en"]["current"]) == (2, True)
    silent = s["silent_cities"]
    assert (silent["window_days"], silent["measured_against"], silent["basis"]) == (
        90,
        "2025-12-31",
        "SCENETRACK_REFERENCE_DATE",
    )
    assert silent["reporting"] == 4
    assert [(c["city_code"], c["name_en"], c["days_silent"]) for c in silent["cities"]] == [
        ("340100", "Hefei", 364),
        ("320200", "Wuxi", 92),
    ]


def test_status_text_names_checks_reasons_report_and_silent_cities(made, monkeypatch, capsys):
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    assert main(["status", "--home", str(made.home)]) == 0
    text = capsys.readouterr().out
    assert "{" not in text  # no raw JSON inside the text
    lines = text.splitlines()
    assert (
        "quarantine: 4 rows waiting for a correction or a replay, by reason "
        "(scenetrack quarantine --by value):"
    ) in lines
    assert any(ln.split() == ["bad_date", "3", "rows", "in", "2", "files"] for ln in lines)
    assert any(ln.split() == ["unknown_city", "1", "rows", "in", "1", "file"] for ln in lines)
    assert any(ln.startswith("unclassified wordings: 2 domain/technology") for ln in lines)
    assert any(ln.split() == ["technology", "物联网", "7", "rows", "(320200,", "340100)"]
               for ln in lines)  # fmt: skip
    assert any(ln.startswith("last gate: r-new") and "FAILED" in ln for ln in lines)
    assert (
        "  ERROR fct_project_lifecycle: expect_column_values_to_be_between(amount_yuan)"
        " — observed: 2 of 40 rows unexpected"
    ) in lines
    assert any(ln.startswith("  WARN  source_freshness:") for ln in lines)
    assert not any("dim_city" in ln for ln in lines if ln.startswith("  "))  # passed/old run
    assert any(ln.startswith("report (zh): STALE, shows v1 but v2 is published") for ln in lines)
    assert any(ln.startswith("report (en): shows v2, current") for ln in lines)
    silent = [ln for ln in lines if ln.startswith("silent cities")]
    assert len(silent) == 1 and "SCENETRACK_REFERENCE_DATE" in silent[0]
    assert silent[0].endswith("2 of 4 reporting cities")
    assert "  340100 合肥 Hefei: last report 2025-01-01 (364 days)" in lines
    # --json says the same, as one JSON document
    assert main(["status", "--home", str(made.home), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert [c["city_code"] for c in s["silent_cities"]["cities"]] == ["340100", "320200"]


def test_freshness_is_measured_against_today_when_no_reference_date(made, monkeypatch) -> None:
    monkeypatch.delenv("SCENETRACK_REFERENCE_DATE", raising=False)
    s = status(made)
    today = datetime.now().date()
    assert (s["silent_cities"]["basis"], s["silent_cities"]["measured_against"]) == (
        "today",
        today.isoformat(),
    )
    expected = {
        code
        for code, last in [
            ("340100", "2025-01-01"),
            ("320200", "2025-09-30"),
            ("320100", "2025-10-02"),
            ("440300", "2025-12-01"),
        ]
        if (today - datetime.fromisoformat(last).date()).days > 90
    }
    assert {c["city_code"] for c in s["silent_cities"]["cities"]} == expected
    assert "measure against the data's as-of date" in summary(s)


def test_status_answers_while_a_writer_holds_the_work_database(made) -> None:
    with writer_lock(made):
        s = status(made)
        text = summary(s)
    for key in ("ledger", "quarantine", "unmapped", "last_gate", "silent_cities"):
        assert s[key].startswith("busy: "), key
    assert s["published"]["version"] == 2 and s["report"]["en"]["current"] is True
    assert "ledger: busy: " in text and "published: v2" in text


def test_status_of_a_fresh_home(tmp_path, capsys) -> None:
    home = Paths(tmp_path / "fresh")
    assert main(["status", "--home", str(home.home)]) == 0
    text = capsys.readouterr().out
    assert "ledger: nothing ingested yet" in text
    assert "published: nothing yet" in text
    s = status(home)
    assert s["published"] is None and s["report"]["zh"]["exists"] is False


def test_silent_cities_are_not_known_before_the_first_build(tmp_path, monkeypatch) -> None:
    p = Paths(tmp_path / "h").ensure()
    ingest_paths(
        p,
        [
            write_csv(
                tmp_path / "x.csv", [event("合肥", "H1", "opportunity", "enter", "2025-05-13")]
            )
        ],
    )
    s = status(p)
    assert s["silent_cities"]["known"] is False
    assert s["unmapped"]["known"] is False
    assert "not known before the first dbt build" in summary(s)
    assert "unclassified wordings: not known before the first dbt build" in summary(s)


def test_status_names_the_submissions_held_back(made, capsys) -> None:
    from scenetrack import holdback

    con = connect_work(made)
    try:
        sha = con.execute(
            "select file_sha256 from raw.file_ledger where file_name = 'a.csv'"
        ).fetchone()[0]
        holdback.hold(con, [(sha, "340100")], "gate r-new", ["stg: expect_x(amount_yuan)"])
    finally:
        con.close()
    [held] = status(made)["held"]
    assert (held["city_code"], held["file_name"], held["checks"]) == (
        "340100",
        "a.csv",
        ["stg: expect_x(amount_yuan)"],
    )
    assert main(["status", "--home", str(made.home)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[lines.index(next(ln for ln in lines if ln.startswith("held back: 1 "))) + 1] == (
        f"  340100 a.csv since {held['held_at']} by gate r-new: stg: expect_x(amount_yuan)"
    )


def test_status_says_when_nothing_is_held(made, capsys) -> None:
    assert status(made)["held"] == []
    assert main(["status", "--home", str(made.home)]) == 0
    assert "held back: nothing (every loaded submission is in the marts)" in (
        capsys.readouterr().out.splitlines()
    )
