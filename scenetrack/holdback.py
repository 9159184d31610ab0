"""Per-city holdback: one city's bad rows do not keep every other city's figures back.

When the gate fails only on checks whose unexpected rows all belong to known cities
(:attr:`scenetrack.gate.GateResult.failing_cities`), the newest submissions of those cities,
their files loaded after the published version was validated, are *held*: their rows stay in
raw, marked in ``raw.file_holds`` (per file and city, with the failing checks); staging leaves
them out; the marts are rebuilt and gated again, and everyone else publishes. A failure no city
owns (a row count, the city reference) still blocks the whole publish.

Holds change what staging reads without adding a raw row, which the incremental models cannot
see, so a build after the holds changed is a full refresh (:func:`changes`). An operator holds
by hand (``scenetrack hold``) and releases (``scenetrack release``), e.g. once the city has
sent its correction; the next run then gates the released rows again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import duckdb

from ingestion.load import UTC_NOW

FILE_TABLES = ("raw.events", "raw.capabilities")
"""The raw tables whose rows belong to a file and a city."""


@dataclass(frozen=True)
class Hold:
    """One city's rows of one submitted file, kept out of the marts."""

    source_file_sha256: str
    file_name: str | None
    city_code: str
    held_at: str
    held_by: str
    checks: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


def changes(con: duckdb.DuckDBPyConnection) -> int:
    """How many times the holds changed: rows are only added and released once, so this only
    grows; a build compares it with the count its last passing build saw."""
    return con.execute("select count(*) + count(released_at) from raw.file_holds").fetchall()[0][0]


def active(con: duckdb.DuckDBPyConnection, city: str | None = None) -> list[Hold]:
    """The holds in force (oldest first), of one city or of all."""
    rows = con.execute(
        """
        select h.source_file_sha256, l.file_name, h.city_code,
               strftime(h.held_at, '%Y-%m-%d %H:%M:%S'), h.held_by, h.reason
        from raw.file_holds as h
        left join raw.file_ledger as l on l.file_sha256 = h.source_file_sha256
        where h.released_at is null and (? is null or h.city_code = ?)
        order by h.held_at, h.city_code, l.file_name
        """,
        [city, city],
    ).fetchall()
    return [Hold(sha, name, c, at, by, _checks(reason)) for sha, name, c, at, by, reason in rows]


def _checks(reason: str) -> list[str]:
    try:
        value = json.loads(reason)
    except ValueError:
        return [reason]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def newest_submissions(
    con: duckdb.DuckDBPyConnection, cities: Iterable[str], after_load_id: int
) -> list[tuple[str, str]]:
    """(file, city) of every file loaded after ``after_load_id`` that holds rows of one of
    ``cities`` and is not held for that city already."""
    cities = sorted(set(cities))
    if not cities:
        return []
    union = " union ".join(
        f"select distinct source_file_sha256, city_code from {t} "
        "where load_id > $after and list_contains($cities, city_code)"
        for t in FILE_TABLES
    )
    return con.execute(
        f"""
        select f.source_file_sha256, f.city_code from ({union}) as f
        where not exists (
            select 1 from raw.file_holds as h
            where h.released_at is null and h.source_file_sha256 = f.source_file_sha256
                and h.city_code = f.city_code
        )
        order by 2, 1
        """,
        {"after": after_load_id, "cities": cities},
    ).fetchall()


def hold(
    con: duckdb.DuckDBPyConnection,
    pairs: Iterable[tuple[str, str]],
    held_by: str,
    checks: list[str],
) -> int:
    """Hold each (file, city) of ``pairs`` for ``checks``; returns how many were held."""
    rows = [(sha, city, held_by, json.dumps(checks, ensure_ascii=False)) for sha, city in pairs]
    if rows:
        con.executemany(
            "insert into raw.file_holds (source_file_sha256, city_code, held_at, held_by, "
            f"reason) values (?, ?, {UTC_NOW}, ?, ?)",
            rows,
        )
    return len(rows)


def hold_files(
    con: duckdb.DuckDBPyConnection, city: str, file_sha256: str | None, held_by: str, why: str
) -> int:
    """An operator's hold: the city's rows of one file, or of every file it sent."""
    files = [
        sha
        for (sha,) in con.execute(
            " union ".join(
                f"select distinct source_file_sha256 from {t} where city_code = $city"
                for t in FILE_TABLES
            ),
            {"city": city},
        ).fetchall()
        if file_sha256 is None or sha == file_sha256
    ]
    held = {h.source_file_sha256 for h in active(con, city)}
    return hold(con, [(sha, city) for sha in sorted(files) if sha not in held], held_by, [why])


def release(
    con: duckdb.DuckDBPyConnection, city: str, file_sha256: str | None, released_by: str
) -> int:
    """Release the city's holds (of one file, or all); returns how many were released."""
    released = con.execute(
        f"""
        update raw.file_holds set released_at = {UTC_NOW}, released_by = ?
        where released_at is null and city_code = ? and (? is null or source_file_sha256 = ?)
        returning 1
        """,
        [released_by, city, file_sha256, file_sha256],
    ).fetchall()
    return len(released)
