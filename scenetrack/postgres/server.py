"""Start and stop a throwaway PostgreSQL server (``scripts/pg_start.sh`` / ``pg_stop.sh``).

Used by the PostgreSQL tests and ``make demo-postgres``. The scripts install Debian's
``postgresql`` package when no server binaries are found, initdb a cluster in a directory of
its own (as the ``postgres`` system user when running as root), listen on 127.0.0.1 only and
create the writer role ``scenetrack`` and its database.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scenetrack.config import PROJECT_DIR, PgTarget, warehouse_target

SCRIPTS = PROJECT_DIR / "scripts"


class PgServerError(RuntimeError):
    """The server could not be installed or started (the message says why)."""


@dataclass(frozen=True)
class PgServer:
    """A running throwaway server: its directory, the writer's DSN and the admin DSN."""

    directory: Path
    dsn: str
    admin_dsn: str
    bi_password: str
    version: str

    @property
    def target(self) -> PgTarget:
        t = warehouse_target(self.dsn)
        assert t is not None
        return t

    def env(self) -> dict[str, str]:
        """Environment that points scenetrack at this server."""
        return {"SCENETRACK_WAREHOUSE": self.dsn, "SCENETRACK_BI_PASSWORD": self.bi_password}


def start(directory: Path | None = None, port: int | None = None) -> PgServer:
    """Start a server in ``directory`` (default: a new temp dir); raise with the reason."""
    d = Path(directory or tempfile.mkdtemp(prefix="scenetrack-pg-"))
    cmd = ["bash", str(SCRIPTS / "pg_start.sh"), str(d)] + ([str(port)] if port else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise PgServerError(
            f"PostgreSQL could not be started (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    values = dict(
        line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line and line[0] != "#"
    )
    return PgServer(
        directory=d,
        dsn=values["SCENETRACK_WAREHOUSE"],
        admin_dsn=values["SCENETRACK_PG_ADMIN_DSN"],
        bi_password=values["SCENETRACK_BI_PASSWORD"],
        version=values.get("SCENETRACK_PG_VERSION", "?"),
    )


def stop(server: PgServer | Path, keep: bool = False) -> None:
    """Stop the server and (unless ``keep``) remove its directory."""
    d = server.directory if isinstance(server, PgServer) else Path(server)
    cmd = ["bash", str(SCRIPTS / "pg_stop.sh"), str(d)] + (["--keep"] if keep else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise PgServerError(f"PostgreSQL did not stop cleanly:\n{proc.stderr[-3000:]}")
