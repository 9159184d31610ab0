"""Loopback means loopback: a taken port is refused before anything starts, readiness is the
API server's own health document (not "something answers"), and two homes never share the
log-server ports. Airflow itself is started by the e2e tests (tests/e2e)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scenetrack import cli
from scenetrack.airflow_topology import (
    HEALTH_PATH,
    TopologyConfig,
    health,
    is_healthy,
    port_is_free,
    topology_env,
)
from scenetrack.config import Paths


def test_a_taken_port_is_refused_with_a_clear_message(tmp_path, capsys) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert not port_is_free("127.0.0.1", port)
        code = cli.main(["airflow", "--home", str(tmp_path / "h"), "--port", str(port)])
    assert code == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is taken" in err and "--port" in err
    assert not (tmp_path / "h" / "airflow" / "topology.json").exists()  # nothing started


def _serve(body: bytes, status: int = 200):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's hook name
            self.send_response(status)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


HEALTHY = {c: {"status": "healthy"} for c in ("metadatabase", "scheduler", "triggerer")}


@pytest.mark.parametrize(
    ("body", "ready"),
    [
        (b"OK", False),  # e.g. a log server or anything else answering on the port
        (json.dumps(HEALTHY).encode(), False),  # no dag_processor report yet
        (json.dumps({**HEALTHY, "dag_processor": {"status": "unhealthy"}}).encode(), False),
        (json.dumps({**HEALTHY, "dag_processor": {"status": "healthy"}}).encode(), True),
    ],
)
def test_ready_means_the_health_document_says_so(body: bytes, ready: bool) -> None:
    srv = _serve(body)
    try:
        assert is_healthy(health("127.0.0.1", srv.server_address[1])) is ready
    finally:
        srv.shutdown()
        srv.server_close()


def test_nothing_answering_is_not_ready() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert health("127.0.0.1", port, timeout=1) is None
    assert HEALTH_PATH == "/api/v2/monitor/health"


def test_two_homes_get_their_own_log_server_ports_and_loopback(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SCENETRACK_WAREHOUSE", "postgresql://w:secret@127.0.0.1:1/db")
    envs = [
        topology_env(
            Paths(tmp_path / name).ensure(),
            TopologyConfig(executor="celery", api_port=8080, broker_url="redis://x"),
        )
        for name in ("a", "b")
    ]
    ports = [
        int(e[f"AIRFLOW__LOGGING__{k}_LOG_SERVER_PORT"])
        for e in envs
        for k in ("WORKER", "TRIGGER")
    ]
    assert len(set(ports)) == 4 and 8793 not in ports and 8794 not in ports
    for e in envs:
        assert e["AIRFLOW__API__HOST"] == "127.0.0.1"
        assert e["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8080/execution/"
        assert "SCENETRACK_WAREHOUSE" not in e  # tasks take the Airflow connection
    assert envs[0]["AIRFLOW__CORE__FERNET_KEY"] != envs[1]["AIRFLOW__CORE__FERNET_KEY"]
