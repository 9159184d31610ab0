"""Event-driven intake: a trigger that fires once per new complete file in the landing folder
(and in its per-city channel folders, ``landing/<city>/``).

Why a trigger of our own: Airflow 3 schedules a DAG on external events through an
``AssetWatcher`` holding a ``BaseEventTrigger``. The standard provider's file triggers
(``FileDeleteTrigger``, ``DirectoryFileDeleteTrigger``) fire on one *named* flag file and delete
it, which would make every city (or its upload service) write a second, agreed-on flag file
per submission. Cities drop submissions under their own names, so this trigger fires for
*any* new complete file instead, and deletes nothing: the ingest task moves each file to
``processed/`` or ``rejected/`` after it is recorded in the ledger.

Why not a deferrable sensor: a sensor needs a DAG run that is already running (or scheduled
every few minutes) to wait in; the watcher runs in the triggerer, costs no worker slot and no
run while nothing lands, and a run exists only when there is something to ingest.

The landing protocol (``scenetrack.landing``, also used by ``scenetrack.pipeline``): an upload is
written under a name starting with ``.`` or ending in ``.part`` and renamed to its final name
when complete; such names are never reported, so a half-written file never starts a run.

How it avoids double firing: the triggerer runs :meth:`LandingFolderTrigger.run` as one long
async generator and turns each yielded event into an asset event, so the generator keeps,
in memory, the ``(name, size, mtime_ns)`` of every file it has reported and still sees in the
folder. A file fires once; a file that leaves the folder (ingested and moved) is forgotten, so
a later file with the same name fires again. After a triggerer restart the memory is empty
and files still waiting in the folder fire again; that is harmless by design: the ingest task
takes whatever is in the folder at run time (several events may start one run, a run that
finds the folder empty skips), and the ledger deduplicates by content hash.

Kept cheap: the triggerer imports this module, so it imports nothing heavy, and one poll is a
single ``os.scandir`` run off the event loop, every ``poll_interval`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from scenetrack.landing import landed_entries

CLASSPATH = "scenetrack.triggers.LandingFolderTrigger"


def scan_landing(directory: str) -> dict[str, tuple[int, int]]:
    """``{name: (size, mtime_ns)}`` of the complete uploads in ``directory`` and its channel
    folders (``无锡/清单.xlsx``; missing folder: empty).

    Everything but a folder counts, symbolic links and named pipes too (their own ``lstat``,
    never their target's): intake rejects what is not a regular file, with a receipt.
    """
    found: dict[str, tuple[int, int]] = {}
    for name, entry in landed_entries(directory):
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # moved away between listing and stat
            continue
        found[name] = (st.st_size, st.st_mtime_ns)
    return found


class LandingFolderTrigger(BaseEventTrigger):
    """Fire one event per new complete file in ``directory``; never for ``.part``/dot files.

    The event payload is ``{"directory", "file", "size", "mtime_ns"}``; Airflow stores it in
    the asset event's ``extra["payload"]``.
    """

    def __init__(self, directory: str, poll_interval: float = 2.0) -> None:
        super().__init__()
        self.directory = str(directory)
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"directory": self.directory, "poll_interval": self.poll_interval}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        reported: dict[str, tuple[int, int]] = {}
        while True:
            current = await asyncio.to_thread(scan_landing, self.directory)
            for name in list(reported):  # forget files that left the folder
                if name not in current:
                    del reported[name]
            for name in sorted(current, key=lambda n: (current[n][1], n)):
                if reported.get(name) == current[name]:
                    continue
                reported[name] = current[name]
                size, mtime_ns = current[name]
                self.log.info("new submission in %s: %s (%d bytes)", self.directory, name, size)
                yield TriggerEvent(
                    {"directory": self.directory, "file": name, "size": size, "mtime_ns": mtime_ns}
                )
            await asyncio.sleep(self.poll_interval)
