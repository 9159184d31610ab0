"""Submission layouts: which columns a file carries and how each one is normalised.

A layout is recognised from the header. Each column has a *kind* that decides its SQL
normalisation (see :mod:`ingestion.normalise`) and whether a missing value quarantines the row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One column of a layout: canonical name, normalisation kind, required or not."""

    name: str
    kind: str  # text | city | stage | event_type | domain | technology | date | amount
    required: bool = False
    target: str | None = None  # name in the raw table when it differs from ``name``


@dataclass(frozen=True)
class Layout:
    """A recognised submission layout and the raw table it loads into."""

    name: str
    table: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


EVENTS = Layout(
    name="events",
    table="raw.events",
    columns=(
        Column("city", "city", required=True, target="city_code"),
        Column("project_id", "text", required=True),
        Column("project_name", "text"),
        Column("domain", "domain", target="domain_code"),
        Column("technology", "technology", target="technology_code"),
        Column("demand_owner", "text"),
        Column("supplier", "text"),
        Column("stage", "stage", required=True, target="stage_code"),
        Column("event_type", "event_type", required=True),
        Column("event_date", "date", required=True),
        Column("amount", "amount", target="amount_yuan"),
        Column("reported_at", "date"),
    ),
)

CAPABILITIES = Layout(
    name="capabilities",
    table="raw.capabilities",
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

LAYOUTS: tuple[Layout, ...] = (EVENTS, CAPABILITIES)


def detect_layout(header: list[str]) -> Layout | None:
    """The layout whose required columns all appear in ``header`` (case-insensitive).

    Events are tried first; a capabilities list is recognised by its ``capability_id`` column.
    """
    names = {h.strip().lower() for h in header}
    for layout in sorted(LAYOUTS, key=lambda lay: -sum(c.required for c in lay.columns)):
        if all(c.name in names for c in layout.columns if c.required):
            return layout
    return None
