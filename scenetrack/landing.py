"""The landing protocol, shared by the landing-folder trigger and the ingest step.

An upload is written under a name starting with ``.`` or ending in ``.part`` and renamed to its
final name when complete; such names are never picked up, so a half-written file is never
ingested. Kept free of imports: the Airflow triggerer and the CLI both load it.

Submission channels: a file dropped in ``landing/<city>/`` (a real folder, one level down,
named by the city's Chinese name or code) belongs to that city (ingestion.context); a file
directly in ``landing/`` behaves as it always did. Deeper folders are not looked into, and a
link to a folder is no channel: it is listed like any other entry that is not a regular file,
and intake rejects it unread.
"""

from __future__ import annotations

import os
from collections.abc import Iterator


def is_complete_upload(name: str) -> bool:
    """A finished upload: not a hidden/temporary name and not a ``.part`` file."""
    return not name.startswith(".") and not name.endswith(".part")


def landed_entries(landing: str) -> Iterator[tuple[str, os.DirEntry]]:
    """``(name relative to landing/, entry)`` of every complete upload in ``landing`` and in
    its channel folders, never following a link and never listing a folder itself."""
    try:
        with os.scandir(landing) as top:
            entries = list(top)
    except FileNotFoundError:
        return
    for entry in entries:
        if not is_complete_upload(entry.name):
            continue
        try:
            is_channel = entry.is_dir(follow_symlinks=False)
        except FileNotFoundError:  # moved away between listing and stat
            continue
        if not is_channel:
            yield entry.name, entry
            continue
        try:
            with os.scandir(entry.path) as inner:
                for sub in inner:
                    if not is_complete_upload(sub.name):
                        continue
                    try:
                        if sub.is_dir(follow_symlinks=False):
                            continue
                    except FileNotFoundError:
                        continue
                    yield f"{entry.name}/{sub.name}", sub
        except (FileNotFoundError, NotADirectoryError):
            continue
