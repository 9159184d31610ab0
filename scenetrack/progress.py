"""Progress of long work (files, rows, dbt nodes, gate suites), shown where the operator looks.

Work reports through :func:`task` (a block with a count) or :func:`track` (a loop over a
list); neither knows where the progress goes. Where it goes is chosen once, by whoever runs
the work:

- the CLI (:func:`shown`): a live Rich display on stderr when stderr is a terminal; plain
  timestamped lines on stderr otherwise (CI, pipes, ``| tee``). stdout carries only the
  command's result, so ``--json`` output stays one JSON document;
- anything else (Airflow tasks, tests, library use): INFO records of the
  ``scenetrack.progress`` logger, which Airflow writes into the task log with its timestamps;
- a child process whose parent shows its progress (``scenetrack demo`` runs the DAGs with
  ``airflow dags test``): with ``SCENETRACK_PROGRESS=relay`` the child writes each change as
  one JSON line on stderr and the parent passes the lines it reads to :func:`relayed`.

``SCENETRACK_PROGRESS`` may also be ``plain`` (lines even on a terminal) or ``off``.
Descriptions and notes may carry file names: every sink prints them through
:func:`ingestion.printable.printable`, so they cannot forge lines or send control sequences.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Protocol, TypeVar

from ingestion.printable import printable
from scenetrack.config import settings

MODE_ENV = "SCENETRACK_PROGRESS"
RELAY_PREFIX = "@scenetrack-progress "
"""Start of a relayed line; the rest is one JSON object (see :class:`_RelaySink`)."""
LINE_INTERVAL_S = 5.0
"""Plain lines: at most one update line per task this often (the first and the last always)."""
RELAY_INTERVAL_S = 0.2

log = logging.getLogger("scenetrack.progress")
T = TypeVar("T")


@dataclass
class State:
    """One piece of long work as the sinks see it."""

    id: str
    description: str
    total: int | None = None
    unit: str = ""
    completed: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    started: float = field(default_factory=time.monotonic)

    def figures(self) -> str:
        """``3/10 files · 1,234 rows``: the count of done (of total) and the running counts."""
        done = f"{self.completed:,}" + (f"/{self.total:,}" if self.total is not None else "")
        counted = self.total is not None or (self.unit and self.completed)
        parts = [f"{done} {self.unit}".strip()] if counted else []
        parts += [f"{v:,} {k}" for k, v in self.counts.items()]
        return " · ".join(parts)

    def line(self, finished: bool | None = None) -> str:
        """One plain line: description, figures, note (or how it ended and how long it took)."""
        text = printable(self.description)
        figures = self.figures()
        if finished is None:
            text += f": {figures}" if figures else ": started"
            return text + (f" — {printable(self.note)}" if self.note else "")
        took = time.monotonic() - self.started
        verdict = "done" if finished else "stopped"
        return f"{text}: {verdict}" + (f" {figures}" if figures else "") + f" in {took:.1f} s"


class Sink(Protocol):
    """Where progress goes: told when work starts, changes and ends."""

    def start(self, state: State) -> None: ...
    def update(self, state: State) -> None: ...
    def end(self, state: State, ok: bool) -> None: ...
    def close(self) -> None: ...


class _Throttled:
    """Start and end always pass; an update passes when ``interval`` passed since the last."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: dict[str, float] = {}

    def due(self, state: State) -> bool:
        now = time.monotonic()
        if now - self.last.get(state.id, 0.0) < self.interval:
            return False
        self.last[state.id] = now
        return True

    def started(self, state: State) -> None:
        self.last[state.id] = time.monotonic()


class _LoggingSink(_Throttled):
    """INFO records (Airflow task logs, library use)."""

    def __init__(self) -> None:
        super().__init__(LINE_INTERVAL_S)

    def start(self, state: State) -> None:
        self.started(state)
        log.info("%s", state.line())

    def update(self, state: State) -> None:
        if self.due(state):
            log.info("%s", state.line())

    def end(self, state: State, ok: bool) -> None:
        log.info("%s", state.line(finished=ok))

    def close(self) -> None:
        pass


class _LineSink(_Throttled):
    """Plain lines, each with the local time: CI logs and pipes."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(LINE_INTERVAL_S)
        self.stream = stream
        self.lock = threading.Lock()

    def _write(self, text: str) -> None:
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        with self.lock:
            self.stream.write(f"{stamp} {text}\n")
            self.stream.flush()

    def start(self, state: State) -> None:
        self.started(state)
        self._write(state.line())

    def update(self, state: State) -> None:
        if self.due(state):
            self._write(state.line())

    def end(self, state: State, ok: bool) -> None:
        self._write(state.line(finished=ok))

    def close(self) -> None:
        pass


class _RichSink:
    """A live Rich display (spinner, bar, counts, elapsed time) on a terminal."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(finished_text="✓"),
            TextColumn("{task.description}", markup=False),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[figures]}", markup=False),
            TimeElapsedColumn(),
            TextColumn("{task.fields[note]}", markup=False, style="dim"),
            console=Console(file=stream, highlight=False),
            # stdout is the command's result (JSON with --json): never drawn into the display
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self.tasks: dict[str, int] = {}
        self.live = False

    def _fields(self, state: State) -> dict:
        return {
            "description": printable(state.description),
            "figures": state.figures(),
            "note": printable(state.note) if state.note else "",
        }

    def start(self, state: State) -> None:
        if not self.live:
            self.progress.start()
            self.live = True
        self.tasks[state.id] = self.progress.add_task(
            total=state.total, completed=state.completed, **self._fields(state)
        )

    def update(self, state: State) -> None:
        if state.id in self.tasks:
            self.progress.update(
                self.tasks[state.id],
                total=state.total,
                completed=state.completed,
                **self._fields(state),
            )

    def end(self, state: State, ok: bool) -> None:
        task_id = self.tasks.pop(state.id, None)
        if task_id is None:
            return
        fields = self._fields(state)
        fields["note"] = "" if ok else "stopped"
        # a task without a total shows a full bar once done; a stopped one keeps its count
        total = state.total if state.total is not None else (max(state.completed, 1))
        self.progress.update(
            task_id, total=total, completed=total if ok else state.completed, **fields
        )
        self.progress.stop_task(task_id)
        if not self.tasks:  # nothing runs: the screen is free for what the command prints
            self.close()

    def close(self) -> None:
        if self.live:
            self.progress.stop()
            self.live = False
        running = set(self.tasks.values())
        for task_id in list(self.progress.task_ids):  # shown for good; not drawn again
            if task_id not in running:
                self.progress.remove_task(task_id)


class _RelaySink(_Throttled):
    """One JSON line per change on the real stderr (fd 2), for a parent to show."""

    def __init__(self) -> None:
        super().__init__(RELAY_INTERVAL_S)

    def _send(self, event: str, state: State, ok: bool | None = None) -> None:
        body = {
            "event": event,
            "id": state.id,
            "description": state.description,
            "total": state.total,
            "unit": state.unit,
            "completed": state.completed,
            "counts": state.counts,
            "note": state.note,
        }
        if ok is not None:
            body["ok"] = ok
        line = RELAY_PREFIX + json.dumps(body, ensure_ascii=True) + "\n"
        # fd 2 itself: Airflow's task runner may redirect sys.stderr into its own log
        with contextlib.suppress(OSError):
            os.write(2, line.encode())

    def start(self, state: State) -> None:
        self.started(state)
        self._send("start", state)

    def update(self, state: State) -> None:
        if self.due(state):
            self._send("update", state)

    def end(self, state: State, ok: bool) -> None:
        self._send("end", state, ok)

    def close(self) -> None:
        pass


class _NullSink:
    def start(self, state: State) -> None:
        pass

    def update(self, state: State) -> None:
        pass

    def end(self, state: State, ok: bool) -> None:
        pass

    def close(self) -> None:
        pass


_current: ContextVar[Sink | None] = ContextVar("scenetrack_progress_sink", default=None)
_ids = itertools.count(1)
_defaults: dict[str, Sink] = {}


def _mode() -> str:
    return settings().progress or ""


def _sink() -> Sink:
    """The sink chosen by :func:`shown`, else the process default (relay, off or logging)."""
    chosen = _current.get()
    if chosen is not None:
        return chosen
    mode = _mode()
    if mode not in _defaults:
        _defaults[mode] = (
            _RelaySink() if mode == "relay" else _NullSink() if mode == "off" else _LoggingSink()
        )
    return _defaults[mode]


class Task:
    """The handle of one piece of long work: tell it what got done."""

    def __init__(self, sink: Sink, state: State) -> None:
        self._sink = sink
        self.state = state

    def advance(self, n: int = 1, note: str | None = None, **counts: int) -> None:
        """``n`` more units done; ``counts`` add to running counts (``rows=1234``)."""
        self.state.completed += n
        for k, v in counts.items():
            self.state.counts[k] = self.state.counts.get(k, 0) + int(v)
        if note is not None:
            self.state.note = note
        self._sink.update(self.state)

    def update(
        self, completed: int | None = None, total: int | None = None, note: str | None = None
    ) -> None:
        """Set the count done, the total (when it becomes known) or the note."""
        if completed is not None:
            self.state.completed = completed
        if total is not None:
            self.state.total = total
        if note is not None:
            self.state.note = note
        self._sink.update(self.state)


@contextlib.contextmanager
def task(description: str, total: int | None = None, unit: str = "") -> Iterator[Task]:
    """A piece of long work shown from the start to the end of the block.

    ``total``: how many ``unit`` make it done (None: not known yet, or not countable; a
    spinner and the elapsed time still show it is alive). An exception ends it as stopped.
    """
    sink = _sink()
    state = State(f"{os.getpid()}-{next(_ids)}", description, total, unit)
    sink.start(state)
    ok = False
    try:
        yield Task(sink, state)
        ok = True
    finally:
        sink.end(state, ok)


def track(
    items: Iterable[T],
    description: str,
    unit: str = "",
    note: Callable[[T], str] | None = None,
) -> Iterator[T]:
    """Iterate ``items``, counting each one done when the loop asks for the next.

    ``note(item)`` names the item being worked on (a suite, a mart, a city page).
    """
    items = list(items)
    with task(description, len(items), unit) as shown:
        for i, item in enumerate(items):
            shown.update(completed=i, note=note(item) if note else None)
            yield item
        shown.update(completed=len(items))


@contextlib.contextmanager
def shown(stream: IO[str] | None = None) -> Iterator[None]:
    """For a command line: progress of the work inside the block on ``stream`` (stderr).

    A live display when the stream is a terminal, timestamped lines when it is not
    (``SCENETRACK_PROGRESS=plain`` forces lines, ``off`` shows nothing).
    """
    stream = stream or sys.stderr
    mode = _mode()
    sink: Sink
    if mode == "off":
        sink = _NullSink()
    elif mode == "relay":
        sink = _RelaySink()
    elif mode != "plain" and stream.isatty():
        sink = _RichSink(stream)
    else:
        sink = _LineSink(stream)
    token = _current.set(sink)
    try:
        yield
    finally:
        sink.close()
        _current.reset(token)


def pause() -> None:
    """Stop a live display before the command prints its result (it restarts when more
    work starts)."""
    sink = _current.get()
    if sink is not None:
        sink.close()


class Relay:
    """Shows the progress a child process relays (:class:`_RelaySink`) as this process's.

    ``prefix`` goes before each relayed description (the DAG the child runs).
    """

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.states: dict[str, State] = {}

    def __call__(self, line: str) -> bool:
        """Apply one line of the child's output; False when it is not a progress line."""
        if not line.startswith(RELAY_PREFIX):
            return False
        try:
            body = json.loads(line[len(RELAY_PREFIX) :])
            event, child_id = body["event"], str(body["id"])
        except (ValueError, KeyError, TypeError):
            return False
        sink = _sink()
        state = self.states.get(child_id)
        if state is None:
            state = State(f"relay-{id(self)}-{child_id}", self.prefix + str(body["description"]))
            self.states[child_id] = state
            fresh = True
        else:
            fresh = False
        state.total = body.get("total")
        state.unit = str(body.get("unit") or "")
        state.completed = int(body.get("completed") or 0)
        state.counts = {str(k): int(v) for k, v in (body.get("counts") or {}).items()}
        state.note = body.get("note")
        if fresh:
            sink.start(state)
        if event == "end":
            sink.end(state, bool(body.get("ok")))
            self.states.pop(child_id, None)
        elif not fresh:
            sink.update(state)
        return True

    def close(self) -> None:
        """End what the child started but never ended (it died): shown as stopped."""
        sink = _sink()
        for state in self.states.values():
            sink.end(state, False)
        self.states.clear()
