"""dbt's SQL without dbt: the reference ``dbt build`` is measured against.

After ``dbt compile --full-refresh`` (so every incremental model compiles to its full-refresh
SELECT), the compiled SQL of every model is taken from ``<target>/compiled/`` and put in DAG
order (dbt's ``manifest.json``), each wrapped as ``create or replace table|view <relation> as
...`` the way its materialization says; every data test's compiled SQL follows the model(s)
it tests as ``select count(*) from (<test>)`` (dbt build runs the same queries). Seeds are
not reloaded (they are already in the database; a few hundred rows). The script runs on the
same DuckDB file through one connection. So the difference between the two is what dbt adds:
process start, project parse, Jinja, adapter round trips, run_results and docs persistence.
"""

from __future__ import annotations

import json
import time
from graphlib import TopologicalSorter
from pathlib import Path

import duckdb

END = "-- @@end of statement"
MATERIALIZE = {"table": "table", "incremental": "table", "view": "view"}


def _compiled_sql(node: dict, target: Path) -> str:
    path = target / "compiled" / node["package_name"] / node["original_file_path"]
    if not node["original_file_path"].endswith(".sql"):  # a generic test defined in YAML
        path = path / node["path"]
    if path.is_file():
        return path.read_text()
    if node.get("compiled_code"):
        return node["compiled_code"]
    raise FileNotFoundError(f"no compiled SQL for {node['unique_id']} (looked at {path})")


def build_script(target: Path) -> tuple[str, dict]:
    """The SQL script from a compiled target directory; returns (script, counts)."""
    manifest = json.loads((target / "manifest.json").read_text())
    nodes = {
        uid: n
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] in ("model", "test") and n["config"].get("enabled", True)
    }
    graph = {uid: [d for d in n["depends_on"]["nodes"] if d in nodes] for uid, n in nodes.items()}
    statements: list[str] = []
    schemas: set[str] = set()
    counts = {"models": 0, "tests": 0}
    for uid in TopologicalSorter(graph).static_order():
        n = nodes[uid]
        sql = _compiled_sql(n, target).strip().rstrip(";")
        if n["resource_type"] == "model":
            kind = MATERIALIZE.get(n["config"]["materialized"])
            if kind is None:
                raise ValueError(f"{uid}: materialization {n['config']['materialized']} unknown")
            schemas.add(f'"{n["database"]}"."{n["schema"]}"')
            statements.append(f"create or replace {kind} {n['relation_name']} as (\n{sql}\n)")
            counts["models"] += 1
        else:
            statements.append(f"-- test {uid}\nselect count(*) from (\n{sql}\n) as t")
            counts["tests"] += 1
    head = [f"create schema if not exists {s}" for s in sorted(schemas)]
    return "".join(f"{s};\n{END}\n" for s in head + statements), counts


def write_script(target: Path, out: Path) -> dict:
    script, counts = build_script(target)
    out.write_text(script)
    return counts


def run_script(db: Path, script: Path) -> dict:
    """Run the script statement by statement on one connection; test failures are counted."""
    con = duckdb.connect(str(db))
    failing_tests = 0
    t0 = time.perf_counter()
    try:
        for stmt in _statements(script.read_text()):
            cur = con.execute(stmt)
            if stmt.lstrip().startswith("-- test"):
                failing_tests += int(cur.fetchone()[0] > 0)
    finally:
        con.close()
    return {"failing_tests": failing_tests, "script_seconds": time.perf_counter() - t0}


def _statements(script: str) -> list[str]:
    """Split on the end markers written by :func:`build_script`."""
    return [s.strip().rstrip(";") for s in script.split(END) if s.strip()]
