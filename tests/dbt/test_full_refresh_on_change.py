"""A pipeline build after the dbt project changed is a full refresh: an incremental run never
rereads the rows it wrote earlier, so new codes, reasons or columns would reach only new rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from ingestion.generate import generate
from scenetrack import config, pipeline
from scenetrack.config import Paths
from scenetrack.pipeline import build, dbt_project_fingerprint, ingest_paths


def _copy_of_the_project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt_project"
    for folder in ("models", "macros", "seeds"):
        shutil.copytree(config.DBT_PROJECT_DIR / folder, project / folder)
    shutil.copy(config.DBT_PROJECT_DIR / "dbt_project.yml", project)
    return project


def test_the_fingerprint_follows_models_macros_seeds_and_the_project_file(tmp_path, monkeypatch):
    real = dbt_project_fingerprint()
    project = _copy_of_the_project(tmp_path)
    monkeypatch.setattr(config, "DBT_PROJECT_DIR", project)
    assert dbt_project_fingerprint() == real  # the same files, elsewhere
    (project / "profiles.yml").write_text("not a part of it\n")
    assert dbt_project_fingerprint() == real
    seen = {real}
    edits = [
        project / "seeds" / "ref_termination_reasons.csv",
        project / "macros" / "remove_rewritten_projects.sql",
        project / "models" / "marts" / "mart_stage_activity.sql",
        project / "dbt_project.yml",
    ]
    for path in edits:
        with path.open("a", encoding="utf-8") as f:
            f.write("\n")
        now = dbt_project_fingerprint()
        assert now not in seen, path.name
        seen.add(now)
    # a file renamed, its bytes unchanged, is another project too
    (project / "macros" / "renamed.sql").write_bytes(
        (project / "macros" / "remove_rewritten_projects.sql").read_bytes()
    )
    (project / "macros" / "remove_rewritten_projects.sql").unlink()
    assert dbt_project_fingerprint() not in seen


def _run_numbers(p: Paths) -> set[int]:
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        rows = con.execute(
            "select distinct dbt_run_seq from marts.mart_stage_activity "
            "union select distinct dbt_run_seq from marts.fct_project_lifecycle"
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def test_a_build_after_the_project_changed_rewrites_every_row(tmp_path, monkeypatch):
    home = Paths(tmp_path / "home").ensure()
    ingest_paths(home, generate(tmp_path / "subs", cities=3, seed=4))
    build(home)
    (first,) = _run_numbers(home)
    build(home)  # nothing new: the incremental run rewrites no row
    assert _run_numbers(home) == {first}
    monkeypatch.setattr(pipeline, "dbt_project_fingerprint", lambda: "another project")
    build(home)  # every row written again, by the newest run
    (again,) = _run_numbers(home)
    assert again > first + 1
    build(home)  # recorded: the next build is incremental again
    assert _run_numbers(home) == {again}
