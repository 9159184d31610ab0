"""Repair without re-sending: quarantined for an alias the platform lacked → alias added →
``scenetrack replay`` → the rows load once, the marts follow after ``run``, and a second
replay changes nothing.

The alias is added to a copy of ``ingestion/city_aliases.csv`` (the reference the intake
reads), never to the checked-in file.
"""

from __future__ import annotations

import json
import shutil

import pytest

from ingestion import reference
from scenetrack import pipeline
from scenetrack.cli import main
from scenetrack.config import Paths
from tests.conftest import fetch
from tests.ingestion.corpus import write_text

WUXI = "320200"
DISTRICT = "无锡市滨湖区"  # a district-level way of writing the city: no alias knows it yet


@pytest.fixture
def city_aliases(tmp_path, monkeypatch):
    """A copy of the city aliases the intake reads; returns a function adding one."""
    copy = tmp_path / "city_aliases.csv"
    shutil.copyfile(reference.CITY_ALIASES_FILE, copy)
    monkeypatch.setattr(reference, "CITY_ALIASES_FILE", copy)

    def add(alias: str, code: str) -> None:
        with copy.open("a", encoding="utf-8") as f:
            f.write(f"{alias},{code},a district of the city (added by the operator)\n")

    return add


def _state(p: Paths) -> tuple:
    """Everything a replay may change, without stamps."""
    return (
        fetch(
            p.work_db,
            "select source_line, project_id, load_id, file_load_id from raw.events order by 1",
        ),
        fetch(
            p.work_db,
            "select source_line, column_name, raw_value, reason from raw.quarantine "
            "order by 1, 2, 4",
        ),
        fetch(
            p.work_db,
            "select rows_read, rows_loaded, rows_quarantined, load_id from raw.file_ledger",
        ),
    )


def test_quarantined_alias_added_replayed_loaded_once_published(
    tmp_path, monkeypatch, city_aliases, capsys
) -> None:
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    home = Paths(tmp_path / "home").ensure()
    f = write_text(
        tmp_path / "无锡事件.csv",
        "城市,项目编号,阶段,事件,日期,合作金额\n"
        "无锡,W1,场景机会,进入,2025-03-01,\n"  # line 2: loads
        f"{DISTRICT},W2,场景机会,进入,2025-03-02,\n"  # 3: unknown_city
        f"{DISTRICT},W3,场景机会,进入,2025-02-30,\n"  # 4: unknown_city and bad_date
        "无锡,W4,需求征集,进入,2025-03-04,\n"  # 5: unknown_stage (another reason)
        f"{DISTRICT},W2,落地,进入,2025-06-01,300万元\n",  # 6: unknown_city
    )
    [r] = pipeline.ingest_paths(home, [f])
    assert (r.rows_read, r.rows_loaded, r.rows_quarantined) == (5, 1, 4)
    pipeline.run(home)
    assert fetch(home.published_db, "select project_id from fct_project_lifecycle") == [("W1",)]

    city_aliases(DISTRICT, WUXI)
    assert main(["replay", "--reason", "unknown_city", "--home", str(home.home), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["rows_loaded"], out["rows_still_quarantined"]) == (2, 1)
    [replayed] = out["receipts"]
    assert replayed["status"] == "replayed"
    assert (replayed["rows_read"], replayed["rows_loaded"], replayed["rows_quarantined"]) == (
        3,
        2,
        1,
    )
    assert replayed["quarantine_by_reason"] == {"bad_date": 1}
    assert replayed["load_id"] == 2  # a new number of the load sequence: staging sees it
    receipt = json.loads(open(replayed["receipt_json"], encoding="utf-8").read())
    assert receipt["receipt"]["accounting_ok"] is True
    assert {(q["line"], q["reason"]) for q in receipt["quarantined"]} == {
        (4, "bad_date"),  # its city is known now; its date is still wrong
        (5, "unknown_stage"),  # not replayed (another reason): still waiting as it was
    }
    events, quarantine, ledger = _state(home)
    assert events == [(2, "W1", 1, 1), (3, "W2", 2, 1), (6, "W2", 2, 1)]
    assert quarantine == [
        (4, "event_date", "2025-02-30", "bad_date"),
        (5, "stage", "需求征集", "unknown_stage"),
    ]
    assert ledger == [(5, 3, 2, 1)]  # rows read = loaded + quarantined, the file's own load
    assert fetch(
        home.work_db,
        "select rows_considered, rows_loaded, rows_still_quarantined, events_loaded, "
        "reason_filter from raw.replays",
    ) == [(3, 2, 1, 2, "unknown_city")]
    assert fetch(
        home.work_db, "select times_replayed, last_replayed_load_id from raw.file_ledger"
    ) == [(1, 2)]

    before = _state(home)
    assert main(["replay", "--home", str(home.home), "--json"]) == 0  # again, every reason
    again = json.loads(capsys.readouterr().out)
    assert again["rows_loaded"] == 0
    assert [r["status"] for r in again["receipts"]] == ["unchanged"]
    assert _state(home) == before  # nothing loaded twice, nothing rewritten
    assert len(fetch(home.work_db, "select * from raw.replays")) == 1

    pipeline.run(home)  # the next run publishes what the replay loaded
    assert fetch(
        home.published_db,
        "select project_id, city_code, current_stage, cooperation_amount_yuan "
        "from fct_project_lifecycle order by 1",
    ) == [("W1", WUXI, "opportunity", None), ("W2", WUXI, "application", 3000000)]
    assert fetch(
        home.published_db,
        "select opportunities_published, projects_reached_application, cooperation_amount_yuan "
        "from mart_city_scorecard where period_type = 'all' and city_code = '320200'",
    ) == [(2, 1, 3000000)]


def test_quarantine_lists_what_waits_most_frequent_first(home: Paths, tmp_path, capsys) -> None:
    f = write_text(
        tmp_path / "e.csv",
        "城市,项目编号,阶段,事件,日期\n"
        "Atlantis,A1,验证,进入,2025-13-01\n"  # unknown_city and bad_date
        "Atlantis,A2,验证,进入,2025-01-01\n"
        "合肥,A3,dreaming,进入,2025-01-01\n",
    )
    pipeline.ingest_paths(home, [f])
    assert main(["quarantine", "--home", str(home.home), "--json"]) == 0
    by_reason = json.loads(capsys.readouterr().out)
    assert (by_reason["rows"], by_reason["files"]) == (3, 1)
    assert [(g["reason"], g["rows"]) for g in by_reason["groups"]] == [
        ("unknown_city", 2),
        ("bad_date", 1),
        ("unknown_stage", 1),
    ]
    assert main(["quarantine", "--by", "value", "--home", str(home.home), "--json"]) == 0
    by_value = json.loads(capsys.readouterr().out)["groups"]
    assert [(g["column_name"], g["raw_value"], g["rows"]) for g in by_value] == [
        ("city", "Atlantis", 2),
        ("event_date", "2025-13-01", 1),
        ("stage", "dreaming", 1),
    ]
    assert main(["quarantine", "--by", "city", "--home", str(home.home)]) == 0
    text = capsys.readouterr().out
    assert "(unknown)" in text and "340100" in text
    assert text.index("(unknown)") < text.index("340100")  # 2 rows before 1
    assert main(["replay", "--reason", "no_such_reason", "--home", str(home.home)]) == 1
    assert "is no row reason code" in capsys.readouterr().err


def test_replay_shows_its_progress_like_ingest(home: Paths, tmp_path) -> None:
    """stderr on a pipe: timestamped lines counting files, rows read again and rows loaded;
    stdout: the result only."""
    import re

    from tests.cli.terminal import STAMP, run_cli

    pipeline.ingest_paths(
        home,
        [
            write_text(
                tmp_path / "e.csv",
                "城市,项目编号,阶段,事件,日期\nAtlantis,A1,验证,进入,2025-01-01\n"
                "合肥,A2,验证,进入,2025-01-01\n",
            )
        ],
    )
    run = run_cli("replay", "--home", str(home.home), tty=False)
    assert run.code == 0, run.stderr
    lines = [STAMP.sub("", ln) for ln in run.stderr.splitlines()]
    assert lines[0] == "replay: 0/1 files"
    assert re.fullmatch(r"replay: done 1/1 files · 1 rows · 0 loaded in \d+\.\d s", lines[-1])
    assert run.stdout.splitlines()[:2] == [
        "unchanged e.csv: read 1, loaded 0, quarantined 1, duplicate 0",
        "replayed 1 file(s): 0 row(s) loaded, 1 still quarantined",
    ]
