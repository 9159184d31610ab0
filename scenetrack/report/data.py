"""What the report shows, read from the published warehouse (read-only) and nothing else.

Every figure is a mart value or a plain count/sum of mart rows; nothing is recomputed from
events. The one exception is the data-quality panel: the gate's audit table and the quarantine
live only in the work database. :func:`read_quality` reads them (read-only; "unavailable" when
a writer holds it); the Airflow DAG calls it in its pooled task and hands the small result to
the rendering task, which then never opens the work database (see ``scenetrack.report``).

Each connection is opened, read and closed in one function: a BI tool or the next publish is
never kept waiting, and every figure of one build comes from one version of the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from scenetrack.config import Paths
from scenetrack.publish import publish_log

Row = dict[str, Any]

UNMAPPED_ROWS = 200
"""Unclassified wordings the quality panel lists (most rows first; all: scenetrack status)."""

LEADERBOARD_COLUMNS = (
    "opportunities_published",
    "capabilities_published",
    "projects_reached_validation",
    "projects_reached_application",
    "projects_reached_scale_up",
    "projects_failed",
    "projects_withdrawn",
    "projects_stalled",
    "conversion_opportunity_to_validation",
    "conversion_validation_to_application",
    "conversion_application_to_scale_up",
    "cooperation_amount_yi",
    "median_days_opportunity_to_validation",
    "median_days_validation_to_application",
    "median_days_application_to_scale_up",
)


@dataclass
class Overview:
    """The headline figures of one published version (also read from the previous one)."""

    version: int | None
    published_at: Any
    gate_run_id: str | None
    cities_active: int
    projects_total: int
    cooperation_amount_yuan: float
    projects_failed: int
    projects_withdrawn: int
    projects_stalled: int
    reached: dict[str, int]  # stage -> projects that reached it (national funnel)
    active_in_stage: dict[str, int]  # stage -> active projects currently there

    @property
    def cooperation_amount_yi(self) -> float:
        return self.cooperation_amount_yuan / 100_000_000


@dataclass
class Quality:
    """The data-quality panel: last gate run, its failed checks, quarantine per city."""

    available: bool
    reason: str | None = None
    gate: dict | None = None
    problems: list[Row] = field(default_factory=list)  # failed checks of the last run
    quarantine: list[Row] = field(default_factory=list)  # city_code, files, rows_quarantined
    quarantine_total: int = 0
    held: list[Row] = field(default_factory=list)  # submissions held back (scenetrack.holdback)
    # per city, the date of its newest report (the gate's freshness query)
    last_reports: list[Row] = field(default_factory=list)
    # wordings loaded as unclassified (int_values_left_unclassified): city, column, value, rows
    unmapped: list[Row] = field(default_factory=list)

    def to_json(self) -> dict:
        """Plain JSON (str, int, bool, None): how the pooled Airflow task hands it on (XCom)."""
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_json(cls, d: dict) -> Quality:
        return cls(**d)


@dataclass
class ReportData:
    overview: Overview
    previous: Overview | None
    cities: dict[str, Row]  # city_code -> dim_city row
    domains: dict[str, Row]
    technologies: dict[str, Row]
    leaderboard: list[Row]  # mart_city_scorecard, period all
    funnel: list[Row]  # mart_stage_funnel (all breakdowns)
    quarterly: list[Row]  # mart_city_scorecard, period quarter
    transitions: list[Row]  # fct_stage_transitions (city, from, to, days, skipped)
    stalled: list[Row]  # mart_stalled_projects, most overdue first
    terminated: list[Row]  # fct_project_lifecycle rows that failed or were withdrawn
    supply_demand: list[Row]  # mart_supply_demand
    reference_date: Any
    quality: Quality
    # mart_stage_activity at year and quarter grain, with the city's region and province
    # (empty when the published version predates the mart)
    activity: list[Row] = field(default_factory=list)
    # days from publication to each later stage among projects that reached it: p90 (the
    # cohort maturity rule) by stage
    maturity_days: dict[str, float] = field(default_factory=dict)
    top_suppliers: list[Row] = field(default_factory=list)  # suppliers by projects applied
    top_demand_owners: list[Row] = field(default_factory=list)  # demand owners, likewise
    # mart_terminations per reason group: failed, withdrawn, all
    reason_groups: list[Row] = field(default_factory=list)
    # each city's projects (at most CITY_PROJECT_ROWS, latest move first), for the drill-down
    projects: list[Row] = field(default_factory=list)
    batches: list[Row] = field(default_factory=list)  # mart_opportunity_batches
    _groups: dict[str, dict[str, list[Row]]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _grouped(self, name: str, rows: list[Row], key: str) -> dict[str, list[Row]]:
        """``rows`` grouped by ``row[key]`` in their order, computed once per report: filtering
        the whole list for every city page cost O(cities × rows) at 1M events."""
        if name not in self._groups:
            index: dict[str, list[Row]] = {}
            for r in rows:
                index.setdefault(r[key], []).append(r)
            self._groups[name] = index
        return self._groups[name]

    def of_city(self, rows_name: str, code: str) -> list[Row]:
        """The rows of list ``rows_name`` (e.g. ``"stalled"``) that belong to city ``code``."""
        return self._grouped(rows_name, getattr(self, rows_name), "city_code").get(code, [])

    def funnel_by(self, breakdown: str) -> dict[str, list[Row]]:
        """Funnel rows of one breakdown (national, domain, city, …) by breakdown value."""
        rows = [r for r in self.funnel if r["breakdown"] == breakdown]
        return self._grouped(f"funnel:{breakdown}", rows, "breakdown_value")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[Row]:
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _overview(con: duckdb.DuckDBPyConnection) -> Overview:
    info = _rows(con, "select version, published_at, gate_run_id from main.publish_info")
    info_row = info[0] if info else {"version": None, "published_at": None, "gate_run_id": None}
    totals = con.execute(
        "select count(*), coalesce(sum(cooperation_amount_yuan), 0), "
        "coalesce(sum(projects_failed), 0), coalesce(sum(projects_withdrawn), 0) "
        "from main.mart_city_scorecard where period_type = 'all'"
    ).fetchone()
    projects = con.execute("select count(*) from main.fct_project_lifecycle").fetchone()[0]
    stalled = con.execute("select count(*) from main.mart_stalled_projects").fetchone()[0]
    reached = {
        s: int(n)
        for s, n in con.execute(
            "select stage_code, projects_reached from main.mart_stage_funnel "
            "where breakdown = 'national' order by stage_order"
        ).fetchall()
    }
    active = {
        s: int(n)
        for s, n in con.execute(
            "select current_stage, count(*) from main.fct_project_lifecycle "
            "where status = 'active' group by current_stage"
        ).fetchall()
    }
    return Overview(
        version=info_row["version"],
        published_at=info_row["published_at"],
        gate_run_id=info_row["gate_run_id"],
        cities_active=int(totals[0]),
        projects_total=int(projects),
        cooperation_amount_yuan=float(totals[1]),
        projects_failed=int(totals[2]),
        projects_withdrawn=int(totals[3]),
        projects_stalled=int(stalled),
        reached=reached,
        active_in_stage=active,
    )


def previous_version_file(p: Paths, current_version: int | None) -> tuple[int, Path] | None:
    """The kept file of the version published before the current one, if any is kept.

    Walks ``publish_log`` back from the newest entry and takes the first version that differs
    from the current one and whose file is still in ``published/versions/``.
    """
    for rec in reversed(publish_log(p)):
        if rec.version == current_version:
            continue
        f = p.published_dir / "versions" / f"v{rec.version:04d}.duckdb"
        if f.exists():
            return rec.version, f
    return None


def read_previous(p: Paths, current_version: int | None) -> Overview | None:
    """Headline figures of the previous version (None if none is kept or it cannot be read)."""
    found = previous_version_file(p, current_version)
    if found is None:
        return None
    version, f = found
    try:
        con = duckdb.connect(str(f), read_only=True)
    except duckdb.Error:
        return None
    try:
        ov = _overview(con)
    except duckdb.Error:  # an older layout of the marts: nothing comparable
        return None
    finally:
        con.close()
    if ov.version is None:
        ov.version = version
    return ov


def read_quality(p: Paths, postgres: bool = True) -> Quality:
    """Gate outcome, its failed checks and quarantined rows per city, from the work DB.

    Opened read-only; if a writer holds the database (DuckDB allows one writer process and
    then refuses other openers) or it does not exist, the panel says so instead of waiting.
    """
    from scenetrack.config import warehouse_target
    from scenetrack.gate import last_gate_outcome

    if postgres and (pg := warehouse_target()) is not None:  # gate results live there
        from scenetrack.postgres.report import read_quality_pg

        return read_quality_pg(pg, read_quality(p, postgres=False))
    if not p.work_db.exists():
        return Quality(available=False, reason=f"{p.work_db} does not exist")
    try:
        gate = last_gate_outcome(p.work_db)
        con = duckdb.connect(str(p.work_db), read_only=True)
    except duckdb.Error as exc:
        return Quality(available=False, reason=str(exc).splitlines()[0])
    try:
        q = Quality(available=True, gate=gate)
        tables = {
            (s, t)
            for s, t in con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where schema_name in ('audit', 'raw', 'intermediate')"
            ).fetchall()
        }
        if gate and ("audit", "gate_results") in tables:
            q.problems = _rows(
                con,
                "select severity, suite, expectation, column_name, observed_value, "
                "unexpected_count, notes from audit.gate_results "
                "where run_id = ? and not success "
                "order by severity = 'warn', suite, expectation, column_name",
                [gate["run_id"]],
            )
        if ("raw", "quarantine") in tables:
            q.quarantine, q.quarantine_total = _quarantine_by_city(con, tables)
        q.last_reports = _last_reports(con)
        if ("intermediate", "int_values_left_unclassified") in tables:
            q.unmapped = _rows(
                con,
                "select city_code, column_name, value_text, cast(sum(row_count) as bigint) "
                "as row_count from intermediate.int_values_left_unclassified "
                "group by all order by row_count desc, city_code, column_name, value_text "
                f"limit {UNMAPPED_ROWS}",
            )
        if ("raw", "file_holds") in tables:
            from scenetrack import holdback

            q.held = [{**h.to_dict(), "checks": "; ".join(h.checks)} for h in holdback.active(con)]
    except duckdb.Error as exc:
        return Quality(available=False, reason=str(exc).splitlines()[0])
    finally:
        con.close()
    return q


def _last_reports(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """Each city's newest report date, by the gate's own freshness query (one rule)."""
    from scenetrack.gate import load_suite_specs

    spec = next(s for s in load_suite_specs() if s.name == "source_freshness")
    try:
        rows = _rows(
            con,
            f"select city_code, last_reported_on from ({spec.batch_query}) "
            "order by last_reported_on, city_code",
        )
    except duckdb.CatalogException:  # nothing staged yet
        return []
    # plain JSON (the panel travels as an XCom): ISO dates
    return [{**r, "last_reported_on": str(r["last_reported_on"])} for r in rows]


def _quarantine_by_city(con: duckdb.DuckDBPyConnection, tables: set) -> tuple[list[Row], int]:
    """Quarantined rows per city: a file's rows go to the one city its loaded rows belong to.

    ``raw.quarantine`` keeps the file, line and raw value but not the city (the city may be the
    unreadable value). Cities send one file each, so the city of a file is the city of the rows
    that loaded from it; a file with several cities or no loaded row is "unattributed" (NULL).
    """
    sources = []
    for schema, table in sorted(tables):
        if schema != "raw" or table == "quarantine":
            continue
        cols = {
            c
            for (c,) in con.execute(
                "select column_name from duckdb_columns() where schema_name = 'raw' "
                "and table_name = ?",
                [table],
            ).fetchall()
        }
        if {"source_file_sha256", "city_code"} <= cols:
            sources.append(f"select distinct source_file_sha256, city_code from raw.{table}")
    file_city = (
        "select source_file_sha256, "
        "case when count(distinct city_code) = 1 then min(city_code) end as city_code "
        "from (" + " union ".join(sources) + ") group by source_file_sha256"
        if sources
        else "select null::varchar as source_file_sha256, null::varchar as city_code"
    )
    rows = _rows(
        con,
        f"""
        with q as (
            -- a row is listed once per failing column and reason: count its lines
            select source_file_sha256, count(distinct source_line) as n
            from raw.quarantine group by 1
        ),
        fc as ({file_city})
        select fc.city_code, count(*) as files, sum(q.n) as rows_quarantined
        from q left join fc using (source_file_sha256)
        group by fc.city_code
        order by rows_quarantined desc, fc.city_code nulls last
        """,
    )
    for r in rows:
        r["files"] = int(r["files"])
        r["rows_quarantined"] = int(r["rows_quarantined"])
    return rows, sum(r["rows_quarantined"] for r in rows)


CITY_PROJECT_ROWS = 100
"""Projects listed on a city page (latest move first); the rest are in fct_project_lifecycle.
As many as the watchlists (build.CITY_WATCHLIST_ROWS): 500 made the 1M-event report 466 MB
and 163 s, against 115 MB and 57-80 s before the list existed."""

TOP_SUPPLIERS = 20
"""Suppliers listed on the national page (most projects reaching application first)."""


def _top_by(con: duckdb.DuckDBPyConnection, column: str) -> list[Row]:
    """The :data:`TOP_SUPPLIERS` values of ``column`` (supplier, demand_owner) with the most
    projects reaching application (then the most money): projects, cities, amount."""
    return _rows(
        con,
        f"select {column} as name, count(application_entered_on) as projects_reached_application, "
        "count(*) as projects, count(distinct city_code) as cities, "
        "coalesce(sum(cooperation_amount_yuan), 0) as cooperation_amount_yuan "
        f"from main.fct_project_lifecycle where {column} is not null "
        "group by 1 order by projects_reached_application desc, "
        "cooperation_amount_yuan desc, name limit ?",
        [TOP_SUPPLIERS],
    )


def _has_table(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = ?",
            [table],
        ).fetchone()[0]
    )


def _activity(con: duckdb.DuckDBPyConnection) -> list[Row]:
    """``mart_stage_activity`` (year and quarter rows) summed per province (with its region),
    domain, technology and stage: the dimensions the report's filters slice by, at the
    coarsest grain they need (the page embeds these rows). A dimension the mart gains (the
    opportunity-list batch) is kept as a key, so it reaches the filters unchanged; the planned
    investment the lists stated rides on the opportunity rows."""
    if not _has_table(con, "mart_stage_activity"):
        return []
    mart_cols = {
        r[0]
        for r in con.execute(
            "select column_name from duckdb_columns() where schema_name = 'main' "
            "and table_name = 'mart_stage_activity'"
        ).fetchall()
    }
    extra = [d for d in ("batch_code",) if d in mart_cols]
    planned = (
        "sum(a.planned_investment_yuan)"
        if "planned_investment_yuan" in mart_cols
        else "cast(0 as decimal(20, 2))"  # a version published before the lists carried it
    )
    keys = ", ".join(
        [
            "a.period_type",
            "a.period_label",
            "a.period_start",
            "c.region",
            "c.province_zh",
            "a.domain_code",
            "a.technology_code",
            "a.stage_code",
            "a.stage_order",
        ]
        + [f"a.{d}" for d in extra]
    )
    return _rows(
        con,
        f"select {keys}, sum(a.projects_entered) as projects_entered, "
        "sum(a.projects_failed) as projects_failed, "
        "sum(a.projects_withdrawn) as projects_withdrawn, "
        "sum(a.cooperation_amount_yuan) as cooperation_amount_yuan, "
        f"{planned} as planned_investment_yuan "
        "from main.mart_stage_activity as a left join main.dim_city as c using (city_code) "
        f"where a.period_type in ('year', 'quarter') group by {keys} "
        "order by a.period_type, a.period_start, c.province_zh, a.domain_code, "
        "a.technology_code, a.stage_order",
    )


def _maturity_days(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """p90 of the days from publication to each later stage, among projects that reached it:
    a cohort younger than that has not had the time most projects need (maturity rule)."""
    stages = ("validation", "application", "scale_up")
    cols = ", ".join(
        f"quantile_cont(datediff('day', opportunity_entered_on, {s}_entered_on), 0.9)"
        for s in stages
    )
    row = con.execute(f"select {cols} from main.fct_project_lifecycle").fetchone()
    return {s: float(v) for s, v in zip(stages, row, strict=True) if v is not None}


def read_report_data(
    p: Paths, with_quality: bool = True, quality: Quality | None = None, db: Path | None = None
) -> ReportData:
    """Everything the report shows, from the published file, in one read-only session.

    ``quality``: the data-quality panel as read earlier by whoever held the work database
    (the pooled Airflow task); given, the work database is not opened at all. Otherwise it is
    read here (read-only, "unavailable" if a writer holds it), unless ``with_quality`` is off.
    """
    if db is None:
        from scenetrack.config import warehouse_target

        if (pg := warehouse_target()) is not None:  # one consistent copy of `published`
            from scenetrack.postgres.report import snapshot_published

            db = snapshot_published(p, pg)
    db = db or p.published_db
    if not db.exists():
        raise RuntimeError(f"nothing is published yet ({db} does not exist)")
    con = duckdb.connect(str(db), read_only=True)
    try:
        overview = _overview(con)
        cities = {r["city_code"]: r for r in _rows(con, "select * from main.dim_city")}
        domains = {r["domain_code"]: r for r in _rows(con, "select * from main.dim_domain")}
        techs = {r["technology_code"]: r for r in _rows(con, "select * from main.dim_technology")}
        leaderboard = _rows(
            con,
            "select city_code, city_name_zh, city_name_en, region, "
            + ", ".join(LEADERBOARD_COLUMNS)
            + ", cooperation_amount_yuan from main.mart_city_scorecard "
            "where period_type = 'all' "
            "order by projects_reached_application desc, cooperation_amount_yuan desc, city_code",
        )
        funnel = _rows(
            con,
            "select * from main.mart_stage_funnel order by breakdown, breakdown_value, stage_order",
        )
        quarterly = _rows(
            con,
            "select * from main.mart_city_scorecard where period_type = 'quarter' "
            "order by city_code, period_start, period_label",
        )
        transitions = _rows(
            con,
            "select city_code, from_stage, to_stage, days_taken, skipped_stages "
            "from main.fct_stage_transitions where days_taken is not null "
            "order by city_code, from_stage, to_stage, transition_key",
        )
        stalled = _rows(
            con,
            "select *, days_in_current_stage - stalled_after_days as days_overdue "
            "from main.mart_stalled_projects "
            "order by days_overdue desc, days_in_current_stage desc, project_key",
        )
        reasons = _has_table(con, "mart_terminations")
        terminated = _rows(
            con,
            "select f.project_key, f.city_code, f.project_name, f.domain_code, "
            "f.technology_code, f.demand_owner, f.supplier, f.current_stage, f.status, "
            "f.terminated_on, "
            + (
                "t.reason_text, t.reason_group from main.fct_project_lifecycle as f "
                "left join main.mart_terminations as t using (project_key) "
                if reasons
                else "null as reason_text, null as reason_group "
                "from main.fct_project_lifecycle as f "
            )
            + "where f.status <> 'active' order by f.terminated_on desc nulls last, f.project_key",
        )
        reason_groups = (
            _rows(
                con,
                "select reason_group, count(*) filter (where status = 'terminated_failed') "
                "as projects_failed, count(*) filter (where status = 'terminated_withdrawn') "
                "as projects_withdrawn, count(*) as projects "
                "from main.mart_terminations group by 1 order by projects desc, 1",
            )
            if reasons
            else []
        )
        supply_demand = _rows(
            con,
            "select * from main.mart_supply_demand "
            "order by city_code, opportunities_published desc, technology_code",
        )
        ref = con.execute("select max(reference_date) from main.mart_stalled_projects").fetchone()
        activity = _activity(con)
        projects = _rows(
            con,
            "select * exclude (rn) from (select project_key, city_code, project_name, "
            "domain_code, technology_code, supplier, current_stage, status, "
            "opportunity_entered_on, validation_entered_on, application_entered_on, "
            "scale_up_entered_on, current_stage_entered_on, cooperation_amount_yuan, "
            "row_number() over (partition by city_code order by current_stage_entered_on "
            "desc nulls last, project_key) as rn from main.fct_project_lifecycle) "
            "where rn <= ? order by city_code, rn",
            [CITY_PROJECT_ROWS],
        )
        maturity = _maturity_days(con)
        suppliers = _top_by(con, "supplier")
        owners = _top_by(con, "demand_owner")
        try:
            batches = _rows(
                con,
                "select * from main.mart_opportunity_batches "
                "order by city_code, first_published_on, opportunity_batch",
            )
        except duckdb.CatalogException:  # a version published before the batches mart
            batches = []
    finally:
        con.close()
    return ReportData(
        overview=overview,
        previous=read_previous(p, overview.version),
        cities=cities,
        domains=domains,
        technologies=techs,
        leaderboard=leaderboard,
        funnel=funnel,
        quarterly=quarterly,
        transitions=transitions,
        stalled=stalled,
        terminated=terminated,
        supply_demand=supply_demand,
        reference_date=ref[0] if ref else None,
        activity=activity,
        maturity_days=maturity,
        top_suppliers=suppliers,
        top_demand_owners=owners,
        projects=projects,
        reason_groups=reason_groups,
        batches=batches,
        quality=quality
        if quality is not None
        else (read_quality(p) if with_quality else Quality(False, "not read")),
    )
