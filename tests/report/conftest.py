"""A hand-made published warehouse with figures chosen here, so tests know every answer.

The tables carry the published marts' columns and types (see ``_marts.yml``); the rows are a
two-city world (Hefei 合肥 and Wuxi 无锡; Beijing is in ``dim_city`` with no activity). A
smaller version 1 sits in ``published/versions/`` with a ``publish_log`` so the report has a
previous publish to compare against; the work database holds a gate run with one warning and
three quarantined rows (two from Hefei's file, one from a multi-city file).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from scenetrack.config import EXPECTATIONS_DIR, PROJECT_DIR, Paths

DDL = """
create table dim_city (city_code varchar, name_zh varchar, name_en varchar,
    province_zh varchar, province_en varchar, region varchar);
create table dim_domain (domain_code varchar, name_zh varchar, name_en varchar);
create table dim_technology (technology_code varchar, name_zh varchar, name_en varchar);
create table fct_project_lifecycle (
    project_key varchar, city_code varchar, project_id varchar, project_name varchar,
    domain_code varchar, technology_code varchar, demand_owner varchar, supplier varchar,
    opportunity_entered_on date, validation_entered_on date, application_entered_on date,
    scale_up_entered_on date, terminated_on date, current_stage varchar,
    current_stage_entered_on date, status varchar, cooperation_amount_yuan decimal(18, 2),
    cohort_year integer, cohort_date date, days_opportunity_to_validation integer,
    days_validation_to_application integer, days_application_to_scale_up integer,
    days_in_current_stage integer, is_stalled boolean, has_skipped_stage boolean,
    has_moved_backwards boolean, has_stage_date_regression boolean,
    has_corrected_report boolean, missing_opportunity boolean);
create table fct_stage_transitions (
    transition_key varchar, project_key varchar, city_code varchar, domain_code varchar,
    technology_code varchar, from_stage varchar, to_stage varchar, from_entered_on date,
    to_entered_on date, days_taken integer, skipped_stages boolean);
create table mart_city_scorecard (
    city_code varchar, city_name_zh varchar, city_name_en varchar, region varchar,
    period_type varchar, period_label varchar, period_start date,
    opportunities_published bigint, capabilities_published bigint,
    projects_reached_validation bigint, projects_reached_application bigint,
    projects_reached_scale_up bigint, projects_failed bigint, projects_withdrawn bigint,
    projects_stalled bigint, conversion_opportunity_to_validation double,
    conversion_validation_to_application double, conversion_application_to_scale_up double,
    cooperation_amount_yuan decimal(20, 2), cooperation_amount_yi decimal(20, 4),
    median_days_opportunity_to_validation double, median_days_validation_to_application double,
    median_days_application_to_scale_up double, p90_days_opportunity_to_validation double,
    p90_days_validation_to_application double, p90_days_application_to_scale_up double);
create table mart_stage_funnel (
    breakdown varchar, breakdown_value varchar, stage_code varchar, stage_order integer,
    projects_reached bigint, projects_failed_here bigint, projects_withdrawn_here bigint,
    conversion_from_previous_stage double, conversion_from_opportunity double);
create table mart_stalled_projects (
    project_key varchar, city_code varchar, city_name_zh varchar, city_name_en varchar,
    project_name varchar, domain_code varchar, technology_code varchar, demand_owner varchar,
    supplier varchar, current_stage varchar, current_stage_entered_on date,
    days_in_current_stage integer, stalled_after_days integer, reference_date date);
create table mart_supply_demand (
    city_code varchar, technology_code varchar, opportunities_published bigint,
    capabilities_published bigint, opportunities_matched bigint,
    share_opportunities_matched double, capabilities_per_opportunity double);
create table mart_stage_activity (
    period_type varchar, period_label varchar, period_start date, city_code varchar,
    domain_code varchar, technology_code varchar, stage_code varchar, stage_order integer,
    batch_code varchar, projects_entered bigint, projects_failed bigint,
    projects_withdrawn bigint, cooperation_amount_yuan decimal(20, 2),
    planned_investment_yuan decimal(20, 2));
create table mart_terminations (
    project_key varchar, city_code varchar, domain_code varchar, technology_code varchar,
    supplier varchar, stage_code varchar, status varchar, terminated_on date,
    reason_text varchar, reason_group varchar);
comment on column fct_project_lifecycle.project_key is 'city:project; identifies the project.';
comment on column mart_city_scorecard.cooperation_amount_yi is 'Cooperation amount in 亿元.';
"""

CITIES = [
    ("340100", "合肥", "Hefei", "安徽", "Anhui", "central"),
    ("320200", "无锡", "Wuxi", "江苏", "Jiangsu", "east"),
    ("110000", "北京", "Beijing", "北京", "Beijing", "east"),
]
DOMAINS = [("industry", "产业", "Industry"), ("city", "城市", "City")]
TECHS = [("ai", "人工智能", "Artificial intelligence"), ("drone", "低空经济", "Low-altitude")]

# fmt: off
# project_key, city, id, name, domain, tech, owner, supplier, opp, val, app, scale, ended,
# current, current_on, status, amount, cohort_year, cohort_date, d1, d2, d3, days_in, stalled
PROJECTS = [
    ("340100:P1", "340100", "P1", "智能工厂质检", "industry", "ai", "合肥市经信局", "科大讯飞",
     "2025-01-10", "2025-02-20", "2025-04-01", "2025-09-01", None, "scale_up", "2025-09-01",
     "active", "300000000.00", 2025, "2025-01-10", 41, 40, 153, 30, False),
    ("340100:P2", "340100", "P2", "无人机巡检", "industry", "ai", "合肥供电", None,
     "2025-02-01", "2025-03-15", None, None, "2025-06-01", "validation", "2025-03-15",
     "terminated_failed", None, 2025, "2025-02-01", 42, None, None, None, False),
    ("340100:P3", "340100", "P3", "城市大脑", "city", "drone", "合肥市数据局", None,
     "2025-03-01", None, None, None, None, "opportunity", "2025-03-01",
     "active", None, 2025, "2025-03-01", None, None, None, 275, True),
    ("320200:P1", "320200", "P1", "低空物流", "city", "drone", "无锡交通", "顺丰",
     "2025-01-05", "2025-02-01", "2025-03-01", None, None, "application", "2025-03-01",
     "active", "123456789.12", 2025, "2025-01-05", 27, 28, None, 276, False),
    ("320200:P2", "320200", "P2", "智慧水务", "industry", "ai", "无锡水务", None,
     "2025-04-01", None, None, None, "2025-05-01", "opportunity", "2025-04-01",
     "terminated_withdrawn", None, 2025, "2025-04-01", None, None, None, None, False),
]

# the opportunity-list batch and planned investment (预计投资) of the projects a list published
BATCHES = {
    "340100:P1": ("2025年第1批", "50000000.00"),
    "340100:P3": ("2025年第1批", "8000000.00"),
    "320200:P1": ("2025年第2批", None),
}

TRANSITIONS = [
    ("340100:P1", "340100", "industry", "ai", "opportunity", "validation", "2025-01-10",
     "2025-02-20", 41),
    ("340100:P1", "340100", "industry", "ai", "validation", "application", "2025-02-20",
     "2025-04-01", 40),
    ("340100:P1", "340100", "industry", "ai", "application", "scale_up", "2025-04-01",
     "2025-09-01", 153),
    ("340100:P2", "340100", "industry", "ai", "opportunity", "validation", "2025-02-01",
     "2025-03-15", 42),
    ("320200:P1", "320200", "city", "drone", "opportunity", "validation", "2025-01-05",
     "2025-02-01", 27),
    ("320200:P1", "320200", "city", "drone", "validation", "application", "2025-02-01",
     "2025-03-01", 28),
]

# city, zh, en, region, type, label, start, opp, cap, val, app, scale, failed, withdrawn,
# stalled, conv1, conv2, conv3, yuan, yi, med1, med2, med3, p1, p2, p3
SCORECARD = [
    ("340100", "合肥", "Hefei", "central", "all", "all", None, 3, 5, 2, 1, 1, 1, 0, 1,
     2 / 3, 0.5, 1.0, "300000000.00", "3.0000", 41.5, 40.0, 153.0, 41.9, 40.0, 153.0),
    ("320200", "无锡", "Wuxi", "east", "all", "all", None, 2, 4, 1, 1, 0, 0, 1, 0,
     0.5, 1.0, 0.0, "123456789.12", "1.2346", 27.0, 28.0, None, 27.0, 28.0, None),
    ("340100", "合肥", "Hefei", "central", "quarter", "2025-Q1", "2025-01-01", 3, 5, 2, 1, 1,
     1, 0, 1, 2 / 3, 0.5, 1.0, "300000000.00", "3.0000", 41.5, 40.0, 153.0, 41.9, 40.0, 153.0),
    ("320200", "无锡", "Wuxi", "east", "quarter", "2025-Q1", "2025-01-01", 1, 4, 1, 1, 0, 0, 0,
     0, 1.0, 1.0, 0.0, "123456789.12", "1.2346", 27.0, 28.0, None, 27.0, 28.0, None),
    ("320200", "无锡", "Wuxi", "east", "quarter", "2025-Q2", "2025-04-01", 1, 0, 0, 0, 0, 0, 1,
     0, 0.0, None, None, "0.00", "0.0000", None, None, None, None, None, None),
]


# fmt: on


def _funnel(breakdown: str, value: str, reached: list[int], failed=(0,) * 4, withdrawn=(0,) * 4):
    stages = ["opportunity", "validation", "application", "scale_up"]
    rows = []
    for i, s in enumerate(stages):
        prev = reached[i - 1] if i else None
        rows.append(
            (
                breakdown,
                value,
                s,
                i + 1,
                reached[i],
                failed[i],
                withdrawn[i],
                (reached[i] / prev if prev else None),
                (reached[i] / reached[0] if reached[0] else None),
            )
        )
    return rows


FUNNEL = (
    _funnel("national", "all", [5, 3, 2, 1], (0, 1, 0, 0), (1, 0, 0, 0))
    + _funnel("domain", "industry", [3, 2, 1, 1], (0, 1, 0, 0), (1, 0, 0, 0))
    + _funnel("domain", "city", [2, 1, 1, 0])
    + _funnel("city", "340100", [3, 2, 1, 1], (0, 1, 0, 0))
    + _funnel("city", "320200", [2, 1, 1, 0], withdrawn=(1, 0, 0, 0))
    + _funnel("cohort_quarter", "2025-Q1", [4, 3, 2, 1], (0, 1, 0, 0))
    + _funnel("cohort_quarter", "2025-Q2", [1, 0, 0, 0], withdrawn=(1, 0, 0, 0))
)

# fmt: off
STALLED = [
    ("340100:P3", "340100", "合肥", "Hefei", "城市大脑", "city", "drone", "合肥市数据局", None,
     "opportunity", "2025-03-01", 275, 90, "2025-12-01"),
]

SUPPLY = [
    ("340100", "ai", 2, 3, 2, 1.0, 1.5),
    ("340100", "drone", 1, 2, 0, 0.0, 2.0),
    ("320200", "drone", 1, 4, 1, 1.0, 4.0),
    ("320200", "ai", 1, 0, 0, 0.0, 0.0),
]
# fmt: on


# the reason each ended project's city wrote, and its group
TERMINATION_REASONS = {
    "340100:P2": ("验证失败：巡检识别率未达标", "technical"),
    "320200:P2": (None, "unstated"),
}


def activity_rows(projects: list[tuple]) -> list[tuple]:
    """mart_stage_activity of ``projects`` (year and quarter grain): each stage entry counted
    in the period of its date, each ending at the current stage in the period it ended."""
    from collections import Counter
    from datetime import date
    from decimal import Decimal

    stages = ["opportunity", "validation", "application", "scale_up"]
    acc: Counter = Counter()
    amounts: Counter = Counter()
    planned: Counter = Counter()
    for r in projects:
        city, domain, tech, status, amount = r[1], r[4], r[5], r[15], r[16]
        batch, planned_yuan = BATCHES.get(r[0], ("none", None))
        happenings = [(r[8 + i], s, "entered") for i, s in enumerate(stages) if r[8 + i]]
        if r[12]:
            happenings.append((r[12], r[13], status.removeprefix("terminated_")))
        for day, stage, what in happenings:
            d = date.fromisoformat(day)
            q = (d.month - 1) // 3
            for ptype, label, start in (
                ("year", str(d.year), date(d.year, 1, 1)),
                ("quarter", f"{d.year}-Q{q + 1}", date(d.year, 3 * q + 1, 1)),
            ):
                key = (ptype, label, start, city, domain, tech, stage, batch)
                acc[key, what] += 1
                if what == "entered" and amount:
                    amounts[key] += Decimal(amount)
                if what == "entered" and stage == "opportunity" and planned_yuan:
                    planned[key] += Decimal(planned_yuan)
    keys = sorted({k for k, _ in acc})
    return [
        (
            *k[:7],
            stages.index(k[6]) + 1,
            k[7],
            acc[k, "entered"],
            acc[k, "failed"],
            acc[k, "withdrawn"],
            amounts[k],
            planned[k],
        )
        for k in keys
    ]


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"insert into {table} values ({marks})", [list(r) for r in rows])


def make_published(path: Path, version: int, gate_run_id: str, previous: bool = False) -> None:
    """Write one published file; ``previous`` is the smaller version 1 (Hefei only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    try:
        con.execute(DDL)
        keep_city = (lambda c: c == "340100") if previous else (lambda c: True)
        _insert(con, "dim_city", CITIES)
        _insert(con, "dim_domain", DOMAINS)
        _insert(con, "dim_technology", TECHS)
        _insert(
            con,
            "fct_project_lifecycle",
            [(*r, False, False, False, False, False) for r in PROJECTS if keep_city(r[1])],
        )
        _insert(
            con,
            "fct_stage_transitions",
            [(f"{r[0]}:{r[4]}>{r[5]}", *r, False) for r in TRANSITIONS if keep_city(r[1])],
        )
        _insert(con, "mart_city_scorecard", [r for r in SCORECARD if keep_city(r[0])])
        funnel = FUNNEL
        if previous:
            funnel = [
                (r if r[0] != "national" else (*r[:4], [3, 2, 1, 1][r[3] - 1], *r[5:]))
                for r in FUNNEL
                if not (r[0] == "city" and r[1] == "320200")
            ]
        _insert(con, "mart_stage_funnel", funnel)
        _insert(con, "mart_stalled_projects", STALLED)
        _insert(
            con,
            "mart_terminations",
            [
                (r[0], r[1], r[4], r[5], r[7], r[13], r[15], r[12], *TERMINATION_REASONS[r[0]])
                for r in PROJECTS
                if r[15] != "active" and keep_city(r[1])
            ],
        )
        _insert(
            con,
            "mart_stage_activity",
            activity_rows([r for r in PROJECTS if keep_city(r[1])]),
        )
        _insert(con, "mart_supply_demand", [r for r in SUPPLY if keep_city(r[0])])
        con.execute(
            "create table publish_info as select ? as version, "
            "cast(? as timestamp) as published_at, ? as gate_run_id",
            [version, f"2025-12-0{version} 08:00:00", gate_run_id],
        )
        con.execute("checkpoint")
    finally:
        con.close()


def freshness_meta() -> dict[str, str]:
    """The freshness warning's meta as the suite file states it (its notes in both languages)."""
    suite = json.loads((EXPECTATIONS_DIR / "source_freshness.json").read_text(encoding="utf-8"))
    return next(
        e["meta"] for e in suite["expectations"] if e["kwargs"].get("column") == "last_reported_on"
    )


def make_work_db(p: Paths, gate_run_id: str) -> None:
    """A work DB with one gate run (one warning) and three quarantined rows."""
    from scenetrack.gate import GATE_RESULTS_DDL
    from scenetrack.warehouse import RAW_DDL

    con = duckdb.connect(str(p.work_db))
    try:
        con.execute(RAW_DDL)
        con.execute(GATE_RESULTS_DDL)
        con.executemany(
            "insert into audit.gate_results (run_id, run_at, suite, expectation, column_name, "
            "severity, success, observed_value, unexpected_count, unexpected_sample, notes) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    gate_run_id,
                    "2025-12-02 07:59:00",
                    "fct_project_lifecycle",
                    "expect_column_values_to_not_be_null",
                    "project_key",
                    "error",
                    True,
                    None,
                    0,
                    None,
                    "keys",
                ],
                [
                    gate_run_id,
                    "2025-12-02 07:59:00",
                    "source_freshness",
                    "expect_column_values_to_be_between",
                    "last_reported_on",
                    "warn",
                    False,
                    "1 of 2 rows unexpected",
                    1,
                    None,
                    freshness_meta()["notes"],
                ],
                [
                    "older-run",
                    "2025-11-01 07:59:00",
                    "fct_project_lifecycle",
                    "expect_column_values_to_not_be_null",
                    "project_key",
                    "error",
                    False,
                    None,
                    3,
                    None,
                    "keys",
                ],
            ],
        )
        # what the gate's freshness query reads: Hefei reported 11 days before the as-of
        # date (2025-12-01), Wuxi 183 days before (stale)
        con.execute(
            "create schema staging; create table staging.stg_raw__events as "
            "select * from (values ('340100', date '2025-11-20'), ('320200', date '2025-06-01')) "
            "as t(city_code, reported_at)"
        )
        now = "2025-12-02 07:00:00"
        con.executemany(
            "insert into raw.events (source_file_sha256, source_file_name, source_line, "
            "city_code, project_id, stage_code, event_type, event_date, event_date_precision, "
            "loaded_at) values (?, ?, ?, ?, 'P1', 'opportunity', 'entered', '2025-01-10', "
            "'day', ?)",
            [
                ["sha-hefei", "events_340100.csv", 2, "340100", now],
                ["sha-mixed", "events_mixed.csv", 2, "340100", now],
                ["sha-mixed", "events_mixed.csv", 3, "320200", now],
            ],
        )
        con.executemany(
            "insert into raw.quarantine (source_file_sha256, source_file_name, layout, "
            "source_line, column_name, raw_value, reason, quarantined_at) "
            "values (?, ?, 'events', ?, 'event_date', 'soon', 'bad_date', ?)",
            [
                ["sha-hefei", "events_340100.csv", 3, now],
                ["sha-hefei", "events_340100.csv", 4, now],
                ["sha-mixed", "events_mixed.csv", 4, now],
            ],
        )
        con.execute("checkpoint")
    finally:
        con.close()


@pytest.fixture(scope="session")
def _published_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once per session; every test gets its own copy (tests may change their home)."""
    p = Paths(tmp_path_factory.mktemp("report-template") / "home").ensure()
    make_published(p.published_dir / "versions" / "v0001.duckdb", 1, "run-1", previous=True)
    make_published(p.published_dir / "versions" / "v0002.duckdb", 2, "run-2")
    p.published_db.hardlink_to(p.published_dir / "versions" / "v0002.duckdb")
    with (p.published_dir / "publish_log.jsonl").open("w", encoding="utf-8") as f:
        for v in (1, 2):
            rec = {
                "version": v,
                "action": "publish",
                "published_at": f"2025-12-0{v}T08:00:00+00:00",
                "by": "test",
                "gate_run_id": f"run-{v}",
                "tables": {},
            }
            f.write(json.dumps(rec) + "\n")
    make_work_db(p, "run-2")
    docs = p.gate_dir / "data_docs"
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "index.html").write_text("<html><body>Data Docs</body></html>", encoding="utf-8")
    return p.home


@pytest.fixture
def published_home(_published_template: Path, tmp_path: Path) -> Paths:
    """A home with published v2 (current), kept v1, a publish log, a work DB and Data Docs."""
    home = tmp_path / "home"
    shutil.copytree(_published_template, home)
    return Paths(home)


@pytest.fixture(scope="session")
def built_report(_published_template: Path, tmp_path_factory: pytest.TempPathFactory):
    """One home with the report built in both languages, shared by tests that only read it."""
    from scenetrack.report import build_evaluator_outputs

    home = tmp_path_factory.mktemp("report-built") / "home"
    shutil.copytree(_published_template, home)
    p = Paths(home)
    out = build_evaluator_outputs(p, dbt_docs=False)
    return p, out.reports


def start_writer(db: Path, then: str = "") -> subprocess.Popen:
    """Another process that opens ``db`` for writing and holds it until a line arrives on its
    stdin; it then runs the statement ``then`` (if any) and prints "wrote"."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import duckdb, sys
                con = duckdb.connect({str(db)!r})
                print("ready", flush=True)
                sys.stdin.readline()
                if {then!r}:
                    con.execute({then!r})
                print("wrote", flush=True)
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "ready"
    return holder


CHROMIUM = "/usr/bin/chromium"
# This machine's closed network refuses Chromium's background connections; keep it quiet.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    if shutil.which("chromium") is None or not Path(CHROMIUM).exists():
        script = PROJECT_DIR / "scripts" / "install_chromium.sh"
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
        if proc.returncode != 0 or not Path(CHROMIUM).exists():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
            pytest.skip(
                f"chromium is not installed and {script.name} could not install it:\n{tail}"
            )
    return CHROMIUM
