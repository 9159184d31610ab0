"""A tiny hand-made work database for the gate tests.

Three cities, four projects and their events, the lifecycle rows and scorecard rows those
events imply. Every figure can be checked by hand:

- 110000 Beijing: P1 (opportunity 2024-01-10, validation 2024-03-01, application 2024-06-01,
  5,000,000 yuan, active) and P2 (opportunity 2024-02-01, validation 2024-04-01, failed
  2024-08-01). Scorecard all-time amount 0.0500 亿元, 1 failed.
- 310000 Shanghai: P3 (opportunity 2025-01-05, withdrawn 2025-03-01). 1 withdrawn, no amount.
- 440300 Shenzhen: P4 (opportunity 2023-05-01 ... scale-up 2024-09-01, 125,000,000 yuan at
  scale-up). Scorecard all-time amount 1.2500 亿元.

The clean database passes every suite for any run date from 2025-03-01 on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from scenetrack.gate import SuiteSpec

RUN_DATE_ISO = "2025-06-30"
SHA = "ab" * 32

DDL = """
create schema if not exists staging;
create schema if not exists marts;
create table marts.dim_city (
    city_code varchar, name_zh varchar, name_en varchar, province_zh varchar,
    province_en varchar, region varchar
);
create table staging.stg_raw__events (
    event_key varchar, project_key varchar, city_code varchar, project_id varchar,
    project_name varchar, domain_code varchar, technology_code varchar, demand_owner varchar,
    supplier varchar, stage_code varchar, event_type varchar, event_date date,
    event_date_precision varchar, amount_yuan decimal(18, 2), reported_at date,
    source_file_sha256 varchar, source_line bigint, loaded_at timestamp
);
create table marts.fct_project_lifecycle (
    project_key varchar, city_code varchar, project_id varchar, project_name varchar,
    domain_code varchar, technology_code varchar, demand_owner varchar, supplier varchar,
    opportunity_entered_on date, validation_entered_on date, application_entered_on date,
    scale_up_entered_on date, terminated_on date, current_stage varchar, status varchar,
    cooperation_amount_yuan decimal(18, 2), cohort_year integer,
    days_opportunity_to_validation integer, days_validation_to_application integer,
    days_application_to_scale_up integer,
    has_skipped_stage boolean, has_stage_date_regression boolean, missing_opportunity boolean
);
create table marts.mart_city_scorecard (
    city_code varchar, city_name_zh varchar, city_name_en varchar, region varchar,
    period_type varchar, period_label varchar,
    opportunities_published bigint, projects_reached_validation bigint,
    projects_reached_application bigint, projects_reached_scale_up bigint,
    projects_failed bigint, projects_withdrawn bigint,
    conversion_opportunity_to_validation double, conversion_validation_to_application double,
    conversion_application_to_scale_up double, cooperation_amount_yi decimal(20, 4),
    median_days_opportunity_to_validation double, median_days_validation_to_application double,
    median_days_application_to_scale_up double, cooperation_amount_yuan decimal(20, 2)
);
"""

CITIES = [
    ("110000", "北京", "Beijing", "北京", "Beijing", "east"),
    ("310000", "上海", "Shanghai", "上海", "Shanghai", "east"),
    ("440300", "深圳", "Shenzhen", "广东", "Guangdong", "east"),
]

# (city, project, stage, event_type, date, amount)
EVENTS = [
    ("110000", "P1", "opportunity", "enter", "2024-01-10", None),
    ("110000", "P1", "validation", "enter", "2024-03-01", None),
    ("110000", "P1", "application", "enter", "2024-06-01", "5000000.00"),
    ("110000", "P2", "opportunity", "enter", "2024-02-01", None),
    ("110000", "P2", "validation", "enter", "2024-04-01", None),
    ("110000", "P2", "validation", "fail", "2024-08-01", None),
    ("310000", "P3", "opportunity", "enter", "2025-01-05", None),
    ("310000", "P3", "opportunity", "withdraw", "2025-03-01", None),
    ("440300", "P4", "opportunity", "enter", "2023-05-01", None),
    ("440300", "P4", "validation", "enter", "2023-07-01", None),
    ("440300", "P4", "application", "enter", "2023-10-01", "120000000.00"),
    ("440300", "P4", "scale_up", "enter", "2024-09-01", "125000000.00"),
]

# project, city, opp, val, app, scale, terminated, current_stage, status, amount, cohort
LIFECYCLE = [
    (
        "P1",
        "110000",
        "2024-01-10",
        "2024-03-01",
        "2024-06-01",
        None,
        None,
        "application",
        "active",
        "5000000.00",
        2024,
    ),
    (
        "P2",
        "110000",
        "2024-02-01",
        "2024-04-01",
        None,
        None,
        "2024-08-01",
        "validation",
        "terminated_failed",
        None,
        2024,
    ),
    (
        "P3",
        "310000",
        "2025-01-05",
        None,
        None,
        None,
        "2025-03-01",
        "opportunity",
        "terminated_withdrawn",
        None,
        2025,
    ),
    (
        "P4",
        "440300",
        "2023-05-01",
        "2023-07-01",
        "2023-10-01",
        "2024-09-01",
        None,
        "scale_up",
        "active",
        "125000000.00",
        2023,
    ),
]

# city, type, label, opp, val, app, scale, failed, withdrawn, c1, c2, c3, yi, m1, m2, m3
SCORECARD = [
    ("110000", "all", "all", 2, 2, 1, 0, 1, 0, 1.0, 0.5, 0.0, "0.0500", 55.0, 92.0, None),
    ("110000", "year", "2024", 2, 2, 1, 0, 1, 0, 1.0, 0.5, 0.0, "0.0500", 55.0, 92.0, None),
    ("310000", "all", "all", 1, 0, 0, 0, 0, 1, 0.0, None, None, "0.0000", None, None, None),
    ("310000", "year", "2025", 1, 0, 0, 0, 0, 1, 0.0, None, None, "0.0000", None, None, None),
    ("440300", "all", "all", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, "1.2500", 61.0, 92.0, 336.0),
    ("440300", "year", "2023", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, "1.2500", 61.0, 92.0, 336.0),
]


# The marts checked by the simpler suites, with rows consistent with the projects above.
OTHER_MARTS = """
create table marts.fct_stage_transitions as select * from (values
    ('110000:P1:opportunity>validation', '110000:P1', '110000', 'industry', 'ai',
     'opportunity', 'validation', date '2024-01-05', date '2024-03-01', 56, false),
    ('440300:P4:opportunity>validation', '440300:P4', '440300', 'industry', 'ai',
     'opportunity', 'validation', date '2023-05-01', date '2023-07-01', 61, false)
) as t(transition_key, project_key, city_code, domain_code, technology_code, from_stage,
       to_stage, from_entered_on, to_entered_on, days_taken, skipped_stages);
create table marts.mart_stage_funnel as select * from (values
    ('national', 'all', 'opportunity', 1, 4, 0, 1, null, 1.0),
    ('national', 'all', 'validation', 2, 3, 1, 0, 0.75, 0.75),
    ('national', 'all', 'application', 3, 2, 0, 0, 0.6667, 0.5),
    ('national', 'all', 'scale_up', 4, 1, 0, 0, 0.5, 0.25)
) as t(breakdown, breakdown_value, stage_code, stage_order, projects_reached,
       projects_failed_here, projects_withdrawn_here, conversion_from_previous_stage,
       conversion_from_opportunity);
create table marts.mart_stalled_projects as select * from (values
    ('110000:P2', '110000', '北京', 'Beijing', 'P2 场景', 'industry', 'ai', '市数据局', 'ACME',
     'validation', date '2024-03-01', 486, 180, date '2025-06-30')
) as t(project_key, city_code, city_name_zh, city_name_en, project_name, domain_code,
       technology_code, demand_owner, supplier, current_stage, current_stage_entered_on,
       days_in_current_stage, stalled_after_days, reference_date);
create table marts.mart_supply_demand as select * from (values
    ('110000', 'ai', 2, 3, 2, 1.0, 1.5),
    ('310000', 'ai', 1, 0, 0, 0.0, 0.0),
    ('440300', 'ai', 1, 1, 1, 1.0, 1.0)
) as t(city_code, technology_code, opportunities_published, capabilities_published,
       opportunities_matched, share_opportunities_matched, capabilities_per_opportunity);
"""


def build_work_db(path: Path) -> Path:
    """Create the clean work database at ``path`` (tables as dbt builds them)."""
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        con.executemany("insert into marts.dim_city values (?, ?, ?, ?, ?, ?)", CITIES)
        for line, (city, proj, stage, etype, day, amount) in enumerate(EVENTS, start=2):
            con.execute(
                "insert into staging.stg_raw__events values (?, ?, ?, ?, ?, 'industry', 'ai', "
                "'市数据局', 'ACME', ?, ?, cast(? as date), 'day', cast(? as decimal(18, 2)), "
                "cast(? as date), ?, ?, timestamp '2025-03-02 08:00:00')",
                [
                    f"{city}:{proj}:{stage}:{etype}",
                    f"{city}:{proj}",
                    city,
                    proj,
                    f"{proj} 场景",
                    stage,
                    etype,
                    day,
                    amount,
                    "2025-06-01",
                    SHA,
                    line,
                ],
            )
        for proj, city, opp, val, app, scale, term, stage, status, amount, cohort in LIFECYCLE:
            con.execute(
                "insert into marts.fct_project_lifecycle values (?, ?, ?, ?, 'industry', 'ai', "
                "'市数据局', 'ACME', cast(? as date), cast(? as date), cast(? as date), "
                "cast(? as date), cast(? as date), ?, ?, cast(? as decimal(18, 2)), ?, "
                "null, null, null, false, false, false)",
                [
                    f"{city}:{proj}",
                    city,
                    proj,
                    f"{proj} 场景",
                    opp,
                    val,
                    app,
                    scale,
                    term,
                    stage,
                    status,
                    amount,
                    cohort,
                ],
            )
        names = {c[0]: c for c in CITIES}
        for row in SCORECARD:
            city = names[row[0]]
            con.execute(
                "insert into marts.mart_city_scorecard values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?, cast(? as decimal(20, 4)), ?, ?, ?, "
                "cast(cast(? as decimal(20, 4)) * 100000000 as decimal(20, 2)))",
                [row[0], city[1], city[2], city[5], *row[1:], row[12]],
            )
        con.execute(OTHER_MARTS)
    finally:
        con.close()
    return path


@pytest.fixture
def work_db(tmp_path: Path) -> Path:
    """A clean work database in this test's tmp folder."""
    return build_work_db(tmp_path / "work.duckdb")


@pytest.fixture
def plant(work_db: Path) -> Callable[[str], Path]:
    """Run SQL against the work database to plant bad data; returns the database path."""

    def _plant(sql: str) -> Path:
        con = duckdb.connect(str(work_db))
        try:
            con.execute(sql)
        finally:
            con.close()
        return work_db

    return _plant


def spec_of(*expectations: dict, id_columns: tuple[str, ...] = ()) -> SuiteSpec:
    """A suite of ``expectations`` for tests that need no file or query."""
    return SuiteSpec(
        name="t",
        path=Path("t.json"),
        batch_query="select 1",
        id_columns=id_columns,
        expectations=tuple(expectations),
        meta={},
    )


def exp(kind: str, **kwargs) -> dict:
    """One expectation of a suite file, as :func:`spec_of` takes it."""
    return {"type": kind, "kwargs": kwargs, "meta": {"severity": "error", "notes": "n"}}
