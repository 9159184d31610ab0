"""Two writers at once against one home: one waits (or gives up naming the holder); nothing
is corrupted or loaded twice."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from scenetrack.config import PROJECT_DIR, Paths
from tests.faults.conftest import data_rows
from tests.faults.helpers import child_env, ledger_accounting

HOLD_LOCK = """
import sys
from pathlib import Path
from scenetrack.config import Paths
from scenetrack.warehouse import writer_lock
with writer_lock(Paths(Path(sys.argv[1]))):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
"""


def _cli(home: Paths, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scenetrack.cli", *args, "--home", str(home.home)],
        env=child_env(**env),
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_second_writer_gives_up_naming_the_holder(home: Paths, submissions: list[Path]) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(home.home)],
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        valid = [f for f in submissions if f.name != "scan.csv"]
        for args in (["ingest", *map(str, valid)], ["run"]):
            proc = _cli(home, *args, SCENETRACK_LOCK_TIMEOUT="1")
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 3, err
            assert f"being written by pid {holder.pid} on {socket.gethostname()}" in err
            assert "waited 1 s" in err and "Traceback" not in err
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not home.work_db.exists() or ledger_accounting(home) == {}  # nothing was written
    proc = _cli(home, "ingest", *map(str, valid), SCENETRACK_LOCK_TIMEOUT="1")
    assert proc.wait(timeout=300) == 0  # the lock was released with its holder


def test_two_ingests_at_once_load_each_file_exactly_once(
    home: Paths, submissions: list[Path]
) -> None:
    valid = [f for f in submissions if f.name != "scan.csv"]
    procs = [_cli(home, "ingest", "--json", *map(str, valid)) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    statuses: dict[str, list[str]] = {}
    for out, _ in outs:
        for r in json.loads(out)["receipts"]:
            statuses.setdefault(r["file"], []).append(r["status"])
    assert all(sorted(s) == ["duplicate", "loaded"] for s in statuses.values()), statuses
    ledger = ledger_accounting(home)
    assert len(ledger) == len(valid)
    assert sum(v[4] + v[5] for v in ledger.values()) == data_rows(valid)
