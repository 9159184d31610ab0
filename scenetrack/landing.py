"""The landing protocol, shared by the landing-folder trigger and the ingest step.

An upload is written under a name starting with ``.`` or ending in ``.part`` and renamed to its
final name when complete; such names are never picked up, so a half-written file is never
ingested. Kept free of imports: the Airflow triggerer and the CLI both load it.
"""

from __future__ import annotations


def is_complete_upload(name: str) -> bool:
    """A finished upload: not a hidden/temporary name and not a ``.part`` file."""
    return not name.startswith(".") and not name.endswith(".part")
