"""Run the CLI as an operator does: stderr on a pseudo-terminal (``pty``) or on a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass

ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d ")
TERMINAL_ENV = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str  # what the terminal received (pty) or the pipe carried

    @property
    def screen(self) -> str:
        """The terminal's bytes without control sequences (what the operator reads)."""
        return ANSI.sub("", self.stderr).replace("\r", "\n")


def run_cli(*args: str, tty: bool, env: dict[str, str] | None = None, timeout: float = 900) -> Run:
    """``python -m scenetrack.cli ARGS``: stdout on a pipe; stderr on a 120x40 pseudo-terminal
    (``tty=True``) or on a pipe."""
    environ = {k: v for k, v in os.environ.items() if k not in TERMINAL_ENV}
    environ.pop("SCENETRACK_PROGRESS", None)
    environ |= {"TERM": "xterm-256color", **(env or {})}
    cmd = [sys.executable, "-m", "scenetrack.cli", *args]
    if not tty:
        proc = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        cmd, env=environ, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL
    )
    os.close(slave)
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    screen = b""
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=timeout)
    finally:
        os.close(master)
    reader.join(timeout=60)
    return Run(code, b"".join(out).decode(), screen.decode(errors="replace"))
