"""The PostgreSQL warehouse target (``SCENETRACK_WAREHOUSE=postgresql://…``).

Intake stays where the files land: submissions are read and normalised into the local DuckDB
work database exactly as on the embedded target, then :mod:`.sync` copies the new raw rows into
PostgreSQL with COPY. dbt runs the same models with dbt-postgres, the GX gate reads its batches
from PostgreSQL (:mod:`.gate`), and :mod:`.publish` swaps the audited marts into schema
``published`` in one transaction. :mod:`.roles` sets up ``bi_reader``; :mod:`.server` starts a
throwaway server for tests and the demo.
"""

from __future__ import annotations

import psycopg

from scenetrack.config import PgTarget

APP_NAME = "scenetrack"

# Schemas the pipeline's writer role owns. BI reads `published` only.
WRITER_SCHEMAS = ("raw", "audit", "main", "staging", "intermediate", "marts", "published")


def connect(target: PgTarget | str, *, autocommit: bool = False, **kwargs) -> psycopg.Connection:
    """A psycopg connection to the warehouse (DSN or :class:`PgTarget`)."""
    dsn = target if isinstance(target, str) else target.dsn
    return psycopg.connect(
        dsn, autocommit=autocommit, application_name=APP_NAME, connect_timeout=10, **kwargs
    )
