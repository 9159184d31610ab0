"""Which published rows a city may see: the one rule behind PostgreSQL's row-level security
(:mod:`scenetrack.postgres.rls`) and ``scenetrack export --city`` on DuckDB.

A city sees its own rows, the national aggregates and the reference lists:

- tables with a ``city_code`` (the lifecycle facts, transitions, scorecard, watchlist,
  supply/demand, stage activity, terminations): only the rows of its own city;
- ``mart_stage_funnel``: its own ``city`` breakdown and the breakdowns over every city
  (``national``, ``domain``, ``technology``, ``cohort_quarter``). The ``region`` breakdown is
  left out: a region holds a handful of cities, so its figures minus the city's own would
  show its neighbours';
- the label tables (``dim_city``, ``dim_domain``, ``dim_technology``, ``dim_stage``,
  ``dim_status``, ``dim_region``) and ``publish_info``: every row (names and codes, no
  figures).

A published table this module does not name is shown to no city (fail closed): a new mart
must be classified here before cities see it (``tests/publish`` checks every published table
is). Each filter is SQL over the table's columns with ``{city}`` standing for the city code
expression: a literal for an export, ``substr(current_user, 6)`` for a ``city_<code>`` role.
"""

from __future__ import annotations

import re

CITY_ROWS: dict[str, str] = {
    "fct_project_lifecycle": "city_code = {city}",
    "fct_stage_transitions": "city_code = {city}",
    "mart_city_scorecard": "city_code = {city}",
    "mart_stalled_projects": "city_code = {city}",
    "mart_supply_demand": "city_code = {city}",
    "mart_stage_activity": "city_code = {city}",
    "mart_terminations": "city_code = {city}",
    "mart_opportunity_batches": "city_code = {city}",
    "bridge_project_technologies": "city_code = {city}",
    "mart_stage_funnel": (
        "breakdown in ('national', 'domain', 'technology', 'cohort_quarter') "
        "or (breakdown = 'city' and breakdown_value = {city})"
    ),
}
"""Tables with per-city figures -> the rows one city may see."""

OPEN_TABLES = frozenset(
    {
        "dim_city",
        "dim_domain",
        "dim_region",
        "dim_stage",
        "dim_status",
        "dim_technology",
        "publish_info",
    }
)
"""Reference lists and the version stamp: the same for everyone."""

CITY_CODE = re.compile(r"^[0-9]{6}$")


def check_city_code(code: str) -> str:
    """A 6-digit administrative code, or ValueError (it is spliced into SQL and role names)."""
    if not CITY_CODE.match(code or ""):
        raise ValueError(f"a city code is 6 digits (GB/T 2260), e.g. 340100, not {code!r}")
    return code


def city_filter(table: str, city_sql: str) -> str | None:
    """The SQL condition for ``table``'s rows a city may see; ``"true"`` for an open table,
    None when no city may see it."""
    if table in OPEN_TABLES:
        return "true"
    rule = CITY_ROWS.get(table)
    return rule.format(city=city_sql) if rule else None


def city_role(code: str) -> str:
    """The PostgreSQL role of a city: ``city_<code>``."""
    return "city_" + check_city_code(code)
