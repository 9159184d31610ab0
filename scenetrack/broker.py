"""Start and stop a throwaway Redis server, the Celery broker (``scripts/redis_start.sh`` /
``redis_stop.sh``).

Used by the production topology (:mod:`scenetrack.airflow_topology`) and its tests, the way
:mod:`scenetrack.postgres.server` wraps the PostgreSQL scripts: the scripts install Debian's
``redis-server`` when it is missing and listen on 127.0.0.1 only, with a password.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scenetrack.config import PROJECT_DIR

SCRIPTS = PROJECT_DIR / "scripts"


class BrokerError(RuntimeError):
    """Redis could not be installed, started or stopped (the message says why)."""


@dataclass(frozen=True)
class RedisServer:
    """A running throwaway Redis: its directory and the broker URL (with its password)."""

    directory: Path
    url: str
    version: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])


def start(directory: Path | None = None, port: int | None = None) -> RedisServer:
    """Start Redis in ``directory`` (default: a new temp dir); a kept directory restarts with
    its port, password and append-only file."""
    d = Path(directory or tempfile.mkdtemp(prefix="scenetrack-redis-"))
    cmd = ["bash", str(SCRIPTS / "redis_start.sh"), str(d)] + ([str(port)] if port else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise BrokerError(
            f"Redis could not be started (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    return RedisServer(
        d, values["SCENETRACK_REDIS_URL"], values.get("SCENETRACK_REDIS_VERSION", "?")
    )


def stop(server: RedisServer | Path, keep: bool = False) -> None:
    """Stop the server (SHUTDOWN flushes the append-only file); remove its directory unless
    ``keep``."""
    d = server.directory if isinstance(server, RedisServer) else Path(server)
    cmd = ["bash", str(SCRIPTS / "redis_stop.sh"), str(d)] + (["--keep"] if keep else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise BrokerError(f"Redis did not stop cleanly:\n{proc.stderr[-3000:]}")
