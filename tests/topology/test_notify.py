"""The alert (scenetrack.notify) through real channels on loopback: an SMTP sink (aiosmtpd)
and an HTTP sink, started by the test; the connections given the way Airflow reads them."""

from __future__ import annotations

import json
from datetime import date
from html import unescape
from types import SimpleNamespace

import pytest

from scenetrack.gate import ExpectationOutcome, GateResult
from scenetrack.notify import ScenetrackNotifier, parse_gate_summary
from scenetrack.pipeline import GateBlockedError
from tests.topology.sinks import body_text, http_sink, smtp_sink


def _blocked() -> GateBlockedError:
    """A gate summary as the gate writes it: one failing error check with Hefei's row in its
    sample, one passing check, one warning from Wuxi."""
    outcomes = [
        ExpectationOutcome(
            "fct_project_lifecycle",
            "expect_column_values_to_be_between",
            "cooperation_amount_yuan",
            "error",
            False,
            "1 of 130 rows unexpected",
            1,
            json.dumps([{"project_key": "340100:X-1", "cooperation_amount_yuan": 2e12}]),
            "Cooperation amounts are below 1e12 yuan.",
        ),
        ExpectationOutcome(
            "dim_city",
            "expect_column_values_to_be_unique",
            "city_code",
            "error",
            True,
            None,
            0,
            None,
            None,
        ),  # fmt: skip
        ExpectationOutcome(
            "source_freshness",
            "expect_column_values_to_be_between",
            "last_reported_on",
            "warn",
            False,
            "1 of 2",
            1,
            json.dumps([{"city_code": "320200"}]),
            None,
        ),  # fmt: skip
    ]
    result = GateResult("20260101T000000-abc123", date(2026, 1, 1), outcomes, None)
    return GateBlockedError(result.summary())


def test_the_summary_names_failing_checks_and_the_city_of_their_rows() -> None:
    failing, cities = parse_gate_summary(str(_blocked()))
    assert len(failing) == 1
    assert failing[0].startswith("fct_project_lifecycle: expect_column_values_to_be_between")
    assert "1 of 130 rows unexpected" in failing[0]
    assert cities == ["340100"]  # Wuxi's row is in a warning, not in the failing check


@pytest.fixture
def channels(monkeypatch):
    with smtp_sink() as (port, inbox), http_sink() as (url, posted):
        monkeypatch.setenv(
            "AIRFLOW_CONN_SCENETRACK_SMTP",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "extra": {
                        "from_email": "scenetrack@localhost",
                        "to": "ops@localhost, city-office@localhost",
                        "disable_ssl": True,
                        "disable_tls": True,
                    },
                }
            ),
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_SCENETRACK_ALERTS_WEBHOOK",
            json.dumps({"conn_type": "http", "host": url}),
        )
        yield inbox, posted


def _context(exc: Exception, task_id: str = "quality_gate") -> dict:
    ti = SimpleNamespace(dag_id="scenetrack_transform", task_id=task_id, try_number=3,
                         log_url="http://127.0.0.1:8080/log")  # fmt: skip
    return {"ti": ti, "task_instance": ti, "exception": exc,
            "dag_run": SimpleNamespace(run_id="asset_triggered__2026")}  # fmt: skip


def test_a_blocked_gate_is_one_mail_and_one_post_in_chinese_and_english(channels) -> None:
    inbox, posted = channels
    ScenetrackNotifier("gate_blocked")(_context(_blocked()))
    assert len(inbox) == 1 and len(posted) == 1
    mail = inbox[0]
    text = unescape(body_text(mail))
    assert "质量闸门" in mail["Subject"] and "Quality gate blocked" in mail["Subject"]
    assert "合肥 Hefei (340100)" in mail["Subject"]
    for needle in (
        "fct_project_lifecycle: expect_column_values_to_be_between(cooperation_amount_yuan)",
        "已发布的版本保持不变",
        "the published version is unchanged",
        "怎么办 / What to do",
        "corrects them and submits the file again",
        "asset_triggered__2026",
    ):
        assert needle in text, needle
    assert sorted(a.strip() for a in mail["To"].split(",")) == [
        "city-office@localhost",
        "ops@localhost",
    ]
    assert posted[0]["kind"] == "gate_blocked" and posted[0]["cities"] == ["340100"]
    assert "无锡" not in text  # a warning's city is not blamed


def test_a_task_failure_names_the_task_and_what_to_do(channels) -> None:
    inbox, posted = channels
    ScenetrackNotifier("task_failed")(_context(OSError("No space left on device"), "dbt_build"))
    assert len(inbox) == 1 and len(posted) == 1
    text = unescape(body_text(inbox[0]))
    assert "scenetrack_transform.dbt_build" in inbox[0]["Subject"]
    assert "No space left on device" in text and "Clear" in text and "重跑" in text


def test_a_gate_task_failing_for_another_reason_is_a_task_failure(channels) -> None:
    inbox, _ = channels
    ScenetrackNotifier("gate_blocked")(_context(ConnectionError("server closed the connection")))
    assert "Task failed after retries" in inbox[0]["Subject"]


def test_quiet_cities_are_named_with_their_last_report(channels) -> None:
    inbox, posted = channels
    ScenetrackNotifier("city_silent")(
        {**_context(RuntimeError()), "quiet_cities": {"320200": "2025-01-02"}, "freshness_days": 90}
    )
    text = unescape(body_text(inbox[0]))
    assert "无锡 Wuxi (320200)" in text and "2025-01-02" in text and "90" in inbox[0]["Subject"]
    assert posted[0]["cities"] == {"320200": "2025-01-02"}


def test_a_channel_down_does_not_stop_the_other(channels, monkeypatch) -> None:
    inbox, posted = channels
    monkeypatch.setenv(
        "AIRFLOW_CONN_SCENETRACK_SMTP",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": 1,
                    "extra": {"to": "x@localhost", "from_email": "s@localhost",
                              "disable_ssl": True, "disable_tls": True}}),
    )  # fmt: skip
    ScenetrackNotifier("gate_blocked")(_context(_blocked()))
    assert inbox == [] and len(posted) == 1


def test_quiet_cities_follow_the_gates_freshness_rule(home, monkeypatch) -> None:
    import duckdb

    from scenetrack.notify import quiet_cities

    monkeypatch.delenv("SCENETRACK_WAREHOUSE", raising=False)
    monkeypatch.delenv("SCENETRACK_REFERENCE_DATE", raising=False)
    assert quiet_cities(home, date(2025, 12, 31)) == {}  # nothing ingested yet
    con = duckdb.connect(str(home.work_db))
    con.execute("create schema staging")
    con.execute("create table staging.stg_raw__events (city_code varchar, reported_at date)")
    con.execute(
        "insert into staging.stg_raw__events values "
        "('340100', '2025-01-05'), ('340100', '2025-09-30'), "  # newest 92 days before
        "('320200', '2025-10-02'), ('440300', '2024-12-31')"  # 90 days: fresh; a year: quiet
    )
    con.close()
    # 90 days (SCENETRACK_FRESHNESS_DAYS' default) before 2025-12-31 is 2025-10-02
    assert quiet_cities(home, date(2025, 12, 31)) == {
        "340100": "2025-09-30",
        "440300": "2024-12-31",
    }
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-10-10")  # the pinned evaluation date
    assert quiet_cities(home) == {"440300": "2024-12-31"}
