"""The benchmark harness: ``python -m benchmarks.run [--size 100k 1m ...] [--repeat N]``.

Writes ``benchmarks/results/results.json`` and ``benchmarks/RESULTS.md`` (see
:mod:`benchmarks.report`). Each repetition ("round") runs every contender of a group once,
side by side, in a rotated order (so no contender always goes first on a warm or cold
machine); every ratio is computed per round from the two sides of that round, then summarised
(median, min, max). Absolute seconds are context only: these machines are shared and noisy.

Per size and round:

1. *Pipeline*, in child processes on a fresh home: ingest the events file(s), ingest the rest
   (capability files, corrections), ``build``, ``gate``, ``publish`` (what ``scenetrack run``
   does). Its events ingest is the platform side of the ingestion comparison; right after its
   gate, the same checks run as one SQL query per suite (:mod:`benchmarks.gate_sql`).
2. *Ingestion* of ``events.csv``: DuckDB's limit, pandas, dlt; then the messy GBK file:
   platform, limit, pandas, dlt.
3. *Transformation* on a copy of the built warehouse with the 1 % submission ingested:
   the pipeline's ``build`` (its incremental ``dbt build``, data tests scoped to the rows
   written since the last passing build), ``dbt build --full-refresh`` (every row tested) and
   dbt's SQL without dbt (:mod:`benchmarks.dbt_sql`); and the pipeline's build again with
   nothing new (dbt's floor).

Once: the XLSX readers on a 50k-row workbook; file-to-published latency through the real
Airflow scheduler on the 1M-event warehouse the pipeline built (:mod:`benchmarks.event_driven`).
Then, for each target missed at the largest size, a pyinstrument profile of the step
(``results/profiles/<step>_<size>.html`` and ``.txt``: made by each run on demand, not kept in
git; ``--no-profile`` skips them).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import data as bdata
from benchmarks.report import end_to_end_by_size
from benchmarks.stats import Recorder
from scenetrack.transform import PIPELINE_BUILD_ARGS

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
DEFAULT_SIZES = ["100k", "1m"]
FULL_SIZES = ["100k", "1m", "10m"]
LARGE = 1_000_000
XL = 10_000_000
XLSX_ROWS = 50_000
RESULT_PREFIX = "@@result "
BUILD = " ".join(PIPELINE_BUILD_ARGS)  # the transform group builds what the pipeline builds
# a selector no node matches: dbt starts, loads the project and its partial parse, selects
# nothing and exits (the least any dbt build pays, before a connection or a node)
SELECT_NONE = " --select tag:__benchmark_selects_no_node__"
VERSION_PACKAGES = {
    "duckdb": "duckdb",
    "dbt-core": "dbt-core",
    "dbt-duckdb": "dbt-duckdb",
    "great_expectations": "great_expectations",
    "apache-airflow": "apache-airflow",
    "pandas": "pandas",
    "pyarrow": "pyarrow",
    "dlt": "dlt",
    "openpyxl": "openpyxl",
    "python-calamine": "python-calamine",
    "pyinstrument": "pyinstrument",
}


class StepFailed(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def child(task: str, logs: Path, checkout: Path = PROJECT_DIR, **kw) -> dict:
    """Run one task in a child process; returns its result + ``wall`` and ``peak_rss_bytes``.

    ``checkout``: whose code the child runs (another revision's worktree, for
    ``benchmarks.gate_revisions``); this checkout by default.

    Dirty pages are written back first (``os.sync``), outside the clock: a step that commits
    (the platform's ingest fsyncs its WAL per file) otherwise waits behind the write-back of
    whatever the step before it wrote or deleted (a round's pipeline starts by removing the
    previous round's home), and each contender would pay for its predecessor's I/O.
    """
    cmd = [sys.executable, "-m", "benchmarks.steps", task]
    for k, v in kw.items():
        if v is None or v is False:
            continue
        flag = "--" + k.replace("_", "-")
        if v is True:  # a switch
            cmd.append(flag)
            continue
        if isinstance(v, list | tuple):
            cmd += [flag, *map(str, v)]
        else:
            cmd.append(f"{flag}={v}")
    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{task}.out", logs / f"{task}.err"
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    env.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    os.sync()
    t0 = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=checkout, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    lines = [ln for ln in out_path.read_text().splitlines() if ln.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(err_path.read_text().strip().splitlines()[-12:])
        raise StepFailed(f"{task} failed (exit {proc.returncode}):\n{tail}")
    res = json.loads(lines[-1][len(RESULT_PREFIX) :])
    res["wall"] = wall
    res["peak_rss_wait4_bytes"] = usage.ru_maxrss * 1024  # includes the harness at fork
    res["peak_rss_bytes"] = res.get("peak_rss", res["peak_rss_wait4_bytes"])
    return res


def machine() -> dict:
    import psutil

    return {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_bytes": psutil.virtual_memory().total,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name, dist in VERSION_PACKAGES.items():
        try:
            out[name] = version(dist)
        except PackageNotFoundError:
            out[name] = None
    return out


def _rotate(items: list, rep: int) -> list:
    k = rep % len(items) if items else 0
    return items[k:] + items[:k]


def _copy_work(src_home: Path, dst_home: Path) -> None:
    """A new home whose work dir (database + dbt target) is a copy of ``src_home``'s, with its
    published folder when it has one (:func:`_link_published`).

    The copy reaches the disk before anyone is timed on it (``child`` writes dirty pages back
    before every timed step): otherwise the first commit of the contender that follows pays for
    writing back the whole copied database (2-3 s for the 1.8 GB 10M warehouse, measured), a
    cost of the harness that grows with the warehouse and that an operator's run never pays.
    """
    shutil.rmtree(dst_home, ignore_errors=True)
    shutil.copytree(src_home / "work", dst_home / "work", ignore=shutil.ignore_patterns("*.lock"))
    if (src_home / "published").is_dir():
        _link_published(src_home / "published", dst_home / "published")


def _link_published(src: Path, dst: Path) -> None:
    """``dst``: the published folder ``src`` as a contender's own. A publish starts from the
    live version (it copies it and writes what changed), so a contender without one would time
    a first publish. The DuckDB files and Parquet copies are hard links (a publish never writes
    into either: it swaps new files in), everything else (the log it appends to) a copy."""

    def link_or_copy(a: str, b: str) -> None:
        if a.endswith((".duckdb", ".parquet")):
            os.link(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dst, copy_function=link_or_copy)


def _growth_step_id(key: str, step: str, size: str) -> str:
    """The measurement id of one step (build, gate, publish, or the whole path) of a growth
    round's contender ``key``: builds sit with the other builds (group transform)."""
    if step == "build":
        return f"transform.{key.replace('paired', 'paired_incremental')}@{size}"
    return f"freshness.{key}_{step}@{size}"


def _copy_dbt_target(src_home: Path, dst_home: Path) -> None:
    """Give ``dst_home`` the dbt target (partial parse included) of ``src_home``."""
    shutil.rmtree(dst_home / "work" / "dbt_target", ignore_errors=True)
    shutil.copytree(src_home / "work" / "dbt_target", dst_home / "work" / "dbt_target")


class Harness:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rec = Recorder()
        self.out_dir = Path(args.out_dir)
        self.results_dir = self.out_dir / "results"
        self.data_dir = Path(args.data_dir)
        self.work = Path(args.work_dir) if args.work_dir else self.data_dir / ".work"
        self.extra: dict = {
            "pipeline": {},
            "gate_agreement": {},
            "transform": {},
            "errors": [],
            "profiles": [],
            "gate_scopes": {},  # growth round -> which rows its gate validated
            "publish_versions": {},  # growth round -> the version its publish made
        }
        self.datasets: dict[str, bdata.Dataset] = {}
        self.delta_bases: dict[str, tuple[Path, Path]] = {}  # size -> (1 % state, its root)
        self.e2e_source: Path | None = None  # this run's end-to-end result file, if measured

    # -- helpers ------------------------------------------------------------------------------

    def add(self, mid: str, value: float, rep: int, group: str, size: str, label: str, unit="s"):
        self.rec.add(mid, value, rep=rep, group=group, size=size, label=label, unit=unit)

    def try_child(self, what: str, task: str, logs: Path, **kw) -> dict | None:
        try:
            return child(task, logs, **kw)
        except StepFailed as exc:
            log(f"  !! {what}: {exc}")
            self.extra["errors"].append({"step": what, "error": str(exc)[-1500:]})
            return None

    def repeats(self, size: str) -> int:
        n = bdata.parse_size(size)
        if n >= XL and self.args.repeat_xl:
            return self.args.repeat_xl
        return self.args.repeat_large if n >= LARGE and self.args.repeat_large else self.args.repeat

    # -- groups -------------------------------------------------------------------------------

    def pipeline_round(self, ds: bdata.Dataset, rep: int, home: Path) -> bool:
        s, logs = ds.label, home.parent / "logs" / f"pipeline{rep}"
        shutil.rmtree(home, ignore_errors=True)
        steps = {}
        ev = self.try_child(
            "pipeline ingest events", "ingest", logs, home=home, files=ds.platform_event_files
        )
        if ev is None:
            return False
        if ev.get("not_loaded"):
            self.extra["errors"].append({"step": "ingest events", "error": ev["not_loaded"]})
        steps["ingest_events"] = ev
        rest = self.try_child(
            "pipeline ingest rest",
            "ingest",
            logs,
            home=home,
            files=[*ds.capability_files, *ds.correction_files],
        )
        if rest is None:
            return False
        steps["ingest_rest"] = rest
        for step in ("build", "gate"):
            r = self.try_child(f"pipeline {step}", step, logs, home=home)
            if r is None:
                return False
            steps[step] = r
        gate = steps["gate"]
        sql = self.try_child(
            "gate sql", "gate_sql", logs, home=home, gate_run_id=gate.get("run_id")
        )
        if gate.get("passed"):
            pub = self.try_child(
                "pipeline publish", "publish", logs, home=home, gate_run_id=gate["run_id"]
            )
            if pub is None:
                return False
            steps["publish"] = pub
        else:
            self.extra["errors"].append(
                {"step": "gate blocked (nothing published)", "error": gate.get("summary", "")}
            )
        g = "pipeline"
        for name, r in steps.items():
            self.add(f"pipeline.{name}@{s}", r["wall"], rep, g, s, f"pipeline step {name} (wall)")
            self.add(
                f"memory.{name}@{s}",
                r["peak_rss_bytes"],
                rep,
                "memory",
                s,
                f"peak RSS of {name}",
                "bytes",
            )
        ingest_wall = steps["ingest_events"]["wall"] + steps["ingest_rest"]["wall"]
        self.add(f"pipeline.ingest@{s}", ingest_wall, rep, g, s, "pipeline ingest, all files")
        total = ingest_wall + sum(
            steps[k]["wall"] for k in ("build", "gate", "publish") if k in steps
        )
        self.add(
            f"pipeline.total@{s}",
            total,
            rep,
            g,
            s,
            "full pipeline: ingest + build + gate + publish (wall, child processes)",
        )
        self.add(
            f"ingest.csv.platform@{s}",
            ev["seconds"],
            rep,
            "ingest",
            s,
            "platform ingest_paths of the events file(s)",
        )
        self.add(f"gate.gx@{s}", gate["seconds"], rep, "gate", s, "run_gate (GX), call time")
        if sql is not None:
            self.add(f"gate.sql@{s}", sql["seconds"], rep, "gate", s, "one SQL query per suite")
            self.add(
                f"memory.gate_sql@{s}",
                sql["peak_rss_bytes"],
                rep,
                "memory",
                s,
                "peak RSS of gate_sql",
                "bytes",
            )
            self.extra["gate_agreement"][s] = sql.get("agreement")
        self.extra["pipeline"].setdefault(s, []).append(
            {
                k: {kk: v.get(kk) for kk in ("seconds", "wall", "peak_rss_bytes")}
                for k, v in steps.items()
            }
        )
        return True

    def ingest_round(self, ds: bdata.Dataset, rep: int, root: Path) -> None:
        from benchmarks import contenders as c

        s = ds.label
        groups = [("csv", ds.events_csv, c.CSV_CONTENDERS, ["limit", "pandas", "dlt"])]
        if ds.gbk_csv.exists():
            groups.append(
                ("gbk", ds.gbk_csv, c.GBK_CONTENDERS, ["platform", "limit", "pandas", "dlt"])
            )
        for kind, src, table, names in groups:
            for name in _rotate(names, rep):
                if name == "dlt" and bdata.parse_size(s) > self.args.dlt_max:
                    continue
                work = root / f"{kind}_{name}"
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                r = self.try_child(
                    f"ingest {kind} {name} {s}",
                    f"{name}_{kind}",
                    root / "logs",
                    files=[src],
                    work=work,
                )
                shutil.rmtree(work, ignore_errors=True)
                if r is None:
                    continue
                self.add(
                    f"ingest.{kind}.{name}@{s}", r["seconds"], rep, "ingest", s, table[name][0]
                )
                self.add(
                    f"memory.ingest_{kind}_{name}@{s}",
                    r["peak_rss_bytes"],
                    rep,
                    "memory",
                    s,
                    f"peak RSS of {table[name][0]}",
                    "bytes",
                )

    def prepare_transform(self, ds: bdata.Dataset, built_home: Path, root: Path) -> Path | None:
        """The delta state (built + 1 % ingested) and dbt's compiled SQL as a script."""
        base = root / "delta_base"
        if not self._with_submission(ds.label, built_home, base, ds.delta_csv, "delta_rows_loaded"):
            return None
        # Every contender runs in the same home path, as an operator's runs do: dbt's partial
        # parsing keys on the profile (the work-database path), so a parse there first leaves
        # the state a second run of a real home starts from (steady state, not first run).
        stable = root / "t_home"
        _copy_work(base, stable)
        if self.try_child("dbt parse", "dbt", root / "logs", home=stable, dbt_args="parse"):
            _copy_dbt_target(stable, base)
        # The floor: the state right after that incremental build, to build again with nothing
        # new (dbt's start, parse, the table marts and the data tests, without new rows).
        if self.try_child("pipeline build (untimed)", "build", root / "logs", home=stable):
            shutil.rmtree(root / "noop_base", ignore_errors=True)
            shutil.copytree(stable / "work", root / "noop_base" / "work")
        comp = root / "compile_home"
        _copy_work(base, comp)
        r = self.try_child(
            "dbt compile", "dbt", root / "logs", home=comp, dbt_args="compile --full-refresh"
        )
        if r is None:
            return None
        from benchmarks.dbt_sql import write_script

        counts = write_script(comp / "work" / "dbt_target", root / "script.sql")
        self.extra["transform"][ds.label]["script"] = counts
        shutil.rmtree(comp, ignore_errors=True)
        return base

    def transform_round(self, ds: bdata.Dataset, rep: int, base: Path, root: Path) -> None:
        s = ds.label
        labels = {
            "incremental": "pipeline build: dbt build, incremental, after the 1 % submission",
            "full_refresh": "dbt build --full-refresh",
            "sql_script": "dbt's compiled SQL without dbt (one connection, models + tests)",
            "noop": "pipeline build with nothing new since the last build (dbt's floor)",
            "dbt_start": "dbt build that selects no node (dbt's start: import, project, "
            "partial parse; no connection, no node)",
        }
        if not (root / "noop_base").exists():
            del labels["noop"]
        for name in _rotate(list(labels), rep):
            home = root / "t_home"  # one path: see prepare_transform
            _copy_work(root / "noop_base" if name == "noop" else base, home)
            if name == "sql_script":
                r = self.try_child(
                    f"transform {name} {s}",
                    "sql_script",
                    root / "logs",
                    db=home / "work" / "work.duckdb",
                    script=root / "script.sql",
                )
            elif name in ("full_refresh", "dbt_start"):
                r = self.try_child(
                    f"transform {name} {s}",
                    "dbt",
                    root / "logs",
                    home=home,
                    dbt_args=BUILD + (" --full-refresh" if name == "full_refresh" else SELECT_NONE),
                )
            else:  # what the pipeline runs: its dbt build, with its data-test scope
                r = self.try_child(f"transform {name} {s}", "build", root / "logs", home=home)
                if r is not None and not r.get("success"):
                    self.extra["errors"].append(
                        {"step": f"dbt {name} {s}", "error": r.get("failed")}
                    )
            if name == "dbt_start" and r is not None:  # it measures nothing if a node ran
                self.extra["transform"].setdefault(s, {})["dbt_start_nodes"] = r["dbt_nodes"]
            elif name != "sql_script" and r is not None:
                key = f"{name}_build_nodes"
                self._dbt_node_times(home, s, key)
            shutil.rmtree(home, ignore_errors=True)
            if r is None:
                continue
            self.add(f"transform.{name}@{s}", r["seconds"], rep, "transform", s, labels[name])
            self.add(
                f"memory.transform_{name}@{s}",
                r["peak_rss_bytes"],
                rep,
                "memory",
                s,
                f"peak RSS of {labels[name]}",
                "bytes",
            )

    def _dbt_node_times(self, home: Path, size: str, key: str) -> None:
        """dbt's own per-node timings of a full build: where the build time goes."""
        rr = home / "work" / "dbt_target" / "run_results.json"
        if not rr.exists():
            return
        res = json.loads(rr.read_text())
        nodes = sorted(
            ((r["unique_id"], r.get("execution_time") or 0.0) for r in res["results"]),
            key=lambda x: -x[1],
        )
        self.extra["transform"].setdefault(size, {})[key] = {
            "elapsed": res.get("elapsed_time"),
            "sum_node_seconds": round(sum(t for _, t in nodes), 3),
            "nodes": len(nodes),
            "top": [{"node": u, "seconds": round(t, 3)} for u, t in nodes[:8]],
        }

    def xlsx_group(self, ds: bdata.Dataset) -> None:
        from benchmarks import contenders as c

        src = bdata.xlsx_file(ds, self.args.xlsx_rows, self.data_dir)
        s = f"xlsx{self.args.xlsx_rows}"
        root = self.work / "xlsx"
        for rep in range(self.args.repeat):
            for name in _rotate(list(c.XLSX_CONTENDERS), rep):
                work = root / name
                shutil.rmtree(work, ignore_errors=True)
                work.mkdir(parents=True)
                r = self.try_child(
                    f"xlsx {name}", f"xlsx_{name}", root / "logs", files=[src], work=work
                )
                shutil.rmtree(work, ignore_errors=True)
                if r is not None:
                    label = c.XLSX_CONTENDERS[name][0]
                    self.add(f"xlsx.{name}@{s}", r["seconds"], rep, "xlsx", s, label)
        self.rec.ratio(
            f"xlsx.openpyxl_over_calamine@{s}",
            f"xlsx.openpyxl@{s}",
            f"xlsx.calamine@{s}",
            group="xlsx",
            size=s,
            label="openpyxl read / calamine read",
        )
        self.rec.ratio(
            f"xlsx.platform_over_openpyxl@{s}",
            f"xlsx.platform@{s}",
            f"xlsx.openpyxl@{s}",
            group="xlsx",
            size=s,
            label="platform XLSX ingest / openpyxl read alone",
        )

    def ratios(self, s: str) -> None:
        r = self.rec.ratio
        r(
            f"ingest.csv.platform_over_limit@{s}",
            f"ingest.csv.platform@{s}",
            f"ingest.csv.limit@{s}",
            group="ingest",
            size=s,
            label="platform / DuckDB limit",
            target="<= 2.0 at 1m",
        )
        for peer in ("pandas", "dlt"):
            r(
                f"ingest.csv.platform_over_{peer}@{s}",
                f"ingest.csv.platform@{s}",
                f"ingest.csv.{peer}@{s}",
                group="ingest",
                size=s,
                label=f"platform / {peer}",
                target="< 1.0 at 1m",
            )
        for other in ("limit", "pandas", "dlt"):
            r(
                f"ingest.gbk.platform_over_{other}@{s}",
                f"ingest.gbk.platform@{s}",
                f"ingest.gbk.{other}@{s}",
                group="ingest_gbk",
                size=s,
                label=f"platform / {other} (GBK)",
            )
        r(
            f"transform.dbt_over_script@{s}",
            f"transform.full_refresh@{s}",
            f"transform.sql_script@{s}",
            group="transform",
            size=s,
            label="dbt build --full-refresh / dbt's SQL without dbt (dbt's overhead)",
        )
        r(
            f"transform.incremental_over_full@{s}",
            f"transform.incremental@{s}",
            f"transform.full_refresh@{s}",
            group="transform",
            size=s,
            label="incremental after 1 % / full refresh",
            target="<= 0.10 at 1m",
        )
        r(
            f"transform.noop_over_full@{s}",
            f"transform.noop@{s}",
            f"transform.full_refresh@{s}",
            group="transform",
            size=s,
            label="build with nothing new / full refresh (dbt's floor)",
        )
        r(
            f"transform.dbt_start_over_full@{s}",
            f"transform.dbt_start@{s}",
            f"transform.full_refresh@{s}",
            group="transform",
            size=s,
            label="dbt build selecting no node / full refresh (dbt's start)",
        )
        r(
            f"transform.incremental_over_noop@{s}",
            f"transform.incremental@{s}",
            f"transform.noop@{s}",
            group="transform",
            size=s,
            label="incremental after 1 % / build with nothing new",
        )
        r(
            f"gate.gx_over_sql@{s}",
            f"gate.gx@{s}",
            f"gate.sql@{s}",
            group="gate",
            size=s,
            label="GX gate / one SQL query per suite",
        )
        r(
            f"pipeline.gate_share@{s}",
            f"pipeline.gate@{s}",
            f"pipeline.total@{s}",
            group="pipeline",
            size=s,
            label="gate step / full pipeline",
            target="<= 0.25 at 1m",
        )

    # -- main ---------------------------------------------------------------------------------

    def run_size(self, size: str) -> None:
        ds = bdata.dataset(
            size,
            self.data_dir,
            gbk=bdata.parse_size(size) <= LARGE,
            log=log,
            cities=self.args.cities,
        )
        self.datasets[size] = ds
        root = self.work / size
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        n = self.repeats(size)
        log(f"size {size}: {ds.events} events, {len(ds.pipeline_files)} files; {n} rounds")
        base = None
        for rep in range(n):
            log(f"  {size} round {rep + 1}/{n}: pipeline")
            ok = self.pipeline_round(ds, rep, root / "pipe")
            log(f"  {size} round {rep + 1}/{n}: ingestion contenders")
            self.ingest_round(ds, rep, root / "ingest")
            if ok and base is None:
                log(f"  {size}: preparing the 1 % submission state and dbt's compiled SQL")
                base = self.prepare_transform(ds, root / "pipe", root / "transform")
                if base is not None:
                    self.delta_bases[size] = (base, root / "transform")
            if base is not None:
                log(f"  {size} round {rep + 1}/{n}: transformation")
                self.transform_round(ds, rep, base, root / "transform")
        self.ratios(size)
        self.built_homes[size] = root / "pipe"

    def growth_pairs(self) -> None:
        """The path of a small submission against history, side by side, in rounds run back
        to back (their order rotated each round). Each contender is a warehouse with a passing
        gate and a submission ingested; a round runs its build, gate (over the rows changed
        since that gate, as the pipeline does: scenetrack.gate.scope) and publish:

        - ``one_city_<ref>`` / ``one_city``: a ``--submission-rows`` submission from one city
          (:meth:`benchmarks.data.Dataset.one_city_delta`, the shape of a city's file) on the
          reference warehouse (1M events, else the smallest size measured) and on the largest:
          only the history differs (the growth target, issue 22);
        - ``<ref>`` / ``same_rows``: as many rows spread over every city
          (:meth:`benchmarks.data.Dataset.delta_of_rows`): every city's per-city marts
          recompute, so this shape shows what a per-city mart still costs;
        - ``one_percent``: the 1 % submission of the largest warehouse (ten times the rows of
          the 1M warehouse's at 10M: history and submission grow together).

        The path is the submission's ingest (measured once per warehouse, when the contender
        is made) plus the round's build, gate and publish. The per-size medians of other
        groups come from runs many minutes apart, and this machine's speed drifts by more than
        a target's margin between them; a ratio inside each round does not.
        """
        sizes = sorted(self.delta_bases, key=bdata.parse_size)
        if len(sizes) < 2 or not self.args.growth_pairs:
            return
        big = sizes[-1]
        ref = "1m" if "1m" in sizes[:-1] else sizes[0]
        rows = self.args.submission_rows
        # contender -> (measurement key, (base, transform root), what it is, ingest seconds)
        contenders: dict[str, tuple[str, tuple[Path, Path], str, float]] = {}
        for shape, name_ref, name_big, what in (
            ("one_city", f"one_city_{ref}", "one_city", f"a {rows:,}-row file of one city"),
            ("spread", ref, "same_rows", f"{rows:,} rows spread over every city"),
        ):
            for name, size in ((name_ref, ref), (name_big, big)):
                made = self._rows_base(size, rows, shape)
                if made is None:
                    return
                base, ingest_s = made
                contenders[name] = (
                    f"paired_{name}",
                    (base, self.delta_bases[size][1]),
                    f"{what} on the {size.upper()} warehouse",
                    ingest_s,
                )
        contenders["one_percent"] = (
            "paired",
            self.delta_bases[big],
            f"the 1 % submission on the {big.upper()} warehouse",
            self.extra["transform"].get(big, {}).get("delta_rows_loaded_seconds", 0.0),
        )
        log(f"freshness growth: {self.args.growth_pairs} rounds of {ref} and {big}")
        for rep in range(self.args.growth_pairs):
            for name in _rotate(list(contenders), rep):
                key, (base, root), what, ingest_s = contenders[name]
                home = root / "t_home"  # the path its partial parse was made in
                _copy_work(base, home)
                steps = self._path_round(f"growth {rep} {name}", home, root / "logs")
                shutil.rmtree(home, ignore_errors=True)
                if steps is None:
                    continue
                for step, seconds in steps.items():
                    label = f"{step} after {what} (growth rounds)"
                    self.add(_growth_step_id(key, step, big), seconds, rep, "freshness", big, label)
                path = ingest_s + sum(steps.values())
                label = f"ingest + build + gate + publish after {what} (growth rounds)"
                self.add(_growth_step_id(key, "path", big), path, rep, "freshness", big, label)
        self._growth_ratios(ref, big)

    def _growth_ratios(self, ref: str, big: str) -> None:
        """The ratios of the growth rounds: each step and the path, largest warehouse over the
        reference one, per submission shape (see :meth:`growth_pairs`)."""
        rows = self.args.submission_rows
        one_city = f"a {rows:,}-row file of one city"
        spread = f"{rows:,} rows spread over every city"
        for shape, big_key, ref_key, target in (
            ("one_city", "paired_one_city", f"paired_one_city_{ref}", "<= 1.2 (1m vs 10m)"),
            ("same_rows", "paired_same_rows", f"paired_{ref}", None),
        ):
            what = one_city if shape == "one_city" else spread
            for step in ("path", "build", "gate", "publish"):
                rid = (
                    f"transform.incremental_growth_{shape}@{big}"
                    if step == "build"
                    else f"freshness.{step}_growth_{shape}@{big}"
                )
                named = "ingest + build + gate + publish" if step == "path" else step
                self.rec.ratio(
                    rid,
                    _growth_step_id(big_key, step, big),
                    _growth_step_id(ref_key, step, big),
                    group="freshness",
                    size=big,
                    label=f"{named} after {what}: {big.upper()} warehouse / {ref.upper()} "
                    "warehouse, back to back",
                    target=target if step == "path" else None,
                )
        self.rec.ratio(
            f"transform.incremental_growth@{big}",
            f"transform.paired_incremental@{big}",
            f"transform.paired_incremental_{ref}@{big}",
            group="freshness",
            size=big,
            label=f"build after 1 % of each (history and submission grow): {big.upper()} "
            f"warehouse / {ref.upper()} warehouse, back to back",
            target=None,
        )

    def _path_round(self, what: str, home: Path, logs: Path) -> dict[str, float] | None:
        """Build, gate and publish in ``home``: each step's call time (None on a failure)."""
        steps: dict[str, float] = {}
        gate_run_id = None
        for step in ("build", "gate", "publish"):
            r = self.try_child(f"{what} {step}", step, logs, home=home, gate_run_id=gate_run_id)
            if r is None:
                return None
            if step == "gate":
                if not r.get("passed"):
                    self.extra["errors"].append({"step": f"{what} gate", "error": r.get("summary")})
                    return None
                gate_run_id = r["run_id"]
                self.extra["gate_scopes"][what] = r.get("scope")
            if step == "publish":  # above the live version: it published what changed
                self.extra["publish_versions"][what] = r.get("version")
            steps[step] = r["seconds"]
        return steps

    def _rows_base(self, size: str, rows: int, shape: str) -> tuple[Path, float] | None:
        """The built warehouse of ``size`` with a ``rows``-row submission of ``shape``
        (``one_city`` or ``spread``) ingested, carrying the partial parse its transform
        contenders start from (see prepare_transform), and the seconds the ingest took."""
        base, root = self.delta_bases[size]
        out = root / f"rows_{rows}_{shape}_base"
        ds = self.datasets[size]
        src = ds.one_city_delta(rows) if shape == "one_city" else ds.delta_of_rows(rows)
        key = "one_city_delta_loaded" if shape == "one_city" else "same_rows_delta_loaded"
        if not self._with_submission(size, self.built_homes[size], out, src, key):
            return None
        _copy_dbt_target(base, out)
        return out, self.extra["transform"][size][key + "_seconds"]

    def _with_submission(self, size: str, built: Path, out: Path, src: Path, key: str) -> bool:
        """``out``: a copy of the built home ``built`` with the submission ``src`` ingested;
        its loaded rows are recorded as ``transform[size][key]``. False if the ingest failed."""
        _copy_work(built, out)
        r = self.try_child(
            f"ingest {src.name}", "ingest", out.parent / "logs", home=out, files=[src]
        )
        if r is None:
            return False
        self.extra["transform"].setdefault(size, {})[key] = r["rows_loaded"]
        self.extra["transform"][size][key + "_seconds"] = r["seconds"]
        return True

    def profile_missed(self) -> None:
        """Profile the steps behind missed targets at the largest size measured."""
        if self.args.no_profile:
            return
        from benchmarks.report import evaluate_targets, hot_spots

        largest = max(self.datasets, key=bdata.parse_size)
        ds, s = self.datasets[largest], largest
        missed = {t["id"] for t in evaluate_targets(self.snapshot()) if t["met"] is False}
        prof_dir = self.results_dir / "profiles"
        root = self.work / "profile"
        shutil.rmtree(root, ignore_errors=True)
        jobs = []
        if missed & {"ingest_vs_limit", "ingest_vs_peers", "pipeline_1m", "pipeline_10m"}:
            jobs.append(("ingest_events", "ingest", {"files": ds.platform_event_files}))
            jobs.append(("ingest_small_files", "ingest", {"files": ds.capability_files[:60]}))
        if missed & {"gate_share", "pipeline_1m", "pipeline_10m"}:
            jobs.append(("gate", "gate", {}))
        for name, task, kw in jobs:
            home = root / name
            if task == "gate":
                _copy_work(self.built_homes[s], home)
            stem = prof_dir / f"{name}_{s}"
            log(f"  profiling {name} at {s} -> {stem}.html")
            r = self.try_child(
                f"profile {name}", task, root / "logs", home=home, profile=stem, **kw
            )
            if r is not None:
                self.extra["profiles"].append(
                    {
                        "step": name,
                        "size": s,
                        "html": str(stem.with_suffix(".html").relative_to(self.out_dir)),
                        "text": str(stem.with_suffix(".txt").relative_to(self.out_dir)),
                        "seconds": r["seconds"],
                        "hot_spots": hot_spots(stem.with_suffix(".txt")),
                    }
                )
            shutil.rmtree(home, ignore_errors=True)

    def end_to_end(self) -> None:
        """File-to-published through ``airflow standalone`` on the built 1M-event warehouse
        (or the largest size built below it), 1k-row files landed one after another."""
        if not self.args.e2e_files:
            return
        sizes = [s for s in self.built_homes if bdata.parse_size(s) <= LARGE]
        if not sizes:
            return
        size = max(sizes, key=bdata.parse_size)
        from benchmarks.event_driven import measure

        log(f"end to end: {self.args.e2e_files} files of 1k rows through Airflow at {size}")
        try:
            res = measure(
                self.built_homes[size],
                self.datasets[size].delta_csv,
                self.work / "e2e",
                self.args.e2e_files,
            )
        except Exception as exc:  # noqa: BLE001 - recorded as an error, the rest still reports
            self.extra["errors"].append({"step": "end to end", "error": str(exc)[-1500:]})
            return
        res["size"] = size
        self.results_dir.mkdir(parents=True, exist_ok=True)
        out = self.results_dir / f"event_driven_{size}.json"
        out.write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
        self.e2e_source = out

    def snapshot(self) -> dict:
        ms, rs = self.rec.render()
        # this run's measurement, else an earlier harness run's (largest size), else the test's
        earlier = sorted(
            (f for f in self.results_dir.glob("event_driven_*.json") if f.stem[13:14].isdigit()),
            key=lambda f: bdata.parse_size(f.stem.removeprefix("event_driven_")),
        )
        e2e_file = self.e2e_source or (
            earlier[-1] if earlier else self.results_dir / "event_driven_latency.json"
        )
        e2e = (
            {
                "status": "measured",
                "source": e2e_file.name,
                "data": json.loads(e2e_file.read_text()),
            }
            if e2e_file.exists()
            else {"status": "not measured yet"}
        )
        return {
            "schema_version": 1,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m benchmarks.run " + " ".join(self.args.argv),
            "mode": "full" if self.args.full else "default",
            "repeat": self.args.repeat,
            "repeat_large": self.args.repeat_large,
            "machine": self.machine,
            "versions": self.versions,
            "sizes": {k: {"label": k, **v.meta} for k, v in self.datasets.items()},
            "measurements": ms,
            "ratios": rs,
            "end_to_end": e2e,
            "end_to_end_by_size": end_to_end_by_size(self.results_dir),
            **self.extra,
        }

    def run(self) -> dict:
        self.machine, self.versions = machine(), versions()
        self.built_homes: dict[str, Path] = {}
        t0 = time.perf_counter()
        self.work.mkdir(parents=True, exist_ok=True)
        for size in self.args.sizes:
            self.run_size(size)
        smallest = min(self.datasets, key=bdata.parse_size)
        if self.args.xlsx_rows:
            log(f"xlsx readers on {self.args.xlsx_rows} rows")
            self.xlsx_group(self.datasets[smallest])
        self.growth_pairs()
        self.end_to_end()
        self.profile_missed()
        snap = self.snapshot()
        snap["harness_seconds"] = round(time.perf_counter() - t0, 1)
        prev = self.results_dir / "results.json"
        if prev.exists() and not self.args.no_carry_over:
            carry_over(json.loads(prev.read_text()), snap)
        from benchmarks.report import evaluate_targets, write_markdown

        snap["targets"] = evaluate_targets(snap)
        self.results_dir.mkdir(parents=True, exist_ok=True)
        (self.results_dir / "results.json").write_text(
            json.dumps(snap, indent=2, ensure_ascii=False, default=str) + "\n"
        )
        write_markdown(snap, self.out_dir / "RESULTS.md")
        if not self.args.keep_work:
            shutil.rmtree(self.work, ignore_errors=True)
        return snap


def carry_over(prev: dict, snap: dict) -> list[str]:
    """Keep the figures of sizes this run did not measure from the previous results.json.

    ``make bench`` (100k, 1M) after ``make bench-full`` must not erase the 10M figures; each
    carried figure keeps the date it was measured (``carried_from``), and the report says so.
    Returns the sizes carried over.
    """
    sizes = [s for s in prev.get("sizes", {}) if s not in snap["sizes"]]
    when = prev.get("generated_at")
    for s in sizes:
        snap["sizes"][s] = {**prev["sizes"][s], "carried_from": when}
        for key in ("measurements", "ratios"):
            snap[key] += [{**m, "carried_from": when} for m in prev.get(key, []) if m["size"] == s]
        for key in ("pipeline", "transform", "gate_agreement"):
            if s in prev.get(key, {}):
                snap.setdefault(key, {})[s] = prev[key][s]
    snap["sizes"] = dict(sorted(snap["sizes"].items(), key=lambda kv: bdata.parse_size(kv[0])))
    if sizes and not snap.get("profiles") and prev.get("profiles"):
        snap["profiles"] = prev["profiles"]  # a run without profiling keeps the earlier ones
    if sizes:
        snap["carried_over"] = {"sizes": sizes, "from": when}
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--size", dest="sizes", nargs="+", help="e.g. 100k 1m 10m (default 100k 1m)")
    ap.add_argument("--full", action="store_true", help="sizes 100k 1m 10m (make bench-full)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per size (default 3)")
    ap.add_argument(
        "--repeat-large",
        type=int,
        default=2,
        help="rounds for sizes of 1M events and more (default 2; 0 = --repeat)",
    )
    ap.add_argument(
        "--repeat-xl",
        type=int,
        default=0,
        help="rounds for sizes of 10M events and more (default 0 = --repeat-large)",
    )
    ap.add_argument("--xlsx-rows", type=int, default=XLSX_ROWS, help="0 skips the XLSX group")
    ap.add_argument(
        "--dlt-max",
        type=bdata.parse_size,
        default=bdata.parse_size("1m"),
        help="largest size dlt is run at (default 1m)",
    )
    ap.add_argument(
        "--cities",
        type=int,
        default=bdata.CITIES,
        help="cities in generated data (default 300; fewer only for the harness test)",
    )
    ap.add_argument(
        "--growth-pairs",
        type=int,
        default=3,
        help="rounds of back-to-back incremental builds, 1M (or smallest) vs largest size, "
        "when more than one size runs (0 skips; default 3)",
    )
    ap.add_argument(
        "--submission-rows",
        type=int,
        default=1000,
        help="rows of the submission the growth rounds land on each warehouse (default 1000)",
    )
    ap.add_argument("--out-dir", default=str(BENCH_DIR), help="RESULTS.md and results/ go here")
    ap.add_argument("--data-dir", default=str(bdata.DATA_DIR))
    ap.add_argument("--work-dir", help="scratch (default <data-dir>/.work, removed at the end)")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--no-profile", action="store_true", help="skip profiling missed targets")
    ap.add_argument(
        "--no-carry-over",
        action="store_true",
        help="do not keep sizes measured only by an earlier run (e.g. 10M) in the results",
    )
    ap.add_argument(
        "--e2e-files",
        type=int,
        default=3,
        help="1k-row files landed through Airflow on the 1M warehouse (0 skips; default 3)",
    )
    args = ap.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if not args.sizes:
        args.sizes = FULL_SIZES if args.full else DEFAULT_SIZES
    args.sizes = sorted(dict.fromkeys(args.sizes), key=bdata.parse_size)
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    log(f"benchmarks: sizes {args.sizes}, repeat {args.repeat} (large: {args.repeat_large})")
    snap = Harness(args).run()
    log(f"done in {snap['harness_seconds']} s: {Path(args.out_dir) / 'RESULTS.md'}")
    return snap


if __name__ == "__main__":
    main()
