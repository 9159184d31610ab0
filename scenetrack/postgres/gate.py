"""The GX gate over PostgreSQL: suites validated in place, outcomes stored there.

Same suites, same SQL (``expectations/*.json`` ``meta.batch_query`` is portable), same
:func:`scenetrack.gate.run_gate` with ``warehouse=PgGateWarehouse(target)``. On PostgreSQL GX's
SQL datasource is first-class, so each suite is validated where its rows lie: every metric is
a query GX runs in the warehouse, and only the metrics and the unexpected rows GX lists (the
keyed samples, the cities of failing rows) come back; no batch is fetched into pandas. What this
module reads itself is small: each batch query's columns and row count (for the guard that GX
saw every row), all in one ``REPEATABLE READ, READ ONLY`` transaction, one savepoint per query so
a failing suite query is reported as a failed ``error`` outcome without aborting the rest. The
gate runs under the pipeline's writer lock, so no build changes the warehouse while GX reads it.

:func:`read_frame` (a query into a DataFrame typed like DuckDB's ``.df()``) is what the
PostgreSQL report reads its panels with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from scenetrack.config import PgTarget
from scenetrack.postgres import connect

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from scenetrack.gate.frames import BatchReader, SqlBatch
    from scenetrack.gate.suites import SuiteSpec
    from scenetrack.gate.types import ExpectationOutcome

# pg_type OIDs: int2, int4, int8 / float4, float8, numeric / timestamp, timestamptz
_INT_OIDS = {21, 23, 20}
_FLOAT_OIDS = {700, 701, 1700}
_TIMESTAMP_OIDS = {1114, 1184}


def read_frame(cur: psycopg.Cursor, query: str) -> pd.DataFrame:
    """Run one batch query into a DataFrame typed like the DuckDB path's."""
    import pandas as pd

    cur.execute(query)
    desc = cur.description or []
    names = [d.name for d in desc]
    df = pd.DataFrame.from_records(cur.fetchall(), columns=names)
    for i, d in enumerate(desc):
        col = df.columns[i]
        if d.type_code in _FLOAT_OIDS:
            df[col] = pd.to_numeric(df[col].astype(object), errors="coerce").astype("float64")
        elif d.type_code in _INT_OIDS:
            df[col] = pd.to_numeric(df[col])
        elif d.type_code in _TIMESTAMP_OIDS:
            df[col] = pd.to_datetime(df[col]).astype("datetime64[ns]")
    return df


def sqlalchemy_url(target: PgTarget) -> str:
    """The target as the SQLAlchemy URL GX's SQL datasource takes (psycopg 3 driver)."""
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+psycopg",
        username=target.user,
        password=target.password,
        host=target.host,
        port=target.port,
        database=target.dbname,
    )
    return url.render_as_string(hide_password=False)


def describe_batches(
    target: PgTarget,
    specs: Sequence[SuiteSpec],
    run_date: date,
    baseline_counts: dict[str, int] | None = None,
) -> tuple[dict[str, SqlBatch | str], dict[str, Any]]:
    """Each suite's batch as GX will validate it in place (columns, row count), or the error
    its query raised; and the suite parameters, from one read-only snapshot."""
    from scenetrack.gate.frames import SqlBatch
    from scenetrack.gate.suites import suite_parameters

    url = sqlalchemy_url(target)
    batches: dict[str, SqlBatch | str] = {}
    with connect(target) as con:
        con.execute("set transaction isolation level repeatable read, read only")
        params = suite_parameters(run_date, baseline_counts)
        for spec in specs:
            try:  # the suite's own SQL, run as written (no parameters are bound)
                with con.transaction(), con.cursor() as cur:
                    cur.execute(f"select * from ({spec.batch_query}) as batch limit 0")
                    columns = tuple(d.name for d in cur.description or [])
                    cur.execute(f"select count(*) from ({spec.batch_query}) as batch")
                    rows = int(cur.fetchone()[0])
                batches[spec.gx_name] = SqlBatch(url, columns, rows)
            except psycopg.Error as exc:
                batches[spec.gx_name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        con.rollback()
    return batches, params


def store(
    target: PgTarget,
    run_id: str,
    run_at: datetime,
    outcomes: Sequence[ExpectationOutcome],
    fingerprint: dict,
) -> None:
    """Replace this run's rows in ``audit.gate_results`` and ``audit.gate_runs`` (the same
    tables as in DuckDB), in one transaction."""
    from scenetrack import audited
    from scenetrack.gate.audit import GATE_RESULTS_DDL, gate_result_rows, insert_gate_results_sql
    from scenetrack.gate.types import passed

    with connect(target) as con, con.cursor() as cur:
        cur.execute(GATE_RESULTS_DDL)
        cur.execute(audited.GATE_RUNS_DDL)
        cur.execute("delete from audit.gate_results where run_id = %s", [run_id])
        cur.executemany(insert_gate_results_sql("%s"), gate_result_rows(run_id, run_at, outcomes))
        audited.record(cur, run_id, run_at, passed(outcomes), fingerprint, "%s")


@dataclass(frozen=True)
class PgGateWarehouse:
    """PostgreSQL as the gate's warehouse (:class:`scenetrack.gate.GateWarehouse`): what
    :func:`scenetrack.gate.run_gate` is handed when ``SCENETRACK_WAREHOUSE`` names it."""

    target: PgTarget

    @contextmanager
    def batches(
        self,
        specs: Sequence[SuiteSpec],
        run_date: date,
        baseline_counts: dict[str, int] | None,
    ) -> Iterator[tuple[list[SuiteSpec], BatchReader, dict[str, Any]]]:
        """Every suite's batch described up front (:func:`describe_batches`) and validated in
        place by GX's SQL datasource, the suites in their files' order."""
        batches, params = describe_batches(self.target, specs, run_date, baseline_counts)
        yield list(specs), lambda spec: batches.pop(spec.gx_name), params

    def store(
        self,
        run_id: str,
        run_at: datetime,
        outcomes: Sequence[ExpectationOutcome],
        fingerprint: dict,
    ) -> None:
        store(self.target, run_id, run_at, outcomes, fingerprint)


def last_gate_run(target: PgTarget) -> dict | None:
    """run_id, passed, failures of the newest gate run stored in PostgreSQL (None if none)."""
    with connect(target, autocommit=True) as con:
        if con.execute("select to_regclass('audit.gate_results')").fetchone()[0] is None:
            return None
        row = con.execute(
            sql.SQL(
                "select run_id, count(*) filter (where not success and severity = 'error'), "
                "count(*) filter (where not success and severity = 'warn') "
                "from audit.gate_results where run_id = (select run_id from audit.gate_results "
                "order by run_at desc, run_id desc limit 1) group by run_id"
            )
        ).fetchone()
    if row is None:
        return None
    return {"run_id": row[0], "passed": row[1] == 0, "failures": row[1], "warnings": row[2]}
