"""Fault injection (``SCENETRACK_FAULT``): the hook lives in :mod:`ingestion.faultpoints`.

It sits at the bottom layer so ingestion can call it without importing scenetrack; this module
re-exports it (same functions, same pass counter) for scenetrack's code and the fault tests.
"""

from __future__ import annotations

from ingestion.faultpoints import FAULT_ENV, FAULT_FILE_ENV, STALL_SECONDS, checkpoint, reset

__all__ = ["FAULT_ENV", "FAULT_FILE_ENV", "STALL_SECONDS", "checkpoint", "reset"]
