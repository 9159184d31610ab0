"""The PostgreSQL target end to end, on a real server (tests/pg/conftest.py).

One module-scoped build drives most checks, in the order a warehouse lives through them:
ingest half the generated submissions and publish v1; start BI readers (as ``bi_reader``);
ingest the rest and publish v2 while they read; then compare every published table with the
same two-step build on the embedded DuckDB target, row for row.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import psycopg
import pytest
from psycopg import errors, sql

from ingestion.generate import generate
from scenetrack import cli, pipeline
from scenetrack.config import Paths, PgTarget
from scenetrack.postgres import server
from scenetrack.postgres.roles import bi_dsn
from scenetrack.postgres.sync import sync_raw_to_postgres
from tests.conftest import event, write_csv
from tests.pg.conftest import warehouse_env
from tests.reference import LINEAGE_COLUMNS

pytestmark = pytest.mark.e2e

REFERENCE_DATE = "2025-12-31"
RUN_DATE = date(2026, 6, 30)  # after the generated corrections (reported in 2026)
BI_PASSWORD = "bi-secret-Ω"  # non-ASCII on purpose: the DSN must percent-encode it

READ_ONE_STATEMENT = """
select
    (select version from published.publish_info),
    (select sum(cooperation_amount_yuan) from published.mart_city_scorecard
     where period_type = 'all'),
    (select coalesce(sum(cooperation_amount_yuan), 0) from published.fct_project_lifecycle),
    (select sum(opportunities_published) from published.mart_city_scorecard
     where period_type = 'all'),
    (select count(opportunity_entered_on) from published.fct_project_lifecycle)
"""


class Reader(threading.Thread):
    """A BI tool reading ``published`` as bi_reader in a loop until told to stop.

    ``mode``: ``reconnect`` (a new connection per query), ``hold`` (one connection, one
    statement per query), ``transaction`` (one connection, REPEATABLE READ transactions of
    several statements: version first, totals after).
    """

    def __init__(self, dsn: str, mode: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.dsn, self.mode, self.stop = dsn, mode, stop
        self.versions: list[int] = []
        self.errors: list[str] = []
        self.totals: dict[int, tuple] = {}

    def _check(self, version, mart_amount, fact_amount, mart_opps, fact_opps) -> None:
        if (mart_amount, mart_opps) != (fact_amount, fact_opps):
            self.errors.append(
                f"v{version} mixed: scorecard {mart_amount}/{mart_opps} "
                f"!= lifecycle {fact_amount}/{fact_opps}"
            )
        seen = self.totals.setdefault(version, (mart_amount, mart_opps))
        if seen != (mart_amount, mart_opps):
            self.errors.append(f"v{version} changed under the same version: {seen}")
        self.versions.append(version)

    def run(self) -> None:
        held = None
        while not self.stop.is_set():
            try:
                if self.mode == "reconnect":
                    with psycopg.connect(self.dsn, autocommit=True) as con:
                        self._check(*con.execute(READ_ONE_STATEMENT).fetchone())
                elif self.mode == "hold":
                    held = held or psycopg.connect(self.dsn, autocommit=True)
                    self._check(*held.execute(READ_ONE_STATEMENT).fetchone())
                else:
                    held = held or psycopg.connect(self.dsn)
                    held.execute("set transaction isolation level repeatable read, read only")
                    v = held.execute("select version from published.publish_info").fetchone()[0]
                    time.sleep(0.01)
                    row = held.execute(READ_ONE_STATEMENT).fetchone()
                    held.rollback()
                    if row[0] != v:
                        self.errors.append(f"transaction saw v{v} then v{row[0]}")
                    self._check(*row)
            except Exception as exc:  # noqa: BLE001 - every failure is a finding
                self.errors.append(repr(exc))
                if held is not None:
                    held.close()
                    held = None
            time.sleep(0.005)
        if held is not None:
            held.close()


def _published_rows(con, schema: str, table: str) -> tuple[list[str], list[tuple]]:
    if isinstance(con, duckdb.DuckDBPyConnection):
        cur = con.execute(f"select * from {schema}.{table}")
        return [d[0] for d in cur.description], cur.fetchall()
    cur = con.execute(sql.SQL("select * from {}").format(sql.Identifier(schema, table)))
    return [d.name for d in cur.description], cur.fetchall()


def _sort_key(row: tuple) -> tuple:
    return tuple(
        (1, "") if v is None else (0, round(v, 6) if isinstance(v, float) else v) for v in row
    )


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):  # double precision only: tolerance
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, Decimal) or isinstance(b, Decimal):  # decimals: exact
        return a == b and type(a) is type(b)
    return a == b and type(a) is type(b)


@pytest.fixture(scope="module")
def lived(tmp_path_factory, pg_target: PgTarget, pg_server: server.PgServer):
    """Build on PostgreSQL (v1, then v2 under BI readers) and on DuckDB, same submissions."""
    tmp = tmp_path_factory.mktemp("pglive")
    files = generate(tmp / "subs", cities=6, seed=23)
    listed = tmp / "subs" / "无锡第一批.csv"  # a published list: batches, several technologies
    listed.write_text(
        "无锡市2025年第一批场景机会清单（发布日期：2025年3月3日）\n"
        "场景名称,所属领域,技术方向,预计投资（万元）,联系人,填报日期\n"
        "港口理货,交通,机器视觉+5G,约800,甲,2025-03-05\n"
        "冷链仓储,海洋开发,物联网、AI,,乙,2025-03-05\n",
        encoding="utf-8",
    )
    files = [*files, listed]
    first, rest = files[: len(files) // 2], files[len(files) // 2 :]
    mp = pytest.MonkeyPatch()
    mp.setenv("SCENETRACK_REFERENCE_DATE", REFERENCE_DATE)
    try:
        duck = Paths(tmp / "duck").ensure()
        with warehouse_env(None):
            for batch in (first, rest):
                pipeline.ingest_paths(duck, batch)
                pipeline.run(duck, RUN_DATE)

        home = Paths(tmp / "pghome").ensure()
        with warehouse_env(pg_target, BI_PASSWORD):
            pipeline.ingest_paths(home, first)
            v1 = pipeline.run(home, RUN_DATE)
            resync = sync_raw_to_postgres(home, pg_target)
            reader_dsn = bi_dsn(pg_target, BI_PASSWORD)
            stop = threading.Event()
            readers = [Reader(reader_dsn, m, stop) for m in ("reconnect", "hold", "transaction")]
            for r in readers:
                r.start()
            time.sleep(1.0)
            pipeline.ingest_paths(home, rest)
            v2 = pipeline.run(home, RUN_DATE)
            time.sleep(1.0)
            stop.set()
            for r in readers:
                r.join(timeout=30)
        yield {
            "duck": duck,
            "home": home,
            "target": pg_target,
            "v1": v1,
            "v2": v2,
            "resync": resync,
            "readers": readers,
            "bi_dsn": reader_dsn,
            "server": pg_server,
        }
    finally:
        mp.undo()


def test_a_rerun_of_the_raw_sync_copies_nothing(lived) -> None:
    resync = lived["resync"]
    assert resync.new_files == []
    assert resync.rows == {"events": 0, "capabilities": 0, "quarantine": 0}
    assert resync.ledger_rows_changed == 0
    assert not resync.copied_anything
    home, target = lived["home"], lived["target"]
    local = duckdb.connect(str(home.work_db), read_only=True)
    with psycopg.connect(target.dsn) as pg:
        for t in ("events", "capabilities", "quarantine", "file_ledger"):
            n_local = local.execute(f"select count(*) from raw.{t}").fetchone()[0]
            n_pg = pg.execute(sql.SQL("select count(*) from {}").format(sql.Identifier("raw", t)))
            assert n_pg.fetchone()[0] == n_local, t
    local.close()


def test_every_published_mart_equals_the_duckdb_build_row_for_row(lived) -> None:
    assert (lived["v1"].published_version, lived["v2"].published_version) == (1, 2)
    duck = duckdb.connect(str(lived["duck"].published_db), read_only=True)
    tables = sorted(
        r[0]
        for r in duck.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' "
            "and table_name <> 'publish_info'"
        ).fetchall()
    )
    assert "mart_city_scorecard" in tables and len(tables) == 16
    with psycopg.connect(lived["target"].dsn) as pg:
        pg_tables = sorted(
            r[0]
            for r in pg.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'published' and table_name <> 'publish_info'"
            ).fetchall()
        )
        assert pg_tables == tables
        for t in tables:
            d_cols, d_rows = _published_rows(duck, "main", t)
            p_cols, p_rows = _published_rows(pg, "published", t)
            assert p_cols == d_cols, t
            assert len(p_rows) == len(d_rows) > 0, t
            for d_row, p_row in zip(
                sorted(d_rows, key=_sort_key), sorted(p_rows, key=_sort_key), strict=True
            ):
                bad = [
                    (c, dv, pv)
                    for c, dv, pv in zip(d_cols, d_row, p_row, strict=True)
                    if c not in LINEAGE_COLUMNS and not _same(dv, pv)
                ]
                assert not bad, f"{t}: {bad}"
    duck.close()


GATE_VERDICT = "suite, expectation, coalesce(column_name, ''), severity, success, unexpected_count"


def test_the_gate_in_postgresql_gives_the_verdicts_of_the_gate_over_duckdb(lived) -> None:
    # PostgreSQL's gate validates in place through GX's SQL datasource, DuckDB's over pandas
    # DataFrames: the same build of the same files must get the same verdict on every check,
    # with the same counts of unexpected rows (the run that published v2 on each side)
    duck = duckdb.connect(str(lived["duck"].work_db), read_only=True)
    try:
        (duck_run,) = duck.execute(
            "select run_id from audit.gate_results order by run_at desc limit 1"
        ).fetchone()
        on_duckdb = duck.execute(
            f"select {GATE_VERDICT} from audit.gate_results where run_id = ?", [duck_run]
        ).fetchall()
    finally:
        duck.close()
    with psycopg.connect(lived["target"].dsn) as pg:
        on_postgres = pg.execute(
            f"select {GATE_VERDICT} from audit.gate_results where run_id = %s",
            [lived["v2"].gate_run_id],
        ).fetchall()
    assert len(on_postgres) > 70  # every expectation of every suite, and the guards
    assert sorted(on_postgres) == sorted(on_duckdb)
    assert all(row[4] for row in on_postgres)  # the build that published v2 passed


def test_bi_readers_never_failed_nor_saw_a_mix_during_the_publish(lived) -> None:
    readers = lived["readers"]
    for r in readers:
        assert r.errors == [], (r.mode, r.errors[:5])
        assert len(r.versions) > 20, r.mode
        assert r.versions == sorted(r.versions), r.mode  # monotonic
        assert set(r.versions) == {1, 2}, r.mode  # read before and after the swap
    totals = readers[0].totals
    assert totals[1] != totals[2]  # the versions differ, so a mix could not hide


def test_published_columns_carry_the_dbt_descriptions(lived) -> None:
    with psycopg.connect(lived["bi_dsn"]) as bi:
        comment = bi.execute(
            "select col_description('published.fct_project_lifecycle'::regclass, "
            "(select attnum from pg_attribute where attname = 'status' "
            "and attrelid = 'published.fct_project_lifecycle'::regclass))"
        ).fetchone()[0]
    assert comment == "active, terminated_failed or terminated_withdrawn."


DENIED_READS = [
    "select * from raw.events",
    "select * from raw.quarantine",
    "select * from raw.capabilities",
    "select * from raw.file_ledger",
    "select * from staging.stg_raw__events",
    "select * from intermediate.int_projects_staged_through_lifecycle",
    "select * from marts.fct_project_lifecycle",
    "select * from main.ref_cities",
    "select * from audit.gate_results",
    "select * from audit.publish_log",
    "select * from published_old.fct_project_lifecycle",
]
DENIED_WRITES = [
    "insert into published.dim_domain values ('x', 'x', 'x')",
    "update published.mart_city_scorecard set projects_failed = 0",
    "delete from published.fct_project_lifecycle",
    "truncate published.publish_info",
    "create table published.mine (x int)",
    "drop table published.dim_city",
    "alter table published.dim_city add column x int",
    "create schema mine",
    "create table public.mine (x int)",
    "create temporary table mine (x int)",
]


@pytest.mark.parametrize("statement", DENIED_READS + DENIED_WRITES)
def test_bi_reader_is_denied(lived, statement: str) -> None:
    with (
        psycopg.connect(lived["bi_dsn"], autocommit=True) as bi,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        bi.execute(statement)


def test_bi_reader_can_select_every_published_table(lived) -> None:
    with psycopg.connect(lived["bi_dsn"], autocommit=True) as bi:
        tables = [
            r[0]
            for r in bi.execute(
                "select tablename from pg_tables where schemaname = 'published' order by 1"
            ).fetchall()
        ]
        assert len(tables) == 17 and "publish_info" in tables
        for t in tables:
            bi.execute(sql.SQL("select * from {} limit 1").format(sql.Identifier("published", t)))
        assert bi.execute("select current_user").fetchone()[0] == "bi_reader"
        assert bi.execute("select version from published.publish_info").fetchone()[0] == 2


def _published_state(target: PgTarget) -> tuple:
    with psycopg.connect(target.dsn) as pg:
        info = pg.execute("select * from published.publish_info").fetchall()
        card = pg.execute(
            "select * from published.mart_city_scorecard order by city_code, period_type, "
            "period_label"
        ).fetchall()
        facts = pg.execute(
            "select count(*), sum(cooperation_amount_yuan) from published.fct_project_lifecycle"
        ).fetchone()
        oid = pg.execute("select 'published.mart_city_scorecard'::regclass::oid").fetchone()
    return info, card, facts, oid


def test_a_citys_bad_row_is_held_back_and_a_failure_of_everyone_blocks(
    lived, tmp_path, capsys, monkeypatch
) -> None:
    from scenetrack import gate

    target, home = lived["target"], lived["home"]
    bad = write_csv(
        tmp_path / "bad_amount.csv",
        [event("合肥", "X-1", "application", "enter", "2025-06-01", "99999亿元", "2025-06-02")],
    )
    with psycopg.connect(target.dsn) as pg:
        version = pg.execute("select max(version) from audit.publish_log").fetchone()[0]
    with warehouse_env(target, BI_PASSWORD):
        assert cli.main(["ingest", "--home", str(home.home), str(bad)]) == 0
        assert cli.main(["run", "--home", str(home.home)]) == 0  # 合肥's file held back
    assert "held back: 340100 bad_amount.csv" in capsys.readouterr().out
    with psycopg.connect(target.dsn) as pg:
        assert pg.execute("select max(version) from audit.publish_log").fetchone()[0] == version + 1
        for schema in ("marts", "published"):  # rebuilt without it, published without it
            assert (
                pg.execute(
                    f"select count(*) from {schema}.fct_project_lifecycle where project_id = 'X-1'"
                ).fetchone()[0]
                == 0
            )
        assert (
            pg.execute("select count(*) from raw.events where project_id = 'X-1'").fetchone()[0]
            == 1
        )  # its row is kept in raw
        assert pg.execute(
            "select city_code from raw.file_holds where released_at is null"
        ).fetchall() == [("340100",)]
        runs = pg.execute("select passed from audit.gate_runs order by run_at desc limit 2")
        assert [r[0] for r in runs.fetchall()] == [True, False]  # failed, held, passed

    # a failure no city owns: with no drop allowed, holding 无锡 trips the volume guard
    before = _published_state(target)
    monkeypatch.setattr(gate, "VOLUME_MAX_DROP", 0.0)
    with warehouse_env(target, BI_PASSWORD):
        assert cli.main(["hold", "--city", "无锡", "--home", str(home.home)]) == 0
        try:
            assert cli.main(["run", "--home", str(home.home)]) == cli.EXIT_GATE_BLOCKED
        finally:
            assert cli.main(["release", "--city", "无锡", "--home", str(home.home)]) == 0
    err = capsys.readouterr().err
    assert "BLOCKED" in err and "SCENETRACK_VOLUME_MAX_DROP=0" in err
    assert _published_state(target) == before


def test_server_listens_on_loopback_only(lived) -> None:
    srv = lived["server"]
    with psycopg.connect(srv.admin_dsn) as admin:
        assert admin.execute("show listen_addresses").fetchone()[0] == "127.0.0.1"
        assert admin.execute("select inet_server_addr()::text").fetchone()[0] == "127.0.0.1/32"
    assert Path(srv.directory, "data", "PG_VERSION").exists()


def test_a_failure_inside_the_swap_keeps_the_last_good_published(lived, monkeypatch) -> None:
    from scenetrack.postgres import publish as pg_publish

    target = lived["target"]
    before = _published_state(target)
    with psycopg.connect(target.dsn) as pg:
        version = pg.execute("select max(version) from audit.publish_log").fetchone()[0]

    def broken_grant(*_args, **_kwargs):
        raise RuntimeError("disk full while granting")

    monkeypatch.setattr(pg_publish, "grant_published", broken_grant)
    with pytest.raises(RuntimeError, match="disk full"):
        pg_publish.publish(lived["home"], target, "gate-run-that-never-lands")
    assert _published_state(target) == before
    with psycopg.connect(target.dsn) as pg:
        schemas = {r[0] for r in pg.execute("select nspname from pg_namespace").fetchall()}
        assert "published_old" in schemas
        assert pg.execute("select max(version) from audit.publish_log").fetchone()[0] == version
    if "published_next" in schemas:  # the committed candidate of the failed swap: not for BI
        with (
            psycopg.connect(lived["bi_dsn"], autocommit=True) as bi,
            pytest.raises(errors.InsufficientPrivilege),
        ):
            bi.execute("select * from published_next.publish_info")
