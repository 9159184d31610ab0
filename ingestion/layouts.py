"""Submission layouts: which columns a file carries and how each one is normalised.

A layout is recognised from the header (see :mod:`ingestion.headers`, which maps the English
or Chinese header names of ``header_aliases.csv`` onto these canonical column names). Each
column has a *kind* that decides its SQL normalisation (see :mod:`ingestion.normalise`) and
whether a missing value quarantines the row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of a layout: canonical name, normalisation kind, required or not."""

    name: str
    # text | city | stage | event_type | end_type | domain | technology | date | amount |
    # planned_amount | batch (domain and technology are descriptive: kept as written)
    kind: str
    required: bool = False
    target: str | None = None  # name in the raw table when it differs from ``name``


@dataclass(frozen=True)
class Layout:
    """A recognised submission layout and the raw table it loads into.

    ``required_any``: the header must carry at least one of these columns and every row must
    fill at least one of them (a register row needs at least one stage date).
    ``inferred``: required columns the header need not carry, because the file's context gives
    them (the city from the title rows, the submission channel or ``--city``; a publication
    date from the title or ``--published-on``) or the row derives them (a list's id from the
    city and the name): see :mod:`ingestion.context`.
    ``excludes``: columns of other layouts whose presence in the header means the file is not
    this layout (a published list names no lifecycle stage, event or cooperation amount).
    """

    name: str
    table: str
    columns: tuple[Column, ...]
    required_any: tuple[str, ...] = ()
    title_zh: str = ""
    title_en: str = ""
    inferred: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    derived_id: tuple[str, ...] = ()  # (id column, name columns...) of a published list
    fixed: tuple[tuple[str, str], ...] = ()  # raw column -> constant (a list's stage and event)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def required_in_header(self) -> tuple[str, ...]:
        """Required columns the header itself must carry (not inferred from the context)."""
        return tuple(c for c in self.required if c not in self.inferred)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


# Who and what a project is: shared by every layout that reports projects (events, register).
# Domain and technology are descriptive: kept as written in raw (``*_raw``) and mapped to codes
# in dbt staging from the alias seeds; a wording no alias knows loads as ``unclassified``.
PROJECT_COLUMNS: tuple[Column, ...] = (
    Column("city", "city", required=True, target="city_code"),
    Column("project_id", "text", required=True),
    Column("project_name", "text"),
    Column("domain", "domain", target="domain_raw"),
    Column("technology", "technology", target="technology_raw"),
    Column("demand_owner", "text"),
    Column("supplier", "text"),
)

EVENTS = Layout(
    name="events",
    table="raw.events",
    title_zh="事件明细",
    title_en="one row per lifecycle event (canonical)",
    inferred=("city",),
    columns=(
        *PROJECT_COLUMNS,
        Column("stage", "stage", required=True, target="stage_code"),
        Column("event_type", "event_type", required=True),
        Column("event_date", "date", required=True),
        Column("amount", "amount", target="amount_yuan"),
        Column("reported_at", "date"),
    ),
)

# Stage-date columns of a register (台账), in lifecycle order (column name, stage code).
REGISTER_STAGE_DATES: tuple[tuple[str, str], ...] = (
    ("opportunity_date", "opportunity"),
    ("validation_date", "validation"),
    ("application_date", "application"),
    ("scale_up_date", "scale_up"),
)

REGISTER = Layout(
    name="register",
    table="raw.events",
    title_zh="项目台账",
    title_en="one row per project with a date column per stage; turned into events",
    required_any=tuple(c for c, _ in REGISTER_STAGE_DATES),
    inferred=("city",),
    columns=(
        *PROJECT_COLUMNS,
        *(Column(c, "date") for c, _ in REGISTER_STAGE_DATES),
        Column("end_date", "date"),
        Column("end_type", "end_type"),
        Column("end_reason", "text"),
        Column("amount", "amount", target="amount_yuan"),
        Column("reported_at", "date"),
    ),
)

# A city's published scene-opportunity list (场景机会清单): one published need a row, each an
# ``opportunity`` enter event. The city, the publication date and the batch are often only in
# the title rows (ingestion.context); without a scene number the project id is derived from
# the city and the scene name (ingestion.normalise.derived_id). Planned investment (预计投资)
# is not the cooperation amount and is kept apart from it.
OPPORTUNITIES = Layout(
    name="opportunities",
    table="raw.events",
    title_zh="场景机会清单",
    title_en="a city's published scene-opportunity list: one opportunity a row",
    required_any=("project_id", "project_name"),
    inferred=("city", "published_date"),
    excludes=(
        "stage",
        "event_type",
        "validation_date",
        "application_date",
        "scale_up_date",
        "end_date",
        "end_type",
        "end_reason",
        "amount",
        "capability_id",
        "title",
    ),
    derived_id=("project_id", "project_name"),
    fixed=(("stage_code", "opportunity"), ("event_type", "enter")),
    columns=(
        Column("city", "city", required=True, target="city_code"),
        Column("project_id", "text"),
        Column("project_name", "text"),
        Column("domain", "domain", target="domain_raw"),
        Column("technology", "technology", target="technology_raw"),
        Column("demand_owner", "text"),
        Column("description", "text"),
        Column("planned_investment", "planned_amount", target="planned_investment_yuan"),
        Column("batch", "batch"),
        Column("published_date", "date", required=True, target="event_date"),
        Column("reported_at", "date"),
    ),
)

# Supplier capabilities: the canonical list (城市, 能力编号, 发布日期 …) and a city's published
# capability list (能力清单: 企业名称, 能力名称, 技术领域, 能力简介 …), with the same inference of
# city, date and id as an opportunity list.
CAPABILITIES = Layout(
    name="capabilities",
    table="raw.capabilities",
    title_zh="场景能力清单",
    title_en="supplier capability list (also a city's published 能力清单)",
    required_any=("capability_id", "title"),
    inferred=("city", "published_date"),
    derived_id=("capability_id", "supplier", "title"),
    columns=(
        Column("city", "city", required=True, target="city_code"),
        Column("capability_id", "text"),
        Column("supplier", "text"),
        Column("technology", "technology", target="technology_raw"),
        Column("domain", "domain", target="domain_raw"),
        Column("title", "text"),
        Column("description", "text"),
        Column("batch", "batch"),
        Column("published_date", "date", required=True, target="published_on"),
        Column("reported_at", "date"),
    ),
)

# Tried in this order: the first layout whose required columns the header carries (and none
# of the columns it excludes) wins.
LAYOUTS: tuple[Layout, ...] = (EVENTS, OPPORTUNITIES, REGISTER, CAPABILITIES)
