"""Fault injection for the fault-tolerance tests (``tests/faults/``); inert in production.

The code calls :func:`checkpoint` at the few points where a crash or a full disk matters
(inside an ingestion transaction, around the publish swap, after dbt, before the gate stores
its outcomes). Nothing happens unless the environment variable ``SCENETRACK_FAULT`` names that
point, so a test can run a real step in a child process and make it die exactly there::

    SCENETRACK_FAULT=ingest:after_ledger            # SIGKILL at the first pass
    SCENETRACK_FAULT=landing:after_move@2           # SIGKILL at the second pass
    SCENETRACK_FAULT=publish:build_candidate=enospc # raise OSError(ENOSPC) instead

Several faults may be listed, separated by commas. Actions: ``kill`` (default: SIGKILL, no
cleanup of any kind, as when the machine or the OOM killer stops the process), ``enospc``
(an ``OSError`` "No space left on device" raised at that point, as a full disk would) and
``stall`` (write ``<point> <pid>`` to ``$SCENETRACK_FAULT_FILE.reached`` and sleep, so a test
can kill a whole Airflow worker exactly there).

Processes a test cannot start itself (Celery workers' task processes) read the spec from the
file named by ``SCENETRACK_FAULT_FILE`` when ``SCENETRACK_FAULT`` is unset: the test arms a
fault by writing the file and disarms it by removing it.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter

from scenetrack.config import settings

FAULT_ENV = "SCENETRACK_FAULT"
FAULT_FILE_ENV = "SCENETRACK_FAULT_FILE"
STALL_SECONDS = 600

_passes: Counter[str] = Counter()


def _armed(name: str) -> str | None:
    """The action armed for this pass of checkpoint ``name``, or None."""
    spec = settings().fault
    if not spec and (armed := settings().fault_file):
        try:
            spec = open(armed, encoding="utf-8").read().strip()
        except OSError:  # not armed
            spec = ""
    if not spec:
        return None
    _passes[name] += 1
    for item in spec.split(","):
        where, _, action = item.strip().partition("=")
        point, _, nth = where.partition("@")
        if point == name and _passes[name] == int(nth or 1):
            return action or "kill"
    return None


def reset() -> None:
    """Forget how often each point was passed (tests that arm faults in-process)."""
    _passes.clear()


def checkpoint(name: str) -> None:
    """Die (or fail) here when ``SCENETRACK_FAULT`` names this point; otherwise do nothing."""
    action = _armed(name)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "stall":
        import time

        marker = settings().fault_file
        if marker:
            with open(f"{marker}.reached", "w", encoding="utf-8") as f:
                f.write(f"{name} {os.getpid()}")
        time.sleep(STALL_SECONDS)
    elif action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + f" (injected at {name})")
    else:
        raise ValueError(f"{FAULT_ENV}: unknown action {action!r} at {name}")
