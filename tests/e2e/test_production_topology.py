"""The production topology end to end, on loopback: PostgreSQL (Airflow's metadata and the
warehouse), Redis (the Celery broker), two Celery workers, the scheduler, dag-processor,
triggerer and API server (``scenetrack.airflow_topology.start_production``), an SMTP sink and
a webhook sink. The warehouse reaches the tasks only as the Airflow connection
``scenetrack_warehouse`` (the workers' environment has no SCENETRACK_WAREHOUSE).

One topology serves the whole module (starting it costs ~40 s); the tests run in file order,
each on the warehouse the previous ones left:

1. every server listens on 127.0.0.1 only;
2. a city's file lands and a Celery worker is SIGKILLed (its whole process group: worker,
   task process, dbt) in the middle of ``dbt build``; the task is retried on the other worker
   and the file's projects are published once;
3. a second file, and the worker dies right after the schema swap committed (fault point
   ``pg_publish:after_swap``): the retry finds its gate run live and publishes nothing again;
4. a third file while Redis is restarted: it is published;
5. a file with an amount of 20000亿元 from a fourth city: per-city holdback holds that city's
   file back (its rows stay in raw) and everyone else publishes; exactly one e-mail and one
   webhook POST name the failing expectation and the city (zh + en) and how to release it;
6. a city's role reads only its own rows; nothing is lost or doubled; no password appears in
   a log, receipt, asset event or the report; every server is stopped at the end (also when a
   test fails: the fixture's finalizer).
"""

from __future__ import annotations

import csv
import json
import os
import time
from html import unescape
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from scenetrack.airflow_runner import land
from scenetrack.airflow_topology import group_alive, start_production
from scenetrack.config import PROJECT_DIR, Paths
from tests.conftest import event, write_csv
from tests.topology.sinks import body_text, http_sink, smtp_sink
from tests.topology.sockets import addresses_on_port, sockets_of

pytestmark = pytest.mark.e2e

WAIT_S = 420
CITY_PASSWORD = "city-pw-e2e"
BAD_CITY = "110000"  # 北京 Beijing: not among the generated cities


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """The started topology and what the tests need to look at it."""

    def __init__(self, tmp: Path) -> None:
        from ingestion.generate import generate

        self.p = Paths(tmp / "home").ensure()
        self.fault_file = tmp / "fault"
        self.samples = {f.name: f for f in generate(tmp / "samples", cities=3, seed=11)}
        self.events = sorted(
            n for n in self.samples if n.startswith("events_") and n[7:13].isdigit()
        )
        self.bad = write_csv(
            tmp / f"events_{BAD_CITY}.csv",
            [
                event(BAD_CITY, "BJ-1", "opportunity", "enter", "2025-03-01", "", "2025-03-02"),
                event(
                    BAD_CITY, "BJ-1", "validation", "enter", "2025-05-01", "20000亿元", "2025-05-02"
                ),  # fmt: skip
            ],
        )
        self.topo = None
        self.info: dict = {}
        self.inbox: list = []
        self.posted: list = []

    @property
    def landing(self) -> Path:
        return self.p.home / "landing"

    def meta(self, query: str, params: tuple = ()) -> list[tuple]:
        dsn = self.topo.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg", "", 1)
        with psycopg.connect(dsn, autocommit=True) as con:
            return con.execute(query, params).fetchall()

    def wh(self, query: str, params: tuple | list = ()) -> list[tuple]:
        with psycopg.connect(self.info["warehouse_dsn"], autocommit=True) as con:
            return con.execute(query, params).fetchall()

    def wait(self, what: str, cond, timeout: float = WAIT_S, every: float = 1.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n in self.topo.dead()]
            if dead:
                pytest.fail(f"component(s) {dead} died waiting for {what}")
            value = cond()
            if value:
                return value
            time.sleep(every)
        states = self.meta(
            "select dag_id, task_id, state, try_number from task_instance order by start_date"
        )
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; tasks: {states}")

    def published_projects(self, city: str) -> int:
        try:
            return self.wh(
                "select count(*) from published.fct_project_lifecycle where city_code = %s",
                [city],
            )[0][0]
        except psycopg.errors.UndefinedTable:
            return 0

    def version(self) -> int:
        return self.wh("select version from published.publish_info")[0][0]


def _alive(pid: int, grace: float = 5.0) -> bool:
    """Whether ``pid`` is still alive (not a zombie) after up to ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state == "Z" or time.monotonic() > deadline:
            return state != "Z"
        time.sleep(0.1)


def _file_rows(f: Path) -> tuple[int, int]:
    with f.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return len(rows), len({r["project_id"] for r in rows})


def _city(name: str) -> str:
    return name.split("_")[1][:6]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("prod"))
    with smtp_sink() as (smtp_port, inbox), http_sink() as (url, posted):
        s.inbox, s.posted = inbox, posted
        connections = {
            "scenetrack_smtp": {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": smtp_port,
                "extra": {
                    "from_email": "scenetrack@localhost",
                    "to": "ops@localhost",
                    "disable_ssl": True,
                    "disable_tls": True,
                },  # fmt: skip
            },
            "scenetrack_alerts_webhook": {"conn_type": "http", "host": url},
        }
        s.topo, s.info = start_production(
            s.p,
            port=_free_port(),
            heartbeat_timeout_s=20,
            extra_env={
                "SCENETRACK_FAULT_FILE": str(s.fault_file),
                "SCENETRACK_REFERENCE_DATE": "2025-12-31",  # the samples' as-of date
            },
            extra_connections=connections,
        )
        try:
            yield s
        finally:
            s.topo.stop()


def test_every_server_listens_on_loopback_only(stack: Stack) -> None:
    from urllib.parse import urlsplit

    sockets = sockets_of(set(stack.topo.pids()))
    assert sockets, "the API server listens"
    assert {(a, p) for _, a, p in sockets} == {("127.0.0.1", stack.topo.cfg.api_port)}
    for url in (stack.info["warehouse_dsn"], stack.info["broker_url"]):
        port = urlsplit(url).port
        assert addresses_on_port(port) == {"127.0.0.1"}, url.split("@")[-1]


def _dbt_build_process(stack: Stack) -> int | None:
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"build" in cmd and any(c.endswith(b"/dbt") for c in cmd[:2]):
            if str(PROJECT_DIR / "dbt_project").encode() in cmd:
                name = stack.topo.owner_of(int(d))
                if name and name.startswith("worker"):
                    return int(d)
    return None


def test_a_worker_killed_mid_build_loses_and_doubles_nothing(stack: Stack) -> None:
    first = stack.events[0]
    land(stack.samples[first], stack.landing / "无锡")  # 无锡's channel, by name
    pid = stack.wait("dbt build running in a worker", lambda: _dbt_build_process(stack), every=0.2)
    time.sleep(1.0)  # well inside the build
    worker = stack.topo.owner_of(pid)
    stack.topo.components[worker].kill_all()  # the machine is gone: worker, task, dbt
    assert not _alive(pid)
    stack.topo.restart(worker)  # as its supervisor would
    stack.wait(
        f"{first} in the published schema",
        lambda: stack.published_projects(_city(first)) == _file_rows(stack.samples[first])[1],
    )
    tries = stack.meta(
        "select max(try_number) from task_instance where dag_id = 'scenetrack_transform' "
        "and task_id = 'dbt_build'"
    )[0][0]
    assert tries >= 2  # the killed try, then the retry that built it
    assert stack.version() == 1


def test_a_worker_killed_after_the_swap_does_not_publish_twice(stack: Stack) -> None:
    second = stack.events[1]
    reached = Path(str(stack.fault_file) + ".reached")
    stack.fault_file.write_text("pg_publish:after_swap=stall")
    land(stack.samples[second], stack.landing / "340100")  # 合肥's channel, by code
    where, pid = stack.wait(
        "the publish to stall after its swap",
        lambda: reached.exists() and reached.read_text().split(),
        every=0.2,
    )
    assert where == "pg_publish:after_swap"
    stack.fault_file.unlink()  # disarmed: the retry runs clean
    worker = stack.topo.owner_of(int(pid))
    assert worker and worker.startswith("worker")
    assert stack.version() == 2  # the swap committed before the worker died
    stack.topo.components[worker].kill_all()
    assert not _alive(int(pid))
    stack.topo.restart(worker)
    stack.wait(
        "publish_marts to succeed on retry",
        lambda: stack.meta(
            "select 1 from task_instance where dag_id = 'scenetrack_transform' "
            "and task_id = 'publish_marts' and state = 'success' and try_number >= 2"
        ),
    )
    assert stack.version() == 2  # the retry found its gate run live: no v3
    assert stack.published_projects(_city(second)) == _file_rows(stack.samples[second])[1]


def test_a_broker_restart_loses_no_submission(stack: Stack) -> None:
    from scenetrack import broker

    third = stack.events[2]
    land(stack.samples[third], stack.landing)
    broker.stop(Path(stack.info["redis_dir"]), keep=True)
    time.sleep(5)
    broker.start(Path(stack.info["redis_dir"]))
    stack.wait(
        f"{third} in the published schema",
        lambda: stack.published_projects(_city(third)) == _file_rows(stack.samples[third])[1],
    )
    assert stack.version() == 3


def test_a_breaking_file_is_held_back_and_notifies_once(stack: Stack) -> None:
    stack.wait("the evaluator outputs of v3", lambda: stack.meta(
        "select count(*) from task_instance where dag_id = 'scenetrack_evaluate' "
        "and task_id = 'build_evaluator_report' and state in ('success', 'failed')"
    )[0][0] >= 3)  # fmt: skip
    before = stack.version()
    sent_before = (len(stack.inbox), len(stack.posted))
    land(stack.bad, stack.landing / "北京")  # 北京's channel
    stack.wait("the alert", lambda: len(stack.inbox) > sent_before[0] and len(stack.posted))
    stack.wait("the next version", lambda: stack.version() > before)
    stack.wait("the evaluator outputs of v4", lambda: stack.meta(
        "select count(*) from task_instance where dag_id = 'scenetrack_evaluate' "
        "and task_id = 'build_evaluator_report' and state in ('success', 'failed')"
    )[0][0] >= 4)  # fmt: skip
    time.sleep(10)  # a second alert would have arrived by now
    assert sent_before == (0, 0)
    assert (len(stack.inbox), len(stack.posted)) == (1, 1)
    mail = stack.inbox[0]
    text = unescape(body_text(mail))
    assert "北京 Beijing (110000)" in mail["Subject"] and "held back" in mail["Subject"]
    assert (
        "fct_project_lifecycle: expect_column_values_to_be_between(cooperation_amount_yuan)" in text
    )
    assert "暂缓发布" in text and "scenetrack release --city" in text
    assert stack.posted[0]["kind"] == "held_back" and stack.posted[0]["cities"] == [BAD_CITY]
    # everyone else published; the held city's rows are in raw, not in the published schema
    assert stack.published_projects(BAD_CITY) == 0
    assert stack.wh("select city_code from raw.file_holds where released_at is null") == [
        (BAD_CITY,)
    ]
    assert stack.wh("select count(*) from raw.events where city_code = %s", [BAD_CITY]) == [(2,)]
    states = stack.meta(
        "select task_id, state from task_instance where dag_id = 'scenetrack_transform' "
        "and task_id in ('quality_gate', 'publish_marts') order by start_date desc limit 2"
    )
    assert sorted(states) == [("publish_marts", "success"), ("quality_gate", "success")]


def test_a_city_role_reads_only_its_own_rows(stack: Stack) -> None:
    city = _city(stack.events[0])
    with psycopg.connect(stack.info["pg_admin_dsn"], autocommit=True) as admin:
        admin.execute(
            sql.SQL("alter role {} password {}").format(
                sql.Identifier(f"city_{city}"), sql.Literal(CITY_PASSWORD)
            )
        )
    w = psycopg.conninfo.conninfo_to_dict(stack.info["warehouse_dsn"])
    dsn = f"postgresql://city_{city}:{quote(CITY_PASSWORD)}@{w['host']}:{w['port']}/{w['dbname']}"
    with psycopg.connect(dsn) as c:
        rows = c.execute(
            "select city_code, count(*) from published.fct_project_lifecycle group by 1"
        ).fetchall()
    assert rows == [(city, _file_rows(stack.samples[stack.events[0]])[1])]
    assert len(stack.wh("select distinct city_code from published.fct_project_lifecycle")) == 3


def test_nothing_lost_nothing_doubled(stack: Stack) -> None:
    landed = {n: stack.samples[n] for n in stack.events} | {stack.bad.name: stack.bad}
    ledger = {
        r[0]: r[1:]
        for r in stack.wh(
            "select file_name, times_seen, status, rows_read, rows_loaded, rows_quarantined "
            "from raw.file_ledger"
        )
    }
    assert sorted(ledger) == sorted(landed)
    raw = dict(stack.wh("select source_file_name, count(*) from raw.events group by 1"))
    for name, f in landed.items():
        times_seen, status, read, loaded, quarantined = ledger[name]
        assert (times_seen, status) == (1, "loaded"), name
        assert read == _file_rows(f)[0] == loaded + quarantined, name
        assert raw[name] == loaded, name
    log = stack.wh("select version, action, gate_run_id from audit.publish_log order by version")
    # v4: everyone but the held city, after the breaking file (per-city holdback)
    assert [v for v, _, _ in log] == [1, 2, 3, 4]
    assert len({g for _, _, g in log}) == 4 and {a for _, a, _ in log} == {"publish"}
    local = [
        json.loads(line)["version"]
        for line in (stack.p.published_dir / "publish_log.jsonl").read_text().splitlines()
    ]
    assert local == [1, 2, 3, 4]
    processed = [f for f in (stack.p.home / "processed").rglob("*") if f.is_file()]
    assert sorted(f.name for f in processed) == sorted(landed)
    # a channel's files are kept in its own folder (two cities' 清单.xlsx never collide)
    assert {f.parent.name for f in processed} == {"无锡", "340100", "processed", "北京"}
    assert [f for f in stack.landing.rglob("*") if f.is_file()] == []
    report = stack.p.published_dir / "report" / "index.html"
    assert report.exists() and "v4" in report.read_text(encoding="utf-8")


def test_no_password_in_logs_receipts_asset_events_or_the_report(stack: Stack) -> None:
    from urllib.parse import urlsplit

    secrets = {
        "warehouse writer": urlsplit(stack.info["warehouse_dsn"]).password,
        "bi_reader": stack.info["bi_password"],
        "airflow metadata": urlsplit(
            stack.topo.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg", "")
        ).password,
        "redis": urlsplit(stack.info["broker_url"]).password,
        "city role": CITY_PASSWORD,
    }
    assert all(secrets.values())
    home = stack.p.home
    files = [
        f
        for d in (home / "logs", home / "receipts", home / "published", home / "processed")
        for f in d.rglob("*")
        if f.is_file()
    ]
    assert any("dag_id=scenetrack_transform" in str(f) for f in files)  # task logs are there
    leaks = [
        (what, str(f))
        for f in files
        for what, pw in secrets.items()
        if pw.encode() in f.read_bytes()
    ]
    assert leaks == []
    events = json.dumps(stack.meta("select extra::text from asset_event"))
    xcoms = json.dumps(stack.meta("select value::text from xcom"), default=str)
    assert len(stack.meta("select 1 from asset_event")) >= 8
    for what, pw in secrets.items():
        assert pw not in events, what
        assert pw not in xcoms, what
    mails = "".join(body_text(m) + str(m["Subject"]) for m in stack.inbox)
    assert not any(pw in mails or pw in json.dumps(stack.posted) for pw in secrets.values())


def test_every_server_stops(stack: Stack) -> None:
    groups = [c.pid for c in stack.topo.components.values()]
    everything = stack.topo.pids()
    assert len(everything) > len(groups)  # workers' pool processes, at least
    stack.topo.stop()
    assert not any(group_alive(g) for g in groups)
    assert [p for p in everything if _alive(p)] == []
    assert not Path(stack.info["pg_dir"]).exists()
    assert not Path(stack.info["redis_dir"]).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(stack.info["warehouse_dsn"], connect_timeout=3)
