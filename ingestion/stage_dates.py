"""台账 expansion: a `register`-layout row (one project, a date per stage) into events.

A *register* (台账) row is loaded or quarantined as a whole (its rows are what the clerk counts)
and turned into events in SQL:

- one ``enter`` event per filled stage date (发布/验证/应用/推广日期);
- the amount (合作金额, the project's current amount) on the application event, or on the
  furthest stage's event when no application date is filled;
- when 终止日期 is filled, one termination event at the furthest stage entered: ``fail`` or
  ``withdraw`` as 终止类型 says; without 终止类型, ``fail`` when 终止原因 mentions a failure
  that is not negated (失败, 未通过, 不通过, fail; but not 未失败 or "not failed": see
  :func:`ingestion.normalise.termination_type_of_reason`), otherwise ``withdraw``.
"""

from __future__ import annotations

import duckdb

from ingestion import normalise as n
from ingestion.layouts import REGISTER_STAGE_DATES
from ingestion.sql import UTC_NOW, Normalised
from ingestion.submission import Submission


def insert_stage_date_events(
    con: duckdb.DuckDBPyConnection,
    norm: Normalised,
    s: Submission,
    load_id: int,
    file_load_id: int | None = None,
    loaded_at: str = UTC_NOW,
    where: str = "",
) -> int:
    """Ledger rows without a problem, turned into events (see the module doc); returns events."""
    stages = ", ".join(f"('{code}', {i})" for i, (_, code) in enumerate(REGISTER_STAGE_DATES, 1))
    date_of = " ".join(f"when '{code}' then {col}" for col, code in REGISTER_STAGE_DATES)
    precision_of = " ".join(
        f"when '{code}' then {col}_precision" for col, code in REGISTER_STAGE_DATES
    )
    common = (
        "?, ?, source_line, city_code, raw__city, project_id, project_name, domain_raw, "
        "technology_raw, demand_owner, supplier, stage_code"
    )
    sql = f"""
        insert into raw.events (
            source_file_sha256, source_file_name, source_line, city_code, city_raw, project_id,
            project_name, domain_raw, technology_raw, demand_owner, supplier, stage_code,
            event_type, event_date, event_date_precision, amount_yuan, amount_raw, reported_at,
            end_reason, loaded_at, load_id, file_load_id)
        with entered as (
            select norm.*, s.stage_code, s.stage_order,
                   case s.stage_code {date_of} end as stage_date,
                   case s.stage_code {precision_of} end as stage_date_precision
            from {norm.table} norm cross join (values {stages}) s(stage_code, stage_order)
            where norm.__file = ? and norm.reason is null {where}
        ),
        filled as (
            select *,
                   max(stage_order) over (partition by source_line) as top_order,
                   bool_or(stage_code = 'application') over (partition by source_line) as has_app
            from entered where stage_date is not null
        ),
        events as (
            select {common}, 'enter' as event_type, stage_date, stage_date_precision,
                   case when stage_code = 'application' or (not has_app and stage_order = top_order)
                        then amount_yuan end as amount_yuan,
                   case when stage_code = 'application' or (not has_app and stage_order = top_order)
                        then raw__amount end as amount_raw,
                   reported_at, null as end_reason
            from filled
            union all
            select {common},
                   coalesce(end_type, {n.termination_type_of_reason("raw__end_reason")}),
                   end_date, end_date_precision, null, null, reported_at, end_reason
            from filled where stage_order = top_order and end_date is not null
        )
        select *, {loaded_at}, ?, ? from events
    """
    params = [norm.index[id(s)], s.sha256, s.path.name, s.sha256, s.path.name, load_id]
    return con.execute(sql, [*params, file_load_id or load_id]).fetchone()[0]
