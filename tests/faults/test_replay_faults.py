"""A replay killed anywhere, or two at once: the rows it makes readable load exactly once.

The replay runs in a child process that the fault hook kills with SIGKILL at a named point
(``replay:after_insert``: raw rows inserted, quarantine and ledger not yet updated;
``replay:before_commit``: everything written, not committed; ``replay:after_commit``). The
child reads a copy of the city aliases with the alias the rows lacked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from ingestion import reference
from scenetrack import pipeline
from scenetrack.config import PROJECT_DIR, Paths
from tests.faults.helpers import KILLED, child_env, ledger_accounting, run_step
from tests.ingestion.corpus import write_text

DISTRICT = "无锡市滨湖区"
ROWS = (
    "城市,项目编号,阶段,事件,日期\n"
    "无锡,W1,场景机会,进入,2025-03-01\n"
    f"{DISTRICT},W2,场景机会,进入,2025-03-02\n"
    f"{DISTRICT},W3,场景机会,进入,2025-03-03\n"
    f"{DISTRICT},W4,场景机会,进入,2025-02-30\n"  # stays: its date is wrong too
)


@pytest.fixture
def waiting(home: Paths, tmp_path) -> Path:
    """One file ingested with three rows quarantined for a city name no alias knows; returns
    a copy of the city aliases that knows it (what the children read)."""
    [r] = pipeline.ingest_paths(home, [write_text(tmp_path / "wuxi.csv", ROWS)])
    assert (r.rows_loaded, r.rows_quarantined) == (1, 3)
    aliases = tmp_path / "city_aliases.csv"
    shutil.copyfile(reference.CITY_ALIASES_FILE, aliases)
    with aliases.open("a", encoding="utf-8") as f:
        f.write(f"{DISTRICT},320200,a district\n")
    return aliases


def _replay_code(aliases: Path) -> str:
    return (
        "from ingestion import reference\n"
        f"reference.CITY_ALIASES_FILE = Path({str(aliases)!r})\n"
        "pipeline.replay(home)\n"
    )


def _loaded_once(home: Paths) -> None:
    ledger = ledger_accounting(home)  # read = loaded + quarantined; quarantine lines agree
    [(status, read, loaded, quarantined, _, _)] = ledger.values()
    assert (status, read, loaded, quarantined) == ("loaded", 4, 3, 1)
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        events = con.execute(
            "select project_id, count(*) from raw.events group by 1 order by 1"
        ).fetchall()
        waiting = con.execute("select source_line, reason from raw.quarantine").fetchall()
        replays = con.execute("select rows_loaded from raw.replays").fetchall()
        ids = con.execute("select max(load_id) from raw.events").fetchone()[0]
    finally:
        con.close()
    assert events == [("W1", 1), ("W2", 1), ("W3", 1)]  # never twice
    assert waiting == [(5, "bad_date")]
    assert replays == [(2,)]  # one replay loaded them; the others found nothing new
    assert ids == 2


@pytest.mark.parametrize(
    "fault", ["replay:after_insert", "replay:before_commit", "replay:after_commit"]
)
def test_a_killed_replay_then_rerun_loads_each_row_once(
    home: Paths, waiting: Path, fault: str
) -> None:
    assert run_step(_replay_code(waiting), home, fault) == KILLED
    committed = fault == "replay:after_commit"
    ledger = ledger_accounting(home)  # consistent after the kill, whatever it left
    assert [v[2] for v in ledger.values()] == [3 if committed else 1]
    assert run_step(_replay_code(waiting), home) == 0  # the plain rerun
    _loaded_once(home)
    assert run_step(_replay_code(waiting), home) == 0  # and once more: nothing twice
    _loaded_once(home)


def test_two_replays_at_once_load_each_row_once(home: Paths, waiting: Path) -> None:
    prelude = (
        "from pathlib import Path\n"
        "from scenetrack.config import Paths\n"
        "from scenetrack import pipeline\n"
        f"home = Paths(Path({str(home.home)!r}))\n"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", prelude + _replay_code(waiting)],
            env=child_env(),
            cwd=PROJECT_DIR,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        _, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
    _loaded_once(home)
