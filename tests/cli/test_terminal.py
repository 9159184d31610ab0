"""Progress as the operator sees it: live on a terminal, timestamped lines on a pipe, nothing
on stdout but the result (``--json`` stays one JSON document).

The commands run in a child process, stderr on a pseudo-terminal (``pty``) or a pipe. Expected
counts come from elsewhere than the progress code: rows from the CSV files (``csv``), dbt
nodes from dbt's own ``run_results.json``, GX validations from the gate's
``audit.gate_results``, marts from the published file, city pages from the report folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pytest

from ingestion.generate import generate
from scenetrack.config import EXPECTATIONS_DIR, Paths
from tests.cli.terminal import STAMP, Run, run_cli
from tests.report.pages import read_page


@pytest.fixture(scope="module")
def submissions(tmp_path_factory) -> tuple[list[Path], int]:
    """Four cities' submissions and their data rows, counted with the csv module."""
    files = generate(tmp_path_factory.mktemp("samples"), cities=4, seed=5)
    rows = 0
    for f in files:
        with f.open(encoding="utf-8-sig", newline="") as fh:
            rows += sum(1 for r in csv.reader(fh) if any(c.strip() for c in r)) - 1
    return files, rows


def _plain_lines(run: Run) -> list[str]:
    """stderr of a pipe: every line timestamped; returned without the stamp."""
    lines = run.stderr.splitlines()
    assert lines, "no progress on the pipe"
    assert all(STAMP.match(ln) for ln in lines), lines
    assert "\x1b" not in run.stderr
    return [STAMP.sub("", ln) for ln in lines]


def _live(run: Run) -> str:
    """stderr of a terminal: a live Rich display, no timestamped lines."""
    assert "\x1b[?25l" in run.stderr, "no live display (the cursor is hidden while it draws)"
    assert not any(STAMP.match(ln) for ln in run.screen.splitlines())
    return run.screen


def test_ingest_on_a_pipe_prints_timestamped_lines_and_only_receipts_on_stdout(
    submissions, tmp_path
) -> None:
    files, rows = submissions
    run = run_cli("ingest", "--home", str(tmp_path / "h"), *map(str, files), tty=False)
    assert run.code == 0, run.stderr
    lines = _plain_lines(run)
    assert lines[0] == f"ingest: 0/{len(files)} files"
    assert lines[-1].startswith(f"ingest: done {len(files)}/{len(files)} files · {rows:,} rows")
    out = run.stdout.splitlines()
    assert len(out) == len(files) + 1 and out[-1].startswith("receipts (JSON + XLSX): ")
    assert all(ln.startswith("loaded    ") for ln in out[:-1])


def test_ingest_on_a_terminal_shows_live_progress_and_json_stays_json(
    submissions, tmp_path
) -> None:
    files, rows = submissions
    run = run_cli("ingest", "--home", str(tmp_path / "h"), "--json", *map(str, files), tty=True)
    assert run.code == 0, run.stderr
    receipts = json.loads(run.stdout)["receipts"]
    assert sum(r["rows_read"] for r in receipts) == rows
    screen = _live(run)
    assert f"{len(files)}/{len(files)} files · {rows:,} rows" in screen


@pytest.fixture(scope="module")
def ingested(submissions, tmp_path_factory) -> Paths:
    home = Paths(tmp_path_factory.mktemp("run") / "home")
    run = run_cli("ingest", "--home", str(home.home), *map(str, submissions[0]), tty=False)
    assert run.code == 0, run.stderr
    return home


def _counts(home: Paths) -> tuple[int, int, int]:
    """(dbt nodes per dbt's run_results.json, hooks aside; GX validations of the last gate
    run; published marts).

    A first gate validates each suite file once; a later one splits the suites over growing
    tables into their changed rows and their row counts (scenetrack.gate.scope): the gate
    stores one `gate_guard_gx_saw_every_row` outcome per validation, whichever it was."""
    results = json.loads((home.dbt_target_dir / "run_results.json").read_text())["results"]
    results = [r for r in results if not r["unique_id"].startswith("operation.")]  # hooks
    con = duckdb.connect(str(home.work_db), read_only=True)
    try:
        [(suites,)] = con.execute(
            "select count(*) from audit.gate_results where expectation = "
            "'gate_guard_gx_saw_every_row' and run_id = "
            "(select run_id from audit.gate_runs order by run_at desc limit 1)"
        ).fetchall()
    finally:
        con.close()
    con = duckdb.connect(str(home.published_db), read_only=True)
    try:
        marts = con.execute(
            "select count(*) from duckdb_tables() where table_name <> 'publish_info'"
        ).fetchone()[0]
    finally:
        con.close()
    nodes = [r for r in results if not r["unique_id"].startswith("operation.")]  # hooks
    return len(nodes), suites, marts


def test_run_on_a_terminal_counts_dbt_nodes_gate_suites_and_marts(ingested) -> None:
    run = run_cli("run", "--home", str(ingested.home), "--json", tty=True)
    assert run.code == 0, run.stderr
    outcome = json.loads(run.stdout)
    nodes, suites, marts = _counts(ingested)
    assert suites == len(list(EXPECTATIONS_DIR.glob("*.json")))  # the first gate: every file
    assert outcome["dbt_nodes"] == nodes
    screen = _live(run)
    assert "dbt build" in screen and f"{nodes}/{nodes} nodes" in screen
    assert "quality gate" in screen and f"{suites}/{suites} suites" in screen
    assert "publish: copy marts" in screen and f"{marts}/{marts} marts" in screen


def test_run_on_a_pipe_prints_each_step_with_its_counts(ingested) -> None:
    run = run_cli("run", "--home", str(ingested.home), tty=False)
    assert run.code == 0, run.stderr
    nodes, suites, marts = _counts(ingested)
    done = [ln for ln in _plain_lines(run) if ": done " in ln]
    steps = [ln.split(": done ")[0] for ln in done]
    assert steps == [
        "dbt build",
        "quality gate: loading Great Expectations",
        "quality gate",
        "publish: copy marts",
        "publish: Parquet copies",
        "report (zh)",
        "report (en)",
    ]
    assert done[0].startswith(f"dbt build: done {nodes}/{nodes} nodes in ")
    assert done[2].startswith(f"quality gate: done {suites}/{suites} suites in ")
    assert done[3].startswith(f"publish: copy marts: done {marts}/{marts} marts in ")
    assert run.stdout.startswith(f"built {nodes} dbt nodes; gate ") and run.stdout.count("\n") == 2
    # the CLI's publish rebuilt the report: it shows the version just published
    version = int(run.stdout.split("published version ")[1].split()[0])
    page = read_page(ingested.published_dir / "report" / "index.html")
    assert page.figures["version"][0] == str(version)


def test_export_and_report_show_tables_and_city_pages(ingested, tmp_path) -> None:
    if not ingested.published_db.exists():
        assert run_cli("run", "--home", str(ingested.home), tty=False).code == 0
    _, _, marts = _counts(ingested)
    export = run_cli(
        "export", "--home", str(ingested.home), "--format", "csv", "--out", str(tmp_path),
        tty=False,
    )  # fmt: skip
    assert export.code == 0, export.stderr
    assert _plain_lines(export)[-1].startswith(f"export csv: done {marts}/{marts} tables")
    report = run_cli("report", "--home", str(ingested.home), "--lang", "en", tty=False)
    assert report.code == 0, report.stderr
    pages = len(list((ingested.published_dir / "report" / "en" / "city").glob("*.html")))
    assert pages > 0
    assert _plain_lines(report)[-1].startswith(f"report (en): done {pages}/{pages} city pages")
