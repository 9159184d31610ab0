"""The landing folder is not a door to the filesystem (issue 17, finding 5).

A symbolic link dropped there used to be followed: a link to /etc/passwd put its first line
into a receipt and the ledger, and a link to any readable file outside was loaded and
archived. Anything in the landing folder that is not a regular file is now rejected with a
reason, without being read; ``scenetrack ingest`` names what a special file is.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import duckdb

from scenetrack import pipeline
from scenetrack.cli import main
from scenetrack.config import Paths
from scenetrack.triggers import scan_landing
from tests.conftest import event, write_csv

SECRET = "root:x:0:0:the first line of a file outside:/root:/bin/bash"


def _everything_written(home: Paths) -> str:
    """Every receipt, the ledger and the raw rows, as one text to search."""
    texts = [f.read_text(errors="replace") for f in home.home.rglob("*.json")]
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        for table in ("file_ledger", "events", "capabilities", "quarantine"):
            texts.append(repr(con.execute(f"select * from raw.{table}").fetchall()))
    finally:
        con.close()
    return "\n".join(texts)


def test_links_in_the_landing_folder_are_rejected_and_never_read(home: Paths, tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "passwd"
    secret.write_text(SECRET + "\n")
    valid = write_csv(
        outside / "valid.csv", [event("合肥", "P1", "opportunity", "enter", "2025-03-01")]
    )
    landing = home.home / "landing"
    landing.mkdir()
    (landing / "passwd.csv").symlink_to(secret)
    (landing / "valid.csv").symlink_to(valid)
    (landing / "dangling.csv").symlink_to(outside / "nothing-here")
    good = write_csv(
        landing / "good.csv", [event("无锡", "W1", "opportunity", "enter", "2025-03-01")]
    )

    assert set(scan_landing(str(landing))) == {
        "passwd.csv",
        "valid.csv",
        "dangling.csv",
        "good.csv",
    }
    receipts = {r.file: r for r in pipeline.ingest_landing(home)}

    assert receipts["good.csv"].status == "loaded"
    for name in ("passwd.csv", "valid.csv", "dangling.csv"):
        r = receipts[name]
        assert r.status == "rejected"
        assert r.reason_code == "not_a_regular_file"
        assert "symbolic link" in r.reason
        assert r.sha256 is None  # never opened, never hashed
        rejected = home.home / "rejected" / name
        assert rejected.is_symlink()  # the link itself was moved, its target left alone
    assert secret.read_text() == SECRET + "\n" and valid.exists()
    written = _everything_written(home)
    assert "the first line of a file outside" not in written
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        assert con.execute("select project_id from raw.events").fetchall() == [("W1",)]
        ledger = con.execute("select file_name, status from raw.file_ledger").fetchall()
    finally:
        con.close()
    assert ledger == [("good.csv", "loaded")]
    archived = [f.name for f in home.archive_dir.rglob("*") if f.is_file()]
    assert archived == [good.name]


def test_a_named_pipe_in_the_landing_folder_is_rejected_without_blocking(home: Paths) -> None:
    landing = home.home / "landing"
    landing.mkdir()
    os.mkfifo(landing / "pipe.csv")
    done: list = []
    worker = threading.Thread(target=lambda: done.append(pipeline.ingest_landing(home)))
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # opening a FIFO for reading would block until a writer comes
        with open(landing / "pipe.csv", "w"):
            pass
        worker.join()
        raise AssertionError("ingest opened the named pipe")
    [r] = done[0]
    assert (r.status, r.reason_code) == ("rejected", "not_a_regular_file")
    assert "named pipe" in r.reason


def test_ingest_names_what_a_special_file_is(home: Paths, tmp_path, capsys) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    fifo = tmp_path / "a-pipe"
    os.mkfifo(fifo)
    code = main(["ingest", str(folder), str(fifo), "/dev/null", "--home", str(home.home), "--json"])
    assert code == 1
    out = json.loads(capsys.readouterr().out)
    reasons = {Path(r["file"]).name: r["reason"] for r in out["receipts"]}
    assert reasons["a-folder"].startswith("not_a_regular_file: a-folder is a directory")
    assert reasons["a-pipe"].startswith("not_a_regular_file: a-pipe is a named pipe")
    assert reasons["null"].startswith("not_a_regular_file: null is a character device")
    assert not any("not_found" in r for r in reasons.values())


def test_a_link_named_on_the_command_line_is_the_operators_choice(home: Paths, tmp_path) -> None:
    target = write_csv(
        tmp_path / "real.csv", [event("合肥", "P1", "opportunity", "enter", "2025-03-01")]
    )
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    [r] = pipeline.ingest_paths(home, [link])
    assert r.status == "loaded"
