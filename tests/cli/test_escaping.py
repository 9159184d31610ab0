"""File names with a newline or an ESC sequence cannot forge lines or reach the terminal raw."""

from __future__ import annotations

from scenetrack.config import Paths
from tests.cli.terminal import STAMP, run_cli
from tests.conftest import event, write_csv

FORGED = "\nloaded    forged.csv: read 999, loaded 999, quarantined 0, duplicate 0\n"
CLEAR_SCREEN = "\x1b[2J\x1b]0;pwned\x07"


def _evil_files(tmp_path) -> tuple:
    good = write_csv(
        tmp_path / f"合肥{FORGED}{CLEAR_SCREEN}.csv",
        [event("合肥", "H1", "opportunity", "enter", "2025-05-13")],
    )
    bad = tmp_path / f"empty{FORGED}\x1b[31m.csv"
    bad.write_text("")
    return good, bad


def test_ingest_output_is_escaped_on_a_pipe(tmp_path) -> None:
    good, bad = _evil_files(tmp_path)
    run = run_cli("ingest", "--home", str(tmp_path / "h"), str(good), str(bad), tty=False)
    assert run.code == 1  # the empty file is rejected
    for stream in (run.stdout, run.stderr):
        assert "\x1b" not in stream and "\x07" not in stream
        assert not any(ln.startswith("loaded    forged.csv") for ln in stream.splitlines())
    out = run.stdout.splitlines()
    assert len(out) == 3  # one line per file, then where the receipts are
    assert out[0] == (
        "loaded    合肥\\nloaded    forged.csv: read 999, loaded 999, quarantined 0, duplicate 0"
        "\\n\\x1b[2J\\x1b]0;pwned\\x07.csv: read 1, loaded 1, quarantined 0, duplicate 0"
    )
    assert out[1].startswith("REJECTED empty\\nloaded    forged.csv") and "\\x1b[31m.csv" in out[1]
    errors = [ln for ln in run.stderr.splitlines() if not STAMP.match(ln)]
    assert len(errors) == 1 and errors[0].startswith("error: empty\\nloaded    forged.csv")


def test_ingest_output_is_escaped_on_a_terminal(tmp_path) -> None:
    good, bad = _evil_files(tmp_path)
    run = run_cli("ingest", "--home", str(tmp_path / "h"), str(good), str(bad), tty=True)
    assert run.code == 1
    assert "\x1b[2J" not in run.stderr and "\x1b]0;pwned" not in run.stderr  # never sent raw
    assert "\x1b[31m.csv" not in run.stderr
    assert "\\x1b[31m.csv could not be read" in run.screen  # the error line, escaped
    assert "\x1b" not in run.stdout


def test_status_shows_escaped_values_from_the_work_database(tmp_path) -> None:
    """A quarantine reason and a gate observation that came from data, printed escaped."""
    from scenetrack.gate import GATE_RESULTS_DDL
    from scenetrack.warehouse import connect_work

    home = Paths(tmp_path / "h").ensure()
    con = connect_work(home)
    try:
        con.execute(
            "insert into raw.quarantine (source_file_sha256, source_file_name, layout, "
            "source_line, column_name, raw_value, reason, quarantined_at) values ('sha', "
            "'f.csv', 'events', 2, 'city', 'x', 'bad\nledger loaded: 1 files\x1b[2J', now())"
        )
        con.execute(GATE_RESULTS_DDL)
        con.execute(
            "insert into audit.gate_results (run_id, run_at, suite, expectation, column_name, "
            "severity, success, observed_value, unexpected_count, unexpected_sample, notes) "
            "values ('r1', now(), 'suite', 'expect_x', 'c', "
            "'error', false, 'seen\n  ERROR forged: \x1b[31m', 1, null, null)"
        )
    finally:
        con.close()
    run = run_cli("status", "--home", str(home.home), tty=False)
    assert run.code == 0, run.stderr
    assert "\x1b" not in run.stdout
    lines = run.stdout.splitlines()
    assert not any(
        ln.startswith("ledger loaded") or ln.startswith("  ERROR forged") for ln in lines
    )
    assert any("bad\\nledger loaded: 1 files\\x1b[2J" in ln for ln in lines)
    assert any("observed: seen\\n  ERROR forged: \\x1b[31m" in ln for ln in lines)
