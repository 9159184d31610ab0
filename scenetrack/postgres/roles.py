"""Roles: the pipeline's writer owns every schema; ``bi_reader`` may SELECT from ``published``.

The writer is the role in ``SCENETRACK_WAREHOUSE`` (a LOGIN role that owns the database and
has CREATEROLE, so it can manage ``bi_reader`` without being a superuser; on a managed server
an administrator creates it once). ``bi_reader`` gets CONNECT on the database, USAGE on schema
``published`` and SELECT on its tables, and nothing else: no USAGE on ``raw`` (whose
``quarantine`` holds clerks' raw values), ``staging``, ``intermediate``, ``marts`` or
``audit``; no CREATE anywhere, no TEMP tables, no writes. The publish step re-grants on every
swap because the published schema is a new object each time (see :mod:`.publish`).
"""

from __future__ import annotations

import warnings

import psycopg
from psycopg import sql

from scenetrack.config import PgTarget, settings
from scenetrack.postgres import WRITER_SCHEMAS, connect
from scenetrack.postgres.rls import CITY_GROUP, ensure_city_roles


def bi_role() -> str:
    """The read-only role BI tools connect as (``SCENETRACK_BI_ROLE``, default ``bi_reader``)."""
    return settings().bi_role


ROLES_LOCK_KEY = 0x5CE7_0003


def grant_published(
    cur: psycopg.Cursor, schema: str = "published", role: str | None = None
) -> None:
    """Let ``role`` (default :func:`bi_role`) read every table in ``schema`` (and tables
    created there later)."""
    role = role or bi_role()
    ident, r = sql.Identifier(schema), sql.Identifier(role)
    cur.execute(sql.SQL("grant usage on schema {} to {}").format(ident, r))
    cur.execute(sql.SQL("grant select on all tables in schema {} to {}").format(ident, r))
    cur.execute(
        sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(
            ident, r
        )
    )


def ensure_roles(target: PgTarget, bi_password: str | None = None) -> None:
    """Create or repair the schemas and ``bi_reader`` (idempotent; safe to run every time).

    ``bi_password`` (default ``SCENETRACK_BI_PASSWORD``) is set on every call when given; when
    neither is set, an existing role keeps its password and a new one is created without one
    (it cannot log in until an administrator sets it), with a warning.
    """
    if bi_password is None and (secret := settings().bi_password) is not None:
        bi_password = secret.get_secret_value()
    password = bi_password
    role = bi_role()
    r = sql.Identifier(role)
    with connect(target) as con, con.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", [ROLES_LOCK_KEY])
        for schema in WRITER_SCHEMAS:
            cur.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(schema)))
        exists = cur.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone()
        if not exists:
            cur.execute(sql.SQL("create role {} login").format(r))
        cur.execute(
            sql.SQL(
                "alter role {} login nocreatedb nocreaterole noinherit connection limit 50"
            ).format(r)
        )
        if password:
            cur.execute(sql.SQL("alter role {} password {}").format(r, sql.Literal(password)))
        elif not exists:
            warnings.warn(
                f"{role} created without a password: set SCENETRACK_BI_PASSWORD and rerun",
                stacklevel=2,
            )
        db = sql.Identifier(target.dbname)
        # Nobody but the owner creates schemas or temp tables in this database; BI connects.
        cur.execute(sql.SQL("revoke create, temporary on database {} from public").format(db))
        cur.execute(sql.SQL("revoke all on database {} from {}").format(db, r))
        cur.execute(sql.SQL("grant connect on database {} to {}").format(db, r))
        cur.execute("revoke create on schema public from public")
        # the cities' roles (scenetrack.postgres.rls): same grants as bi_reader, rows by policy
        ensure_city_roles(cur)
        g = sql.Identifier(CITY_GROUP)
        cur.execute(sql.SQL("revoke all on database {} from {}").format(db, g))
        cur.execute(sql.SQL("grant connect on database {} to {}").format(db, g))
        for schema in WRITER_SCHEMAS:
            if schema != "published":
                cur.execute(
                    sql.SQL("revoke all on schema {} from public, {}, {}").format(
                        sql.Identifier(schema), r, g
                    )
                )
        grant_published(cur)
        grant_published(cur, role=CITY_GROUP)


def bi_dsn(target: PgTarget, password: str | None = None) -> str:
    """The connection string a BI tool uses (``bi_reader`` on the same server and database)."""
    from urllib.parse import quote

    if password is None:
        secret = settings().bi_password
        password = secret.get_secret_value() if secret is not None else ""
    pw = password
    auth = quote(bi_role(), safe="") + (":" + quote(pw, safe="") if pw else "")
    return f"postgresql://{auth}@{target.host}:{target.port}/{quote(target.dbname, safe='')}"
