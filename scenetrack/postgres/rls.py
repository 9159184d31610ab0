"""Per-city access to the published schema: one role per city, row-level security.

Every city in the seed ``ref_cities`` gets a role ``city_<code>`` (LOGIN, no password until
an administrator sets one: ``ALTER ROLE city_340100 PASSWORD '…'``, or ``GRANT city_340100 TO
alice`` and alice runs ``SET ROLE city_340100``), a member of the group role ``city_reader``.
``city_reader`` gets what ``bi_reader`` gets (USAGE on ``published``, SELECT on its tables)
and nothing else; what rows it sees is decided by row-level security on each published table:

- ``national`` policy for ``bi_reader``: every row (national evaluators, as before);
- ``city_rows`` policy for ``city_reader``: the rule of :mod:`scenetrack.city_access` with the
  city taken from the role's name (``substr(current_user, 6)``), so one policy serves every
  city and a role not named ``city_<code>`` sees nothing;
- a table the rule does not name gets no city policy: no city sees any of its rows.

The table owner (the pipeline's writer) is not subject to the policies. Policies belong to the
tables, so they are created on ``published_next`` before the swap (:func:`secure_tables`,
called by :mod:`.publish`) and travel with the schema through the swap and a rollback.
"""

from __future__ import annotations

import csv

import psycopg
from psycopg import sql

from scenetrack.city_access import city_filter, city_role
from scenetrack.config import SEEDS_DIR

CITY_GROUP = "city_reader"
CITY_OF_ROLE = "substr(current_user, 6)"


def seed_city_codes() -> list[str]:
    """Every city code of the ``ref_cities`` seed (the cities that can submit)."""
    with (SEEDS_DIR / "ref_cities.csv").open(encoding="utf-8", newline="") as f:
        return sorted(r["city_code"] for r in csv.DictReader(f))


def ensure_city_roles(cur: psycopg.Cursor, codes: list[str] | None = None) -> list[str]:
    """Create ``city_reader`` and a ``city_<code>`` member role per city that lacks one
    (idempotent; one catalog read when nothing is missing). Returns the roles created."""
    wanted = [CITY_GROUP] + [city_role(c) for c in (codes or seed_city_codes())]
    have = {
        r[0]
        for r in cur.execute(
            "select rolname from pg_roles where rolname = any(%s)", [wanted]
        ).fetchall()
    }
    created = []
    if CITY_GROUP not in have:
        cur.execute(sql.SQL("create role {} nologin").format(sql.Identifier(CITY_GROUP)))
        created.append(CITY_GROUP)
    for role in wanted[1:]:
        if role not in have:
            cur.execute(
                sql.SQL("create role {} login nocreatedb nocreaterole in role {}").format(
                    sql.Identifier(role), sql.Identifier(CITY_GROUP)
                )
            )
            created.append(role)
    return created


def secure_tables(cur: psycopg.Cursor, schema: str, national_role: str) -> None:
    """Row-level security and the two policies on every table of ``schema`` (see module)."""
    tables = [
        r[0]
        for r in cur.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s and c.relkind in ('r', 'p') order by c.relname",
            [schema],
        ).fetchall()
    ]
    for t in tables:
        ident = sql.Identifier(schema, t)
        cur.execute(sql.SQL("alter table {} enable row level security").format(ident))
        cur.execute(
            sql.SQL("create policy national on {} for select to {} using (true)").format(
                ident, sql.Identifier(national_role)
            )
        )
        rule = city_filter(t, CITY_OF_ROLE)
        if rule is not None:
            cur.execute(
                sql.SQL("create policy city_rows on {} for select to {} using ({})").format(
                    ident, sql.Identifier(CITY_GROUP), sql.SQL(rule)
                )
            )
