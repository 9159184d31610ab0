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
    kind: str  # text | city | stage | event_type | end_type | domain | technology | date | amount
    required: bool = False
    target: str | None = None  # name in the raw table when it differs from ``name``


@dataclass(frozen=True)
class Layout:
    """A recognised submission layout and the raw table it loads into.

    ``required_any``: the header must carry at least one of these columns and every row must
    fill at least one of them (a ledger row needs at least one stage date).
    """

    name: str
    table: str
    columns: tuple[Column, ...]
    required_any: tuple[str, ...] = ()
    title_zh: str = ""
    title_en: str = ""

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


# Who and what a project is: shared by every layout that reports projects (events, ledger).
PROJECT_COLUMNS: tuple[Column, ...] = (
    Column("city", "city", required=True, target="city_code"),
    Column("project_id", "text", required=True),
    Column("project_name", "text"),
    Column("domain", "domain", target="domain_code"),
    Column("technology", "technology", target="technology_code"),
    Column("demand_owner", "text"),
    Column("supplier", "text"),
)

EVENTS = Layout(
    name="events",
    table="raw.events",
    title_zh="事件明细",
    title_en="one row per lifecycle event (canonical)",
    columns=(
        *PROJECT_COLUMNS,
        Column("stage", "stage", required=True, target="stage_code"),
        Column("event_type", "event_type", required=True),
        Column("event_date", "date", required=True),
        Column("amount", "amount", target="amount_yuan"),
        Column("reported_at", "date"),
    ),
)

# Stage-date columns of a ledger, in lifecycle order (column name, stage code).
LEDGER_STAGE_DATES: tuple[tuple[str, str], ...] = (
    ("opportunity_date", "opportunity"),
    ("validation_date", "validation"),
    ("application_date", "application"),
    ("scale_up_date", "scale_up"),
)

LEDGER = Layout(
    name="ledger",
    table="raw.events",
    title_zh="项目台账",
    title_en="one row per project with a date column per stage; turned into events",
    required_any=tuple(c for c, _ in LEDGER_STAGE_DATES),
    columns=(
        *PROJECT_COLUMNS,
        *(Column(c, "date") for c, _ in LEDGER_STAGE_DATES),
        Column("end_date", "date"),
        Column("end_type", "end_type"),
        Column("end_reason", "text"),
        Column("amount", "amount", target="amount_yuan"),
        Column("reported_at", "date"),
    ),
)

CAPABILITIES = Layout(
    name="capabilities",
    table="raw.capabilities",
    title_zh="场景能力清单",
    title_en="supplier capability list",
    columns=(
        Column("city", "city", required=True, target="city_code"),
        Column("capability_id", "text", required=True),
        Column("supplier", "text"),
        Column("technology", "technology", target="technology_code"),
        Column("domain", "domain", target="domain_code"),
        Column("title", "text"),
        Column("published_date", "date", required=True, target="published_on"),
        Column("reported_at", "date"),
    ),
)

# Tried in this order: the first layout whose required columns the header carries wins.
LAYOUTS: tuple[Layout, ...] = (EVENTS, LEDGER, CAPABILITIES)


def detect_layout(header: list[str]) -> Layout | None:
    """The layout recognised from ``header`` (English or Chinese names), or None."""
    from ingestion.headers import match_header

    m = match_header(header)
    return m.layout if m else None
