"""Airflow's components as separate services on one machine, bound to loopback.

Two topologies, started and stopped the same way:

- ``local`` (``scenetrack airflow``): SQLite metadata database, ``LocalExecutor``; the API
  server, scheduler, dag-processor and triggerer as four processes. It replaces
  ``airflow standalone``, which cannot be told to keep its log servers off 0.0.0.0.
- ``celery`` (``scenetrack airflow --celery``, ``make airflow-prod``): the production shape.
  PostgreSQL holds Airflow's metadata (and the warehouse, given to the tasks as the Airflow
  connection ``scenetrack_warehouse``), Redis is the Celery broker (both throwaway servers
  from ``scripts/pg_start.sh`` and ``scripts/redis_start.sh`` in :func:`start_production`;
  :func:`start` with a :class:`TopologyConfig` naming existing ones runs the same services
  against them), and two Celery workers run the tasks.

Loopback means loopback: the API server binds ``host`` (127.0.0.1 by default) and a port that
is checked free first (a taken port is refused with a message naming it); readiness is the
API server's own ``/api/v2/monitor/health`` answering that the metadata database, scheduler,
triggerer and dag-processor are healthy, so another server on the port can never pass for
ours. Airflow 3.3's log servers (scheduler, triggerer, Celery worker) bind every interface
(``host=""`` in ``airflow.utils.serve_logs``; there is no host option), so none is started
(``--skip-serve-logs``): on one machine the API server reads the task and trigger logs from
the shared log folder. ``[logging] worker_log_server_port`` / ``trigger_log_server_port`` are
still set to free ports, so two topologies on one machine never collide if a log server is
switched on.

Every component runs in its own process group (``start_new_session``): stopping one ends its
children (task processes, dbt), and :meth:`Topology.stop` ends them all (SIGTERM, then SIGKILL
after a timeout), then the servers it started. ``<home>/airflow/topology.json`` records what
runs, so ``scenetrack airflow --stop`` can stop a detached topology from another shell.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from scenetrack.airflow_runner import AirflowRunError, airflow_env
from scenetrack.assets import WRITER_POOL
from scenetrack.config import Paths

WAREHOUSE_CONN_ID = "scenetrack_warehouse"
HEALTH_PATH = "/api/v2/monitor/health"
HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


class PortTakenError(RuntimeError):
    """The port the operator asked for is already in use."""


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` (a TIME_WAIT leftover does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def require_free_port(host: str, port: int, what: str) -> None:
    """Refuse a taken port before starting anything on it, saying which and what to do."""
    if not port_is_free(host, port):
        raise PortTakenError(
            f"port {port} on {host} is taken, so the {what} cannot listen there: choose "
            f"another (--port) or stop what holds it (e.g. `ss -ltnp 'sport = :{port}'`)"
        )


def _secrets(p: Paths) -> dict[str, str]:
    """Keys every component of this home must share (JWT, API, Fernet): made once, 0600."""
    f = p.airflow_home / "scenetrack-secrets.json"
    if f.exists():
        return json.loads(f.read_text())
    from cryptography.fernet import Fernet

    values = {
        "fernet_key": Fernet.generate_key().decode(),
        "jwt_secret": secrets.token_urlsafe(32),
        "api_secret_key": secrets.token_urlsafe(32),
    }
    f.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(values, out)
    return values


@dataclass
class TopologyConfig:
    """What to start, where. Ports left at 0 are picked free at start."""

    executor: str = "local"  # local | celery
    host: str = "127.0.0.1"
    api_port: int = 8080
    workers: int = 2
    worker_concurrency: int = 2
    metadata_conn: str | None = None  # SQLAlchemy URL; default: SQLite (local) / throwaway PG
    broker_url: str | None = None  # Celery broker; default: a throwaway Redis
    heartbeat_timeout_s: int | None = None  # [scheduler] task_instance_heartbeat_timeout
    extra_env: dict[str, str] = field(default_factory=dict)


def topology_env(p: Paths, cfg: TopologyConfig) -> dict[str, str]:
    """``airflow_env`` plus what a multi-process Airflow on ``cfg.host`` needs."""
    env = airflow_env(p)
    keys = _secrets(p)
    base = f"http://{cfg.host}:{cfg.api_port}"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(
        {
            "AIRFLOW__API__HOST": cfg.host,
            "AIRFLOW__API__PORT": str(cfg.api_port),
            "AIRFLOW__API__BASE_URL": base,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
            "AIRFLOW__CORE__FERNET_KEY": keys["fernet_key"],
            "AIRFLOW__API_AUTH__JWT_SECRET": keys["jwt_secret"],
            "AIRFLOW__API__SECRET_KEY": keys["api_secret_key"],
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port(cfg.host)),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port(cfg.host)),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor"
            if cfg.executor == "celery"
            else "LocalExecutor",
        }
    )
    if cfg.metadata_conn:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = cfg.metadata_conn
        if cfg.metadata_conn.startswith("postgresql+psycopg://"):
            # Airflow would derive asyncpg (not installed) for its async engine: psycopg 3
            # is async itself
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = cfg.metadata_conn.replace(
                "postgresql+psycopg://", "postgresql+psycopg_async://", 1
            )
    if cfg.executor == "celery":
        if not cfg.broker_url:
            raise ValueError("the Celery topology needs a broker URL")
        env["AIRFLOW__CELERY__BROKER_URL"] = cfg.broker_url
        env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(cfg.worker_concurrency)
        # the warehouse comes from the Airflow connection, never from the workers' environment
        env.pop("SCENETRACK_WAREHOUSE", None)
    if cfg.heartbeat_timeout_s:
        env["AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"] = str(cfg.heartbeat_timeout_s)
    env.update(cfg.extra_env)
    return env


@dataclass
class Component:
    """One Airflow service: its command line, log file and process (its own process group)."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).with_name("airflow")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(exe), *self.argv],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the component's process group."""
        if self.proc is not None:
            _signal_group(self.proc.pid, sig)

    def kill_all(self) -> None:
        """SIGKILL the component and every process it started, as a machine going down would
        (Airflow's task supervisor puts each task process in a process group of its own, so
        the component's group alone is not everything)."""
        if self.proc is not None:
            for pid in [self.proc.pid, *descendants(self.proc.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the group and wait; SIGKILL the group and then any task process left."""
        if self.proc is not None:
            tree = descendants(self.proc.pid)
            stop_group(self.proc.pid, timeout, reap=self.proc)
            for pid in tree:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process (from /proc)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            out[int(d)] = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` in the process tree (children first)."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of the group ``pgid`` is still alive (zombies aside)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":  # [0] state, [2] pgrp
            return True
    return False


def stop_group(pgid: int, timeout: float = 30.0, reap: subprocess.Popen | None = None) -> None:
    """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        if not group_alive(pgid) or not _signal_group(pgid, sig):
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if reap is not None:
                reap.poll()
            if not group_alive(pgid):
                break
            time.sleep(0.2)
    if reap is not None:
        try:
            reap.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL was sent
            pass


def health(host: str, port: int, timeout: float = 3.0) -> dict | None:
    """The API server's health document, or None when it does not answer (yet)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{HEALTH_PATH}", timeout=timeout) as r:
            return json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def is_healthy(doc: dict | None) -> bool:
    """Every component the health endpoint reports on says ``healthy``."""
    return bool(doc) and all(
        (doc.get(c) or {}).get("status") == "healthy" for c in HEALTHY_COMPONENTS
    )


@dataclass
class Topology:
    """A running set of Airflow services (and the servers started for them)."""

    p: Paths
    cfg: TopologyConfig
    env: dict[str, str]
    components: dict[str, Component]
    stops: list = field(default_factory=list)  # callables stopping started servers, in order

    @property
    def url(self) -> str:
        return f"http://{self.cfg.host}:{self.cfg.api_port}"

    def state_file(self) -> Path:
        return self.p.airflow_home / "topology.json"

    def record(self, extra: dict | None = None) -> None:
        """Write ``<home>/airflow/topology.json``: what runs (for ``--stop`` from a shell)."""
        state = {
            "executor": self.cfg.executor,
            "url": self.url,
            "components": {n: c.pid for n, c in self.components.items()},
            **(extra or {}),
        }
        self.state_file().write_text(json.dumps(state, indent=2))

    def dead(self) -> list[str]:
        return [n for n, c in self.components.items() if not c.alive()]

    def wait_ready(self, timeout: float = 300.0) -> dict:
        """Until the API server's health endpoint reports every component healthy and every
        Celery worker said ``ready``; raise naming the component that died, or the last
        health document."""
        deadline = time.monotonic() + timeout
        doc = None
        while time.monotonic() < deadline:
            if dead := self.dead():
                raise AirflowRunError(
                    f"Airflow component(s) {', '.join(dead)} exited while starting; logs: "
                    + ", ".join(str(self.components[n].log) for n in dead)
                )
            doc = health(self.cfg.host, self.cfg.api_port)
            workers = [c for n, c in self.components.items() if n.startswith("worker")]
            if is_healthy(doc) and all(_said_ready(c.log) for c in workers):
                return doc
            time.sleep(1.0)
        raise AirflowRunError(
            f"Airflow was not healthy after {timeout:.0f} s at {self.url}{HEALTH_PATH}: {doc}"
        )

    def restart(self, name: str, timeout: float = 30.0) -> None:
        """Stop (if still running) and start one component again, as a supervisor would."""
        c = self.components[name]
        c.stop(timeout)
        c.start(self.env)
        self.record()

    def owner_of(self, pid: int) -> str | None:
        """The component that started ``pid`` (walking up its parents; None: none of ours)."""
        leaders = {c.pid: n for n, c in self.components.items()}
        parents = _parents()
        while pid and pid not in leaders:
            pid = parents.get(pid, 0)
        return leaders.get(pid)

    def pids(self) -> list[int]:
        """Every live process of every component, task processes included."""
        return [p for c in self.components.values() if c.pid for p in [c.pid, *descendants(c.pid)]]

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every component (workers and scheduler first), then the servers started."""
        order = sorted(self.components, key=lambda n: (n != "scheduler", not n.startswith("w")))
        for name in order:
            self.components[name].signal_group(signal.SIGTERM)
        for name in order:
            self.components[name].stop(timeout)
        while self.stops:
            self.stops.pop()()
        self.state_file().unlink(missing_ok=True)


def _said_ready(log: Path) -> bool:
    try:
        return " ready." in log.read_text(errors="replace")
    except OSError:
        return False


def _components(p: Paths, cfg: TopologyConfig) -> dict[str, Component]:
    logs = p.logs_dir / "airflow-services"
    comps = {
        "api-server": ["api-server", "--host", cfg.host, "--port", str(cfg.api_port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }
    if cfg.executor == "celery":
        for i in range(1, cfg.workers + 1):
            comps[f"worker{i}"] = [
                "celery",
                "worker",
                "--skip-serve-logs",
                "--celery-hostname",
                f"scenetrack-worker{i}@{socket.gethostname()}-{os.getpid()}",
                "--concurrency",
                str(cfg.worker_concurrency),
            ]
    return {n: Component(n, argv, logs / f"{n}.log") for n, argv in comps.items()}


def _run(env: dict[str, str], log: Path, *args: str) -> None:
    exe = Path(sys.executable).with_name("airflow")
    proc = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise AirflowRunError(f"`airflow {args[0]} {args[1]}` failed (log: {log}):\n{tail}")


def prepare(p: Paths, env: dict[str, str], connections: dict[str, dict] | None = None) -> None:
    """``db migrate``, the writer pool, and the given Airflow connections (imported from a
    0600 file that is removed afterwards: no password on a command line or in a log)."""
    logs = p.logs_dir
    _run(env, logs / "airflow-db-migrate.log", "db", "migrate")
    _run(
        env,
        logs / "airflow-pools.log",
        "pools",
        "set",
        WRITER_POOL,
        "1",
        "the warehouse writer: one at a time",
    )
    if connections:
        f = p.airflow_home / f".connections-{secrets.token_hex(4)}.json"
        fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(connections, out)
        try:
            _run(
                env,
                logs / "airflow-connections.log",
                "connections",
                "import",
                "--overwrite",
                str(f),
            )
        finally:
            f.unlink(missing_ok=True)


def warehouse_connection(dsn: str) -> dict:
    """The ``scenetrack_warehouse`` Airflow connection for a ``postgresql://`` DSN."""
    from scenetrack.config import warehouse_target

    t = warehouse_target(dsn)
    if t is None:
        raise ValueError("the warehouse connection needs a postgresql:// DSN")
    return {
        "conn_type": "postgres",
        "host": t.host,
        "port": t.port,
        "login": t.user,
        "password": t.password,
        "schema": t.dbname,
        "description": "scenetrack's PostgreSQL warehouse (the pipeline's writer role)",
    }


def start(
    p: Paths,
    cfg: TopologyConfig,
    connections: dict[str, dict] | None = None,
    stops: list | None = None,
) -> Topology:
    """Start the services of ``cfg`` for this home and wait until they are healthy.

    ``stops``: callables that stop servers started for this topology (run by
    :meth:`Topology.stop`, also when starting fails here).
    """
    require_free_port(cfg.host, cfg.api_port, "Airflow API server")
    p.airflow_home.mkdir(parents=True, exist_ok=True)
    (p.home / "landing").mkdir(parents=True, exist_ok=True)
    env = topology_env(p, cfg)
    topo = Topology(p, cfg, env, _components(p, cfg), list(stops or []))
    try:
        if cfg.executor == "local" and not cfg.metadata_conn:
            from scenetrack.airflow_runner import ensure_airflow

            ensure_airflow(p, manifest=True)  # SQLite: migrated once per Airflow version
        else:
            prepare(p, env, connections)
        require_free_port(cfg.host, cfg.api_port, "Airflow API server")
        for c in topo.components.values():
            c.start(env)
        topo.record()
        topo.wait_ready()
    except BaseException:
        topo.stop()
        raise
    return topo


def start_local(p: Paths, port: int = 8080, host: str = "127.0.0.1") -> Topology:
    """``scenetrack airflow``: SQLite + LocalExecutor, four services on ``host``."""
    return start(p, TopologyConfig(executor="local", host=host, api_port=port))


def start_production(
    p: Paths,
    port: int = 8080,
    host: str = "127.0.0.1",
    workers: int = 2,
    heartbeat_timeout_s: int | None = None,
    extra_env: dict[str, str] | None = None,
    extra_connections: dict[str, dict] | None = None,
) -> tuple[Topology, dict]:
    """PostgreSQL (metadata + warehouse) and Redis on loopback, then the Celery topology.

    Returns the topology and what the operator needs: the warehouse's writer DSN, the
    ``bi_reader`` password and the admin DSN of the throwaway PostgreSQL server, the broker's
    directory. Every server started here is stopped by :meth:`Topology.stop`.
    """
    import psycopg
    from psycopg import sql

    from scenetrack import broker
    from scenetrack.postgres import server as pg_server
    from scenetrack.postgres.roles import ensure_roles

    require_free_port(host, port, "Airflow API server")
    services = p.home / "services"
    services.mkdir(parents=True, exist_ok=True)
    stops: list = []
    try:
        # a directory of its own under the temp dir: PostgreSQL runs as the 'postgres' user
        # when we are root, and must reach it (a home under a 0700 folder would not do)
        pg = pg_server.start()
        stops.append(lambda: pg_server.stop(pg))
        redis_dir = services / "redis"
        if redis_dir.exists():
            broker.stop(redis_dir)
        rd = broker.start(redis_dir)
        stops.insert(0, lambda: broker.stop(rd))  # the broker goes first, PostgreSQL last
        meta_pw = secrets.token_hex(16)
        with psycopg.connect(pg.admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("create role airflow login password {}").format(sql.Literal(meta_pw))
            )
            admin.execute("create database airflow owner airflow encoding 'UTF8'")
        ensure_roles(pg.target, pg.bi_password)
        cfg = TopologyConfig(
            executor="celery",
            host=host,
            api_port=port,
            workers=workers,
            metadata_conn=(
                f"postgresql+psycopg://airflow:{meta_pw}@127.0.0.1:{pg.target.port}/airflow"
            ),
            broker_url=rd.url,
            heartbeat_timeout_s=heartbeat_timeout_s,
            extra_env=dict(extra_env or {}),
        )
        connections = {WAREHOUSE_CONN_ID: warehouse_connection(pg.dsn), **(extra_connections or {})}
    except BaseException:
        for stop in stops:
            stop()
        raise
    topo = start(p, cfg, connections, stops)
    info = {
        "warehouse_dsn": pg.dsn,
        "bi_password": pg.bi_password,
        "pg_admin_dsn": pg.admin_dsn,
        "pg_dir": str(pg.directory),
        "redis_dir": str(rd.directory),
        "broker_url": rd.url,
    }
    topo.record({"pg_dir": info["pg_dir"], "redis_dir": info["redis_dir"]})
    return topo, info


def stop_recorded(p: Paths, timeout: float = 30.0) -> list[str]:
    """Stop the topology recorded in ``<home>/airflow/topology.json`` (``--stop``).

    Only process groups whose leader is still an ``airflow`` (or Celery's retitled
    ``celeryd``) process are signalled (a pid reused by something else is left alone).
    Returns what was stopped.
    """
    from scenetrack import broker
    from scenetrack.postgres import server as pg_server

    f = p.airflow_home / "topology.json"
    if not f.exists():
        return []
    state = json.loads(f.read_text())
    done = []
    for name, pid in state.get("components", {}).items():
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"airflow" in cmd or b"celeryd" in cmd:  # Celery retitles its main process
            stop_group(pid, timeout)
            done.append(name)
    if state.get("redis_dir"):
        broker.stop(Path(state["redis_dir"]))
        done.append("redis")
    if state.get("pg_dir"):
        pg_server.stop(Path(state["pg_dir"]))
        done.append("postgresql")
    f.unlink(missing_ok=True)
    return done
