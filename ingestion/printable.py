"""Text that came from a file, made safe to print on a terminal or into a log.

A clerk's file name, a header or a cell can hold a newline (which would forge an extra line
of output: a fake ``loaded`` receipt, a fake log record), an ESC (the start of every terminal
control sequence: colours, cursor moves, window titles, a cleared screen) or a Unicode
bidirectional override (which makes a terminal show characters in another order than they
are). :func:`printable` is the one rule for showing such text. It lives in the lowest layer
because the receipts' one-line summaries (``Receipt.line``) are built here and printed by the
CLI and the Airflow task log alike; the CLI (``scenetrack.cli``) and the progress display
(``scenetrack.progress``) use the same function for everything else they print from a file.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 and C1 controls: newline, CR, ESC, BEL, NEL, CSI, ...
    "\u061c\u200e\u200f"  # bidirectional marks
    "\u2028\u2029"  # line and paragraph separators (str.splitlines splits on them)
    "\u202a-\u202e\u2066-\u2069]"  # bidirectional embeddings, overrides and isolates
)


def _escaped(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(value: object, keep_newlines: bool = False) -> str:
    """``value`` as text that cannot forge lines or send terminal control sequences.

    Every control character and every character that changes the order or the lines a
    terminal shows is replaced by its Python escape (a newline by ``\\n``, ESC by ``\\x1b``,
    a right-to-left override by ``\\u202e``); everything else (Chinese included) is kept.
    ``keep_newlines``: keep ``\\n`` as the line break of a message that is several lines by
    design (a gate summary), escaping the rest of each line.
    """
    text = str(value)
    if keep_newlines:
        return "\n".join(_UNSAFE.sub(_escaped, line) for line in text.split("\n"))
    return _UNSAFE.sub(_escaped, text)
