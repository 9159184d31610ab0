"""Per-city access on PostgreSQL (row-level security, ``city_<code>`` roles), and status and
rollback on the PostgreSQL target, on a real server (tests/pg/conftest.py).

Two publishes from generated submissions of three cities; then each city's role reads every
published table and sees exactly the rows the writer counts for it with a plain WHERE clause
(the expected figures come from the writer's own query, not from the policies).
"""

from __future__ import annotations

import json
from datetime import date

import psycopg
import pytest
from psycopg import errors, sql

from ingestion.generate import generate
from scenetrack import cli, pipeline
from scenetrack.city_access import CITY_ROWS, OPEN_TABLES
from scenetrack.config import Paths, PgTarget
from scenetrack.postgres import server
from tests.pg.conftest import warehouse_env
from tests.pg.test_pg_warehouse import BI_PASSWORD, DENIED_READS, DENIED_WRITES

pytestmark = pytest.mark.e2e

CITY_PASSWORD = "city-secret-合肥"
REGION_FREE = ("national", "domain", "technology", "cohort_quarter")


def _dsn(target: PgTarget, role: str, password: str) -> str:
    from urllib.parse import quote

    return (
        f"postgresql://{role}:{quote(password, safe='')}@{target.host}:{target.port}/"
        f"{target.dbname}"
    )


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, pg_target: PgTarget, pg_server: server.PgServer):
    tmp = tmp_path_factory.mktemp("cities")
    files = generate(tmp / "subs", cities=3, seed=23)
    # each city's published opportunity list (a batch in its title): mart_opportunity_batches
    for name in ("合肥", "无锡", "深圳"):
        listed = tmp / "subs" / f"{name}_清单.csv"
        listed.write_text(
            f"{name}市2025年第一批场景机会清单（发布日期：2025年3月1日）\n"
            "序号,场景名称,所属领域,技术方向,预计投资（万元）\n"
            f"1,{name}城市大脑,城市治理,人工智能+物联网,500\n"
            f"2,{name}无人机巡检,城市治理,无人机,约200\n",
            encoding="utf-8",
        )
        files.append(listed)
    first = [f for f in files if f.name != "events_440300.csv"]
    later = [f for f in files if f.name == "events_440300.csv"]
    home = Paths(tmp / "home").ensure()
    mp = pytest.MonkeyPatch()
    mp.setenv("SCENETRACK_REFERENCE_DATE", "2025-12-31")
    try:
        with warehouse_env(pg_target, BI_PASSWORD):
            pipeline.ingest_paths(home, first)
            v1 = pipeline.run(home, date(2026, 6, 30))
            pipeline.ingest_paths(home, later)
            v2 = pipeline.run(home, date(2026, 6, 30))
        with psycopg.connect(pg_server.admin_dsn, autocommit=True) as admin:
            for code in ("340100", "320200", "440300"):
                admin.execute(
                    sql.SQL("alter role {} password {}").format(
                        sql.Identifier(f"city_{code}"), sql.Literal(CITY_PASSWORD)
                    )
                )
        yield {"home": home, "target": pg_target, "v1": v1, "v2": v2, "files": len(files)}
    finally:
        mp.undo()


def _published_tables(target: PgTarget) -> list[str]:
    with psycopg.connect(target.dsn) as pg:
        return [
            r[0]
            for r in pg.execute(
                "select tablename from pg_tables where schemaname = 'published' order by 1"
            ).fetchall()
        ]


def test_every_published_table_is_classified_for_cities(warehouse) -> None:
    tables = _published_tables(warehouse["target"])
    assert set(tables) == set(CITY_ROWS) | OPEN_TABLES
    assert {"fct_project_lifecycle", "mart_stage_activity", "dim_stage"} <= set(tables)


@pytest.mark.parametrize("city", ["340100", "320200", "440300"])
def test_a_city_role_reads_only_its_own_rows_and_the_national_aggregates(warehouse, city) -> None:
    target = warehouse["target"]
    with psycopg.connect(target.dsn) as writer:
        expected: dict[str, int] = {}
        everyone: dict[str, int] = {}
        for t in _published_tables(target):
            q = sql.SQL("select count(*) from {}").format(sql.Identifier("published", t))
            everyone[t] = writer.execute(q).fetchone()[0]
            if t == "mart_stage_funnel":
                where = sql.SQL(
                    " where breakdown = any(%s) or (breakdown = 'city' and breakdown_value = %s)"
                )
                expected[t] = writer.execute(q + where, [list(REGION_FREE), city]).fetchone()[0]
            elif t in OPEN_TABLES:
                expected[t] = everyone[t]
            else:
                expected[t] = writer.execute(q + sql.SQL(" where city_code = %s"), [city])
                expected[t] = expected[t].fetchone()[0]
    with psycopg.connect(_dsn(target, f"city_{city}", CITY_PASSWORD), autocommit=True) as c:
        assert c.execute("select current_user").fetchone()[0] == f"city_{city}"
        for t, n in expected.items():
            got = c.execute(
                sql.SQL("select count(*) from {}").format(sql.Identifier("published", t))
            )
            assert got.fetchone()[0] == n, t
            if t in CITY_ROWS and t != "mart_stage_funnel":
                assert 0 < n < everyone[t], t  # the city has rows, and others have more
                others = c.execute(
                    sql.SQL("select count(*) from {} where city_code <> %s").format(
                        sql.Identifier("published", t)
                    ),
                    [city],
                )
                assert others.fetchone()[0] == 0, t
        funnel = c.execute(
            "select distinct breakdown, case when breakdown = 'city' then breakdown_value end "
            "from published.mart_stage_funnel"
        ).fetchall()
        assert {b for b, _ in funnel} == set(REGION_FREE) | {"city"}
        assert {v for b, v in funnel if b == "city"} == {city}


@pytest.mark.parametrize("statement", DENIED_READS + DENIED_WRITES)
def test_a_city_role_is_denied_like_bi_reader(warehouse, statement: str) -> None:
    target = warehouse["target"]
    with (
        psycopg.connect(_dsn(target, "city_320200", CITY_PASSWORD), autocommit=True) as c,
        pytest.raises(errors.InsufficientPrivilege),
    ):
        c.execute(statement)


def test_a_city_role_cannot_switch_off_row_security(warehouse) -> None:
    target = warehouse["target"]
    with psycopg.connect(_dsn(target, "city_320200", CITY_PASSWORD), autocommit=True) as c:
        with pytest.raises(errors.InsufficientPrivilege):
            c.execute("alter table published.fct_project_lifecycle disable row level security")
        with pytest.raises(errors.InsufficientPrivilege):
            c.execute("set role bi_reader")


def test_bi_reader_still_reads_every_row(warehouse) -> None:
    target = warehouse["target"]
    with (
        psycopg.connect(target.dsn) as writer,
        psycopg.connect(_dsn(target, "bi_reader", BI_PASSWORD)) as bi,
    ):
        for t in _published_tables(target):
            q = sql.SQL("select count(*) from {}").format(sql.Identifier("published", t))
            assert bi.execute(q).fetchone()[0] == writer.execute(q).fetchone()[0] > 0, t


def _live(target: PgTarget) -> tuple[int, int, int]:
    """(published version, its lifecycle rows, the rows city_440300 sees)."""
    with psycopg.connect(target.dsn) as pg:
        v = pg.execute("select version from published.publish_info").fetchone()[0]
        n = pg.execute("select count(*) from published.fct_project_lifecycle").fetchone()[0]
    with psycopg.connect(_dsn(target, "city_440300", CITY_PASSWORD)) as c:
        mine = c.execute("select count(*) from published.fct_project_lifecycle").fetchone()[0]
    return v, n, mine


def test_status_and_rollback_on_postgres_swap_the_previous_schema_back(warehouse, capsys) -> None:
    target, home = warehouse["target"], warehouse["home"]
    assert (warehouse["v1"].published_version, warehouse["v2"].published_version) == (1, 2)
    v2 = _live(target)
    assert v2[0] == 2 and v2[2] > 0  # 440300 reported in the second publish only
    with warehouse_env(target, BI_PASSWORD):
        assert cli.main(["status", "--home", str(home.home), "--json"]) == 0
        s = json.loads(capsys.readouterr().out)
        assert s["published"]["version"] == 2 and s["published"]["action"] == "publish"
        assert s["last_gate"]["passed"] is True
        assert s["ledger"]["loaded"]["files"] == warehouse["files"] == 8  # 5 generated, 3 lists
        assert BI_PASSWORD not in json.dumps(s) and target.password not in json.dumps(s)

        assert cli.main(["rollback", "--home", str(home.home), "7"]) == cli.EXIT_FAILED
        assert "keeps the previous version only: v1" in capsys.readouterr().err
        assert _live(target) == v2

        assert cli.main(["rollback", "--home", str(home.home)]) == 0
        v1 = _live(target)
        assert v1[0] == 1 and v1[1] < v2[1] and v1[2] < v2[2]  # 440300 sent its file for v2
        assert cli.main(["status", "--home", str(home.home), "--json"]) == 0
        capsys.readouterr()

        assert cli.main(["rollback", "--home", str(home.home)]) == 0  # and back again
        assert _live(target) == v2
    with psycopg.connect(target.dsn) as pg:
        log = pg.execute(
            "select version, action from audit.publish_log order by published_at"
        ).fetchall()
    assert log == [(1, "publish"), (2, "publish"), (1, "rollback"), (2, "rollback")]


def test_publishing_the_same_gate_run_again_is_a_no_op(warehouse) -> None:
    from scenetrack.postgres.publish import publish

    target, home = warehouse["target"], warehouse["home"]
    with psycopg.connect(target.dsn) as pg:
        run_id = pg.execute("select gate_run_id from published.publish_info").fetchone()[0]
        before = pg.execute("select count(*) from audit.publish_log").fetchone()[0]
    rec = publish(home, target, run_id)
    assert rec.version == 2 and rec.gate_run_id == run_id
    with psycopg.connect(target.dsn) as pg:
        assert pg.execute("select count(*) from audit.publish_log").fetchone()[0] == before


def test_the_evaluator_report_renders_from_the_postgres_published_schema(warehouse, capsys) -> None:
    from scenetrack.report.data import read_report_data

    target, home = warehouse["target"], warehouse["home"]
    with warehouse_env(target, BI_PASSWORD):
        assert cli.main(["report", "--home", str(home.home), "--lang", "en", "--json"]) == 0
        index = json.loads(capsys.readouterr().out)["report"]
        data = read_report_data(home)
    with psycopg.connect(target.dsn) as pg:
        version = pg.execute("select version from published.publish_info").fetchone()[0]
        projects = pg.execute("select count(*) from published.fct_project_lifecycle").fetchone()
        gate = pg.execute(
            "select run_id from audit.gate_results order by run_at desc limit 1"
        ).fetchone()[0]
    assert data.overview.version == version
    assert data.overview.projects_total == projects[0]
    assert data.quality.available and data.quality.gate["run_id"] == gate
    html = open(index, encoding="utf-8").read()
    assert f"{projects[0]:,}" in html
    assert target.password not in html and BI_PASSWORD not in html
