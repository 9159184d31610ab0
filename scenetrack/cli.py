"""``scenetrack`` command line: generate, ingest, run, demo, status, quarantine, replay, doctor,
hold, release, rollback, report, export, airflow.

Every subcommand takes ``--home DIR`` (default ``$SCENETRACK_HOME``, else ``./warehouse``) and
``--json`` (a machine-readable summary on stdout instead of text).
Exit codes: 0 success; 1 a file could not be read, a step failed or (doctor) a check found a
problem; 2 the quality gate blocked the publish; 3 another process holds the warehouse's
writer lock.

Long work shows its progress on stderr (scenetrack.progress): live on a terminal, timestamped
lines otherwise; stdout carries only the result. Text that came from a file is printed
through ``printable`` (it cannot forge lines or send terminal control sequences).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from ingestion.printable import printable
from scenetrack import progress
from scenetrack.config import DEFAULT_API_PORT, Paths, paths

EXIT_FAILED, EXIT_GATE_BLOCKED, EXIT_BUSY = 1, 2, 3


def _emit(args: argparse.Namespace, data: dict, text: str) -> None:
    """The command's result on stdout: JSON with ``--json``, else ``text`` (whose file-derived
    parts the caller passed through ``printable``)."""
    progress.pause()  # a live display is finished before the result is printed below it
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str) if args.json else text)


def cmd_generate(args: argparse.Namespace, p: Paths) -> int:
    from ingestion.generate import generate

    files = generate(
        Path(args.out),
        cities=args.cities,
        seed=args.seed,
        events=args.events,
        single_file=args.single_file,
    )
    _emit(
        args,
        {"files": [str(f) for f in files]},
        f"wrote {len(files)} submissions to {printable(args.out)}",
    )
    return 0


def cmd_ingest(args: argparse.Namespace, p: Paths) -> int:
    from ingestion.context import Context, parse_date
    from scenetrack.pipeline import ingest_paths

    for name, value in (("--channel", args.channel), ("--city", args.city)):
        if value is not None:
            _city_code(value, name)  # an operator's typo fails here, before anything is read
    if args.published_on is not None and parse_date(args.published_on) is None:
        raise RuntimeError(
            f"--published-on {args.published_on!r} is no date: write 2025-06-18 or 2025-06"
        )
    context = Context(args.channel, args.city, args.published_on)
    receipts = ingest_paths(p, [Path(f) for f in args.paths], sheet=args.sheet, context=context)
    where = str(Path(receipts[0].receipt_json).parent) if receipts else None
    _emit(
        args,
        {"receipts": [r.to_dict() for r in receipts], "receipts_dir": where},
        "\n".join(r.line() for r in receipts) + f"\nreceipts (JSON + XLSX): {printable(where)}",
    )
    rejected = [r for r in receipts if r.status == "rejected"]
    for r in rejected:
        print(
            f"error: {printable(r.file)} could not be read: {printable(r.reason)}",
            file=sys.stderr,
        )
    return EXIT_FAILED if rejected else 0


def cmd_run(args: argparse.Namespace, p: Paths) -> int:
    from scenetrack.config import warehouse_target
    from scenetrack.pipeline import run
    from scenetrack.report import build_evaluator_outputs

    out = run(p, full=args.full)
    # every path that publishes rebuilds the report (Airflow: scenetrack_evaluate); dbt's docs
    # describe the models, not the data: `scenetrack report --with-docs` refreshes them. The
    # report reads the published DuckDB file: on the PostgreSQL target there is none.
    reports: dict[str, str] = {}
    if warehouse_target() is None:
        outputs = build_evaluator_outputs(p, dbt_docs=False)
        reports = {k: str(v) for k, v in outputs.reports.items()}
    held = "".join(
        f"\nheld back: {h['city_code']} {printable(h['file_name'])} ({'; '.join(h['checks'])})"
        for h in out.held
    )
    _emit(
        args,
        asdict(out) | {"reports": reports},
        f"built {out.dbt_nodes} dbt nodes; gate {printable(out.gate_run_id)} passed "
        f"({out.warnings} warnings); published version {out.published_version}{held}"
        + (f"\nreport: {printable(reports['zh'])}" if reports else ""),
    )
    return 0


def _where(p: Paths) -> dict:
    return {
        "published_warehouse": str(p.published_db),
        "evaluator_report": str(p.published_dir / "report" / "index.html"),
        "dbt_docs": str(p.published_dir / "dbt_docs"),
        "parquet": str(p.published_dir / "parquet"),
        "gate_results": "table audit.gate_results in " + str(p.work_db),
        "data_docs": str(p.gate_dir / "data_docs"),
        "logs": str(p.logs_dir),
    }


def cmd_demo(args: argparse.Namespace, p: Paths) -> int:
    from ingestion.generate import AS_OF, generate
    from scenetrack.airflow_runner import dags_test, ensure_airflow
    from scenetrack.scorecard import render, top_cities

    samples = p.home / "samples"
    # The synthetic cities report up to the generator's as-of date; evaluate them as of that
    # day (stalled projects, days in stage) unless the operator pinned another date.
    os.environ.setdefault("SCENETRACK_REFERENCE_DATE", AS_OF.isoformat())
    # evaluate: the evaluator report + dbt docs from the published marts
    dags = ("scenetrack_ingest", "scenetrack_transform", "scenetrack_evaluate")
    with progress.task("demo", len(dags) + 2, "steps") as steps:
        steps.update(note=f"generating {args.cities} cities' submissions")
        files = generate(samples, cities=args.cities, seed=args.seed)
        landing = p.home / "landing"
        landing.mkdir(parents=True, exist_ok=True)
        for f in files:  # upload protocol: write under a .part name, then rename
            part = landing / (f.name + ".part")
            shutil.copyfile(f, part)
            part.rename(landing / f.name)
        steps.advance(note=f"{len(files)} submissions landed; Airflow metadata DB")
        ensure_airflow(p)
        for dag in dags:
            steps.advance(note=f"airflow dags test {dag}")
            dags_test(p, dag)
        steps.advance(note="done")
    rows = top_cities(p, args.top)
    where = _where(p)
    text = (
        "\nCity scorecard (all periods, top by cooperations) — 城市场景创新评估\n"
        + render(rows)
        + "\n\n"
        + "\n".join(f"{k:>20}: {printable(v)}" for k, v in where.items())
    )
    _emit(args, {"scorecard": rows, **where}, text)
    return 0


def cmd_status(args: argparse.Namespace, p: Paths) -> int:
    from scenetrack.status import status, summary

    s = status(p)
    _emit(args, s, summary(s))
    return 0


def _city_code(value: str, option: str = "--city") -> str:
    """A city as the operator writes it (合肥, Hefei, 340100) -> its code; raises when unknown."""
    import duckdb

    from ingestion.reference import resolve_city

    con = duckdb.connect()
    try:
        code = resolve_city(con, value)
    finally:
        con.close()
    if code is None:
        raise RuntimeError(
            f"{option}: unknown city {value!r}: give its name (合肥) or code (340100)"
        )
    return code


def cmd_quarantine(args: argparse.Namespace, p: Paths) -> int:
    """What waits in quarantine and why, most frequent first (read-only)."""
    import duckdb

    from scenetrack.quarantine import summary, waiting

    if not p.work_db.exists():
        _emit(args, {"rows": 0, "groups": []}, "quarantine: nothing ingested yet")
        return 0
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        w = waiting(con, args.by, None if args.all else args.limit)
    finally:
        con.close()
    _emit(args, w, summary(w))
    return 0


def cmd_replay(args: argparse.Namespace, p: Paths) -> int:
    """Load the quarantined rows that an alias or a reference added since now makes readable."""
    from ingestion.receipts import ROW_REASONS
    from scenetrack.pipeline import replay

    legacy = {"unknown_domain", "unknown_technology"}  # rows quarantined before issue 18
    if args.reason is not None and args.reason not in {*ROW_REASONS, *legacy}:
        raise RuntimeError(
            f"--reason {args.reason!r} is no row reason code: one of {', '.join(ROW_REASONS)}"
        )
    receipts = replay(p, args.reason, args.file)
    where = str(Path(receipts[0].receipt_json).parent) if receipts else None
    loaded = sum(r.rows_loaded for r in receipts if r.status == "replayed")
    waiting = sum(r.rows_quarantined for r in receipts if r.status != "rejected")
    text = "\n".join(r.line() for r in receipts)
    text += (
        f"\nreplayed {len(receipts)} file(s): {loaded} row(s) loaded, {waiting} still "
        "quarantined"
        + ("; `scenetrack run` publishes them" if loaded else "")
        + (f"\nreceipts (JSON + XLSX): {printable(where)}" if where else "")
    )
    _emit(
        args,
        {
            "receipts": [r.to_dict() for r in receipts],
            "receipts_dir": where,
            "rows_loaded": loaded,
            "rows_still_quarantined": waiting,
        },
        text
        if receipts
        else "nothing waits in quarantine"
        + (f" for {printable(args.reason)}" if args.reason else ""),
    )
    return EXIT_FAILED if any(r.status == "rejected" for r in receipts) else 0


def cmd_hold(args: argparse.Namespace, p: Paths) -> int:
    """Hold a city's rows (of one file, or of all it sent) out of the marts."""
    import getpass

    from scenetrack import holdback
    from scenetrack.warehouse import connect_work, writer_lock

    city = _city_code(args.city)
    with writer_lock(p):
        con = connect_work(p)
        try:
            n = holdback.hold_files(
                con, city, args.file, f"{getpass.getuser()} (operator)", args.why
            )
        finally:
            con.close()
    _emit(
        args,
        {"city_code": city, "held": n},
        f"held {n} submission(s) of {city}; the next `scenetrack run` leaves them out",
    )
    return 0


def cmd_release(args: argparse.Namespace, p: Paths) -> int:
    """Release a city's held submissions: the next run gates them again."""
    import getpass

    from scenetrack import holdback
    from scenetrack.warehouse import connect_work, writer_lock

    city = _city_code(args.city)
    with writer_lock(p):
        con = connect_work(p)
        try:
            n = holdback.release(con, city, args.file, f"{getpass.getuser()} (operator)")
        finally:
            con.close()
    _emit(
        args,
        {"city_code": city, "released": n},
        f"released {n} submission(s) of {city}; the next `scenetrack run` gates them again",
    )
    return 0


def cmd_doctor(args: argparse.Namespace, p: Paths) -> int:
    """Each check on a line: ok / PROBLEM (and what to do) / n/a; exit 1 on any problem."""
    from scenetrack.doctor import run_checks

    checks = run_checks(p, args.skip or (), args.port, args.min_free_gb)
    healthy = all(c.passed for c in checks)
    lines = [f"scenetrack doctor: {printable(p.home)}"]
    for c in checks:
        tag = c.status if c.passed else "PROBLEM"
        lines.append(f"{tag:<8} {c.name}: {printable(c.detail)}")
        if c.fix:
            lines.append(f"{'':<8} fix: {printable(c.fix)}")
    problems = sum(not c.passed for c in checks)
    lines.append("healthy" if healthy else f"{problems} problem(s)")
    _emit(
        args,
        {"home": str(p.home), "healthy": healthy, "checks": [c.to_dict() for c in checks]},
        "\n".join(lines),
    )
    return 0 if healthy else EXIT_FAILED


def cmd_rollback(args: argparse.Namespace, p: Paths) -> int:
    from scenetrack.config import warehouse_target
    from scenetrack.publish import rollback
    from scenetrack.report import build_evaluator_outputs
    from scenetrack.warehouse import writer_lock

    with writer_lock(p):
        if (pg := warehouse_target()) is not None:  # swap published_old back in
            from scenetrack.postgres.rollback import rollback as rollback_pg

            rec = rollback_pg(p, pg, args.version)
        else:
            rec = rollback(p, args.version)
    build_evaluator_outputs(p, dbt_docs=False)  # the report shows the version now published
    _emit(args, asdict(rec), f"published warehouse rolled back to v{rec.version}")
    return 0


def cmd_report(args: argparse.Namespace, p: Paths) -> int:
    from scenetrack.report import build_evaluator_outputs, build_report

    if args.with_docs:
        out = build_evaluator_outputs(p)
        data = {
            "reports": {k: str(v) for k, v in out.reports.items()},
            "dbt_docs": str(out.dbt_docs) if out.dbt_docs else None,
            "dbt_docs_error": out.dbt_docs_error,
        }
        text = "\n".join(f"report ({k}): {printable(v)}" for k, v in data["reports"].items())
        docs = data["dbt_docs"] or "FAILED: " + str(out.dbt_docs_error)
        text += f"\ndbt docs: {printable(docs)}"
        _emit(args, data, text)
        return EXIT_FAILED if out.dbt_docs_error else 0
    index = build_report(p, args.lang)
    _emit(
        args,
        {"report": str(index), "lang": args.lang},
        f"report ({args.lang}): {printable(index)}",
    )
    return 0


def cmd_export(args: argparse.Namespace, p: Paths) -> int:
    from scenetrack.export import export

    res = export(
        p, args.format, args.mart, Path(args.out) if args.out else None, args.city, args.labels
    )
    _emit(
        args,
        {"version": res.version, "format": res.format, "files": [str(f) for f in res.files]},
        f"exported {len(res.files)} table(s) of published version v{res.version} as "
        f"{res.format}:\n" + "\n".join(f"  {printable(f)}" for f in res.files),
    )
    return 0


def cmd_airflow(args: argparse.Namespace, p: Paths) -> int:
    """Airflow's services with the project's DAGs on loopback until Ctrl-C (or --detach);
    ``--celery``: the production topology (scenetrack.airflow_topology)."""
    import signal
    import time

    from scenetrack import airflow_topology as topology
    from scenetrack.airflow_runner import admin_login

    if args.stop:
        done = topology.stop_recorded(p)
        print("stopped: " + (", ".join(done) if done else f"nothing recorded in {p.home}"))
        return 0
    topology.require_free_port(args.host, args.port, "Airflow API server")
    what = "Celery topology (PostgreSQL, Redis, 2 workers)" if args.celery else "Airflow"
    print(f"starting {what} on {args.host}…", file=sys.stderr, flush=True)
    if args.celery:
        topo, info = topology.start_production(p, args.port, args.host)
    else:
        topo = topology.start_local(p, args.port, args.host)
        info = {}
    login = admin_login(p, timeout=30)
    print(
        f"Airflow is ready: {topo.url} (health: {topo.url}{topology.HEALTH_PATH})\n"
        + (f"login: {login[0]} / {login[1]}\n" if login else "")
        + (
            f"warehouse: {info['warehouse_dsn'].split('@')[-1]} (Airflow connection "
            f"{topology.WAREHOUSE_CONN_ID})\n"
            if info
            else ""
        )  # fmt: skip
        + f"drop submissions into {p.home / 'landing'} (write *.part, then rename)\n"
        + f"logs: {p.logs_dir / 'airflow-services'}",
        flush=True,
    )
    if args.detach:
        print(f"stop it with: scenetrack airflow --stop --home {p.home}", flush=True)
        return 0
    stopping: list[int] = []

    def _stop(signum, _frame) -> None:
        stopping.append(signum)

    old = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print("Ctrl-C stops it.", flush=True)
        while not stopping and not (dead := topo.dead()):
            time.sleep(0.5)
        if not stopping:
            print(f"error: Airflow component(s) exited: {', '.join(dead)}", file=sys.stderr)
    finally:
        print("stopping Airflow…", file=sys.stderr, flush=True)
        topo.stop()
        for s, h in old.items():
            signal.signal(s, h)
    return 0 if stopping else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    from scenetrack.doctor import CHECK_NAMES, DEFAULT_MIN_FREE_GB

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", help="warehouse home (default: $SCENETRACK_HOME or ./warehouse)")
    common.add_argument("--json", action="store_true", help="machine-readable summary on stdout")
    parser = argparse.ArgumentParser(
        prog="scenetrack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", parents=[common], help="write synthetic city submissions")
    g.add_argument("--out", required=True, help="folder to write the submissions into")
    g.add_argument("--cities", type=int, default=83, help="number of cities (default 83)")
    g.add_argument("--seed", type=int, default=7, help="random seed (same seed, same files)")
    g.add_argument("--events", type=int, default=None, help="approximate total events")
    g.add_argument("--single-file", action="store_true", help="all events in one events.csv")
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("ingest", parents=[common], help="load submission files into the raw layer")
    i.add_argument("paths", nargs="+", help="submission files, loaded in the order given")
    i.add_argument("--sheet", help="worksheet to read from XLSX files (default: the first)")
    i.add_argument(
        "--channel",
        help="the city's submission channel the files come through, as landing/<city>/ "
        "(name or code): rows naming another city are quarantined (city_mismatch)",
    )
    i.add_argument(
        "--city",
        help="the city of lists that name none (after the city column and the title rows)",
    )
    i.add_argument(
        "--published-on",
        help="publication date of lists that give none (2025-06-18, 2025-06)",
    )
    i.set_defaults(func=cmd_ingest)

    r = sub.add_parser("run", parents=[common], help="dbt build + GX gate + publish")
    r.add_argument(
        "--full",
        action="store_true",
        help="the gate validates every row (default: the rows changed since the last passing "
        "gate, and every row once per SCENETRACK_GATE_FULL_EVERY_HOURS)",
    )
    r.set_defaults(func=cmd_run)

    d = sub.add_parser(
        "demo",
        parents=[common],
        help="generate + ingest + build/gate/publish through the Airflow DAGs",
    )
    d.add_argument("--cities", type=int, default=83)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--top", type=int, default=15, help="scorecard rows to print")
    d.set_defaults(func=cmd_demo)

    s = sub.add_parser(
        "status",
        parents=[common],
        help="ledger, quarantine by reason, last gate and its checks, published version and its "
        "age, the report's version, silent cities",
    )
    s.set_defaults(func=cmd_status)

    q = sub.add_parser(
        "quarantine",
        parents=[common],
        help="what waits in quarantine and why, most frequent first (the operator's to-do list)",
    )
    q.add_argument(
        "--by", choices=["reason", "value", "city", "file"], default="reason", help="grouping"
    )
    q.add_argument("--limit", type=int, default=20, help="groups shown (default 20)")
    q.add_argument("--all", action="store_true", help="every group")
    q.set_defaults(func=cmd_quarantine)

    rpl = sub.add_parser(
        "replay",
        parents=[common],
        help="re-read the quarantined rows of archived files and load those that now pass "
        "(after an alias or reference was added); `run` publishes them",
    )
    rpl.add_argument("--reason", help="only rows quarantined for this reason (unknown_city …)")
    rpl.add_argument("--file", help="only the file whose sha256 is (or starts with) this")
    rpl.set_defaults(func=cmd_replay)

    for name, func, text in (
        ("hold", cmd_hold, "hold a city's submissions out of the marts (per-city holdback)"),
        ("release", cmd_release, "release a city's held submissions (the next run gates them)"),
    ):
        h = sub.add_parser(name, parents=[common], help=text)
        h.add_argument("--city", required=True, help="city name or code (合肥, Hefei, 340100)")
        h.add_argument("--file", help="one submission by its sha256 (default: all of the city's)")
        if name == "hold":
            h.add_argument("--why", default="held by the operator", help="reason, kept with it")
        h.set_defaults(func=func)

    dr = sub.add_parser(
        "doctor",
        parents=[common],
        help="is this installation healthy? (lock, DuckDB files, writer lock, PostgreSQL, "
        "Airflow DB, ports, disk); exit 1 on any problem",
    )
    dr.add_argument(
        "--skip", action="append", choices=CHECK_NAMES, help="leave a check out (repeatable)"
    )
    dr.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"the API port `scenetrack airflow --port` will use (default {DEFAULT_API_PORT})",
    )
    dr.add_argument(
        "--min-free-gb",
        type=float,
        default=DEFAULT_MIN_FREE_GB,
        help=f"free space the home needs (default {DEFAULT_MIN_FREE_GB:g} GiB)",
    )
    dr.set_defaults(func=cmd_doctor)

    rb = sub.add_parser("rollback", parents=[common], help="restore a kept published version")
    rb.add_argument("version", nargs="?", type=int, help="version (default: the previous one)")
    rb.set_defaults(func=cmd_rollback)

    rp = sub.add_parser(
        "report", parents=[common], help="build the evaluator report (static HTML) from the marts"
    )
    rp.add_argument("--lang", choices=["zh", "en"], default="zh", help="labels (default zh)")
    rp.add_argument(
        "--with-docs",
        action="store_true",
        help="build both languages and publish dbt docs (what runs after every publish)",
    )
    rp.set_defaults(func=cmd_report)

    ex = sub.add_parser(
        "export", parents=[common], help="export published marts as csv, xlsx or parquet"
    )
    ex.add_argument("--format", choices=["csv", "xlsx", "parquet"], required=True)
    ex.add_argument(
        "--mart",
        action="append",
        help="table to export (repeatable; default: every published mart)",
    )
    ex.add_argument("--out", help="folder (default: <home>/published/exports/<format>)")
    ex.add_argument(
        "--city",
        help="only what this city may see (its own rows, national aggregates; docs/bi_access.md)",
    )
    ex.add_argument(
        "--labels",
        choices=["zh", "en"],
        help="CSV/XLSX for people: headers in Chinese or English, stage/status/region/domain/"
        "technology codes as names (default: the marts' column names and codes)",
    )
    ex.set_defaults(func=cmd_export)
    af = sub.add_parser(
        "airflow",
        parents=[common],
        help="run Airflow's services with the project's DAGs on 127.0.0.1 (Ctrl-C stops them)",
    )
    af.add_argument(
        "--port",
        type=int,
        default=DEFAULT_API_PORT,
        help=f"API server / UI port (default {DEFAULT_API_PORT})",
    )
    af.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    af.add_argument(
        "--celery",
        action="store_true",
        help="production topology: PostgreSQL metadata and warehouse, Redis, Celery workers",
    )
    af.add_argument("--detach", action="store_true", help="start, print, return (stop: --stop)")
    af.add_argument("--stop", action="store_true", help="stop what --detach started in this home")
    af.set_defaults(func=cmd_airflow)
    return parser


def main(argv: list[str] | None = None) -> int:
    from scenetrack.airflow_runner import AirflowRunError
    from scenetrack.config import SettingsError
    from scenetrack.pipeline import GateBlockedError
    from scenetrack.transform import DbtBuildError
    from scenetrack.warehouse import WriterBusyError

    args = build_parser().parse_args(argv)
    try:
        with progress.shown():
            return args.func(args, paths(args.home))
    except GateBlockedError as exc:
        print(
            "quality gate BLOCKED the publish; the published warehouse is unchanged.\n"
            + printable(exc, keep_newlines=True),
            file=sys.stderr,
        )
        return EXIT_GATE_BLOCKED
    except WriterBusyError as exc:
        print(f"error: {printable(exc, keep_newlines=True)}", file=sys.stderr)
        return EXIT_BUSY
    except (DbtBuildError, AirflowRunError, RuntimeError, SettingsError) as exc:
        print(f"error: {printable(exc, keep_newlines=True)}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        if type(exc).__module__.startswith("psycopg"):  # PostgreSQL target unreachable, …
            print(
                f"error: PostgreSQL warehouse: {printable(exc, keep_newlines=True)}",
                file=sys.stderr,
            )
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    sys.exit(main())
