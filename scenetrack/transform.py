"""Run dbt (build: seeds, models and their tests) against the work database.

dbt runs as its own process (the venv's ``dbt`` executable), the way operators and Cosmos run
it: dbt-duckdb keeps a process-wide DuckDB connection open after an in-process ``dbtRunner``
call, which would block the gate and the publish step that follow in the same process.
Node results come from dbt's own ``run_results.json``. ``target/`` and logs go under the
warehouse home so a checkout stays read-only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from scenetrack import progress
from scenetrack.config import DBT_PROJECT_DIR, Paths, settings, warehouse_target


class DbtBuildError(RuntimeError):
    """dbt build failed: a model did not compile or run, or a blocking dbt test failed."""


@dataclass(frozen=True)
class DbtResult:
    """Node-level outcome of one dbt invocation."""

    success: bool
    nodes: dict[str, str]  # unique_id -> status
    invocation_id: str | None = None  # dbt's id of the invocation (run_results.json)

    @property
    def failed(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s in ("error", "fail", "runtime error")]


def dbt_env(p: Paths) -> dict[str, str]:
    """Environment the dbt profile reads (profiles.yml takes every value from here).

    With ``SCENETRACK_WAREHOUSE=postgresql://…`` the ``postgres`` output is selected and its
    connection comes from the DSN; otherwise the ``duckdb`` output builds the work database.
    """
    env = {
        **os.environ,
        "SCENETRACK_WORK_DB": str(p.work_db),
        "SCENETRACK_DUCKDB_MEMORY_LIMIT": settings().duckdb_memory_limit,
        # tests read every row unless dbt_build says since when (see dbt_build)
        "SCENETRACK_LAST_PASSING_BUILD": "",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    pg = warehouse_target()
    if pg is not None:
        env |= {
            "SCENETRACK_DBT_TARGET": "postgres",
            "SCENETRACK_PG_HOST": pg.host,
            "SCENETRACK_PG_PORT": str(pg.port),
            "SCENETRACK_PG_USER": pg.user,
            "SCENETRACK_PG_PASSWORD": pg.password,
            "SCENETRACK_PG_DBNAME": pg.dbname,
        }
    return env


def _die_with_parent() -> None:
    """In the dbt child: be killed when the parent dies (Linux ``PR_SET_PDEATHSIG``).

    The parent holds the writer lock; without this, a SIGKILLed parent would leave dbt writing
    the work database outside the lock while a rerun starts.
    """
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def run_dbt(
    p: Paths,
    args: list[str],
    vars_: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> DbtResult:
    """Run ``dbt <args>`` for this home (``env``: extra environment for the project's
    ``env_var`` calls); return per-node statuses from run_results.json."""
    exe = Path(sys.executable).with_name("dbt")
    cli = [
        str(exe),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(p.dbt_target_dir),
        "--log-path",
        str(p.logs_dir / "dbt"),
    ]
    if vars_:
        cli += ["--vars", json.dumps(vars_)]
    # structured events on stdout: nodes done of total, as they finish (see follow_dbt_log)
    cli += ["--log-format", "json", "--no-use-colors"]
    results = p.dbt_target_dir / "run_results.json"
    results.unlink(missing_ok=True)
    with progress.task(f"dbt {args[0]}", unit="nodes") as shown:
        with subprocess.Popen(
            cli,
            env=dbt_env(p) | (env or {}),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,
        ) as proc:
            output = follow_dbt_log(proc.stdout, shown)
        (p.logs_dir / "dbt-last-run.log").write_text(output)
        nodes: dict[str, str] = {}
        invocation = None
        if results.exists():
            run_results = json.loads(results.read_text())
            invocation = run_results.get("metadata", {}).get("invocation_id")
            for r in run_results["results"]:
                if not r["unique_id"].startswith("operation."):  # hooks are no nodes
                    nodes[r["unique_id"]] = r["status"]
        elif proc.returncode != 0:
            tail = "\n".join(output.strip().splitlines()[-15:])
            raise DbtBuildError(f"dbt {' '.join(args)} could not run:\n{tail}")
    return DbtResult(success=proc.returncode == 0, nodes=nodes, invocation_id=invocation)


def follow_dbt_log(lines: Iterable[str], shown: progress.Task) -> str:
    """Read dbt's JSON log lines as dbt writes them; count nodes done of total on ``shown``;
    return the log as text (time and message per line, as dbt prints it without JSON).

    The total is the ``node_count`` of dbt's ``ConcurrencyLine`` event (the nodes this
    invocation selected), shown once the first node is done (``dbt docs generate`` announces
    nodes it never runs one by one); a node is done at its result event (``LogModelResult``,
    ``LogTestResult``, ``SkippingDetails``, ...: the events that carry its ``index`` and are
    not ``LogStartLine``; the project's hooks, ``LogHook*``, are no nodes). A line that is
    not JSON (a Python warning) is kept as it is.
    """
    text: list[str] = []
    done: set[str] = set()
    total: int | None = None
    for line in lines:
        try:
            event = json.loads(line)
            info, data = event["info"], event.get("data") or {}
            name = info["name"]
        except (ValueError, KeyError, TypeError):
            text.append(line if line.endswith("\n") else line + "\n")
            continue
        text.append(f"{str(info.get('ts', ''))[11:19]}  {info.get('msg', '')}\n")
        if name == "ConcurrencyLine" and data.get("node_count") is not None:
            total = int(data["node_count"])
        elif "index" in data and name != "LogStartLine" and not name.startswith("LogHook"):
            node = data.get("node_info") or {}
            key = node.get("unique_id") or f"#{data['index']}"
            if name.startswith("LogHook") or key.startswith("operation."):
                continue  # the on-run-start hook is no node (not in node_count)
            if key not in done:
                done.add(key)
                note = node.get("node_name") or data.get("node_name")
                shown.update(completed=len(done), total=total, note=note)
    return "".join(text)


def dbt_vars() -> dict[str, str] | None:
    """dbt vars from the environment: ``SCENETRACK_REFERENCE_DATE`` pins the evaluation date
    (default: the run date) so a past evaluation can be reproduced exactly."""
    ref = settings().reference_date
    return {"reference_date": ref.isoformat()} if ref else None


# dbt unit tests check the models' logic against fixed fixtures, so their answer cannot change
# with the data: dbt's docs recommend running them in development and CI only, not in every
# production build. `tests/dbt/test_unit_tests.py` runs them (`make test`); pipeline builds
# skip them and spend their time on the data tests, which do depend on the data.
PIPELINE_BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]


def last_build_record(p: Paths) -> dict:
    """What the last pipeline build whose models and tests all passed recorded: its dbt
    ``invocation_id`` and what the caller asked to keep with it (empty when none or broken)."""
    try:
        record = json.loads(p.last_passing_build.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def last_passing_build(p: Paths) -> str | None:
    """The dbt invocation id of the last pipeline build whose models and tests all passed.

    dbt numbers every build in ``audit.dbt_runs`` (the project's ``on-run-start`` hook,
    ``macros/record_dbt_run.sql``); the tests look that number up, so the scope never
    depends on a clock. A missing or broken record means every row is read.
    """
    invocation = last_build_record(p).get("invocation_id")
    return invocation if isinstance(invocation, str) and invocation else None


def dbt_build(p: Paths, full_refresh: bool = False, record: dict | None = None) -> DbtResult:
    """``dbt build``: seeds, models and data tests in DAG order; raises when anything fails.

    The data tests of the incremental models read only the rows written by dbt runs numbered
    after the last build whose tests all passed (env var ``SCENETRACK_LAST_PASSING_BUILD``,
    that build's invocation id, not a dbt var: a var that changes every build would make dbt
    re-parse the whole project each time; the rule and why it is sound:
    ``dbt_project/macros/get_where_subquery.sql``), so a build's test cost follows what arrived
    rather than the size of the history. The record moves forward only when a build passes.
    ``full_refresh`` rebuilds every incremental model from raw (a changed set of held
    submissions takes rows away, which an incremental run cannot see); its tests read every
    row. ``record``: more to keep with the record of a passing build (see
    :func:`last_build_record`).
    """
    since = None if full_refresh else last_passing_build(p)
    env = {"SCENETRACK_LAST_PASSING_BUILD": since} if since else None
    args = PIPELINE_BUILD_ARGS + (["--full-refresh"] if full_refresh else [])
    result = run_dbt(p, args, dbt_vars(), env)
    if not result.success:
        raise DbtBuildError(
            "dbt build failed on: "
            + ", ".join(result.failed or ["(see the log)"])
            + f". Log: {p.logs_dir / 'dbt-last-run.log'}"
        )
    tmp = p.last_passing_build.with_suffix(".tmp")
    tmp.write_text(json.dumps({"invocation_id": result.invocation_id, **(record or {})}))
    tmp.replace(p.last_passing_build)
    return result
