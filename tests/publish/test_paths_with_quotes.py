"""Paths are parameters, never pasted into SQL (issue 17, finding 8).

A ``--home`` or ``--out`` with an apostrophe used to crash publish and export with a
traceback after dbt and the gate had run.
"""

from __future__ import annotations

import duckdb

from scenetrack.cli import main
from tests.conftest import event, write_csv


def test_an_apostrophe_in_home_and_out_paths(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    home = tmp_path / "O'Brien's warehouse"
    rows = [
        event("合肥", "P1", "opportunity", "enter", "2025-01-10"),
        event("合肥", "P1", "validation", "enter", "2025-03-01"),
    ]
    f = write_csv(tmp_path / "it's a file.csv", rows)
    assert main(["ingest", str(f), "--home", str(home)]) == 0
    assert main(["run", "--home", str(home)]) == 0
    for fmt in ("csv", "xlsx", "parquet"):
        out = tmp_path / f"exports for the 'evaluator' ({fmt})"
        assert main(["export", "--format", fmt, "--home", str(home), "--out", str(out)]) == 0
        assert (out / f"fct_project_lifecycle.{fmt}").is_file()
    parquet = home / "published" / "parquet" / "fct_project_lifecycle.parquet"
    rows = duckdb.connect().execute("select count(*) from read_parquet(?)", [str(parquet)])
    assert rows.fetchall() == [(1,)]
    assert main(["report", "--home", str(home)]) == 0
    assert "Traceback" not in capsys.readouterr().err
