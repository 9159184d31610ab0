"""The Arrow memory pool intake reads and normalises files with.

pyarrow's default pool on Linux is mimalloc. With it, reading the 1M-event CSV and trimming its
free-text columns was bimodal on this machine: the same file and code took 1.6 s or 2.0–2.3 s,
pyarrow's CSV reader and ``utf8_trim`` running two to five times slower in the slow runs
(pyinstrument, same input), and the benchmark's three rounds all landed in the slow mode.
jemalloc took 1.65–1.67 s in every run and glibc's malloc 1.69–1.72 s, with no slow mode
(``ARROW_DEFAULT_MEMORY_POOL=…``, four runs each, alternating). Intake therefore allocates
from jemalloc (glibc's malloc where pyarrow was built without it), and only while it reads
and normalises: the previous default is restored after, so the gate and anything else in
the process keep their pool (an Arrow buffer stays with the pool it came from).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import pyarrow as pa


@functools.cache
def intake_pool() -> pa.MemoryPool:
    """jemalloc, else the system allocator (pyarrow built without jemalloc)."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.system_memory_pool()


@contextlib.contextmanager
def allocating_from_intake_pool() -> Iterator[pa.MemoryPool]:
    """Make :func:`intake_pool` Arrow's default pool for the block, then restore the old one."""
    previous = pa.default_memory_pool()
    pool = intake_pool()
    pa.set_memory_pool(pool)
    try:
        yield pool
    finally:
        pa.set_memory_pool(previous)
