"""An independent, plain-pandas reading of submissions and of the lifecycle rules.

Tests compare the platform's marts with what this module computes from the submitted files.
It shares no code with ``ingestion/`` or the dbt models: parsing and rules are re-implemented
here the simple way, straight from the README's contract.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pandas as pd

from scenetrack.config import SEEDS_DIR

UNITS = {
    "": Decimal(1),
    "元": Decimal(1),
    "万": Decimal(10_000),
    "万元": Decimal(10_000),
    "亿": Decimal(100_000_000),
    "亿元": Decimal(100_000_000),
}
STAGE_ORDER = {"opportunity": 1, "validation": 2, "application": 3, "scale_up": 4}
# Lineage columns of the marts: when a project's newest report was loaded, when dbt last
# rewrote its row and, on the marts kept per city, the newest capability load then. The same
# submissions loaded in other batches, or another run, give other values, so comparisons of
# two builds leave them out.
LINEAGE_COLUMNS = ("last_load_id", "dbt_updated_at", "dbt_run_seq", "capabilities_load_id")


def parse_amount_yuan(text) -> Decimal | None:
    """'4000万元' -> 40000000; bare numbers are yuan."""
    if text is None or (isinstance(text, float) and pd.isna(text)) or str(text).strip() == "":
        return None
    m = re.fullmatch(r"([0-9.]+)(元|万元|万|亿元|亿)?", str(text).replace(",", "").strip())
    assert m, f"unparseable amount {text!r}"
    return Decimal(m.group(1)) * UNITS[m.group(2) or ""]


def parse_day(text: str) -> pd.Timestamp:
    m = re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    if m:
        return pd.Timestamp(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return pd.Timestamp(text)


def _aliases(kind: str) -> dict[str, str]:
    """The value_aliases seed of one kind: wording (lower-case, no spaces) -> code."""
    seed = pd.read_csv(SEEDS_DIR / "value_aliases.csv", dtype=str)
    seed = seed[seed.kind == kind]
    return dict(zip(seed.alias.str.lower().str.replace(" ", ""), seed.code, strict=True))


def _separators() -> str:
    import yaml

    from scenetrack.config import DBT_PROJECT_DIR

    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return "".join(project["vars"]["technology_separators"])


def code_of(kind: str, text) -> str | None:
    """The README's rule for a domain or technology as written: the alias's code, or
    ``unclassified``; for a technology, of the first one a cell names; None when empty."""
    if text is None or (isinstance(text, float) and pd.isna(text)) or not str(text).strip():
        return None
    if kind == "technology":
        parts = [p.strip() for p in re.split(f"[{re.escape(_separators())}]", str(text))]
        text = next((p for p in parts if p), None)
        if text is None:
            return None
    return _aliases(kind).get(str(text).strip().lower().replace(" ", ""), "unclassified")


def city_codes() -> dict[str, str]:
    cities = pd.read_csv(SEEDS_DIR / "ref_cities.csv", dtype=str)
    out = dict(zip(cities.name_zh, cities.city_code, strict=True))
    out |= {k + "市": v for k, v in list(out.items())}
    return out


FileKey = tuple[tuple[str, int, int], ...]


def _key(files: list[Path]) -> FileKey:
    """The files as a cache key: path, size and modification time of each, in order."""
    return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)


def read_events(files: list[Path]) -> pd.DataFrame:
    """Events from the files in submission order, with city codes and parsed dates (parsed
    once per set of unchanged files: several tests recompute from the same demo files)."""
    return _read_events(_key(files)).copy()


@lru_cache(maxsize=4)
def _read_events(key: FileKey) -> pd.DataFrame:
    frames = []
    for order, f in enumerate(Path(name) for name, _, _ in key):
        df = pd.read_csv(f, dtype=str, keep_default_na=False)
        df["file_order"] = order
        df["line"] = range(2, len(df) + 2)
        frames.append(df)
    ev = pd.concat(frames, ignore_index=True)
    ev["city_code"] = ev.city.map(city_codes())
    ev["event_day"] = ev.event_date.map(parse_day)
    ev["reported_day"] = ev.reported_at.map(pd.Timestamp)
    return ev


def lifecycle(files: list[Path]) -> pd.DataFrame:
    """One row per project, by the README's rules (latest report of an event wins)."""
    return _lifecycle(_key(files)).copy()


@lru_cache(maxsize=4)
def _lifecycle(key: FileKey) -> pd.DataFrame:
    ev = _read_events(key).copy()
    ev = ev.sort_values(["reported_day", "file_order", "line"])
    ev = ev.drop_duplicates(["city_code", "project_id", "stage", "event_type"], keep="last")
    ev["project_key"] = ev.city_code + ":" + ev.project_id
    ev["stage_order"] = ev.stage.map(STAGE_ORDER)
    ev["amount_yuan"] = ev.amount.map(parse_amount_yuan)
    enter = ev[ev.event_type == "enter"]
    dates = enter.pivot_table(
        index="project_key", columns="stage", values="event_day", aggfunc="max"
    )
    projects = pd.DataFrame(index=sorted(ev.project_key.unique()))
    for s in STAGE_ORDER:
        projects[s] = dates[s] if s in dates else pd.NaT
    projects["city_code"] = ev.groupby("project_key").city_code.first()
    ends = ev[ev.event_type.isin(["fail", "withdraw"])].sort_values("event_day")
    last_end = ends.groupby("project_key").event_type.last()
    projects["status"] = last_end.map(
        {"fail": "terminated_failed", "withdraw": "terminated_withdrawn"}
    )
    projects["status"] = projects.status.fillna("active")
    with_amount = ev[ev.amount_yuan.notna()].sort_values(["event_day", "stage_order"])
    projects["amount_yuan"] = with_amount.groupby("project_key").amount_yuan.last()
    first_entry = enter.groupby("project_key").event_day.min()
    projects["cohort_year"] = projects.opportunity.fillna(first_entry).dt.year
    return projects


def city_scorecard_all(files: list[Path]) -> pd.DataFrame:
    """The all-time scorecard per city, recomputed from the submitted files."""
    p = lifecycle(files)
    p["d_ov"] = (p.validation - p.opportunity).dt.days
    g = p.groupby("city_code")
    out = pd.DataFrame(
        {
            "opportunities_published": g.opportunity.count(),
            "projects_reached_validation": g.validation.count(),
            "projects_reached_application": g.application.count(),
            "projects_reached_scale_up": g.scale_up.count(),
            "projects_failed": g.status.apply(lambda s: (s == "terminated_failed").sum()),
            "projects_withdrawn": g.status.apply(lambda s: (s == "terminated_withdrawn").sum()),
            "cooperation_amount_yuan": g.amount_yuan.apply(
                lambda s: sum((x for x in s if x is not None and not pd.isna(x)), Decimal(0))
            ),
            "median_days_opportunity_to_validation": g.d_ov.median(),
        }
    )
    both = p[p.opportunity.notna() & p.validation.notna()].groupby("city_code").size()
    out["conversion_opportunity_to_validation"] = (
        both.reindex(out.index, fill_value=0) / out.opportunities_published
    )
    return out


STALLED_AFTER_DAYS = {"opportunity": 180, "validation": 180, "application": 365}  # README


def lifecycle_with_attributes(files: list[Path]) -> pd.DataFrame:
    """:func:`lifecycle` plus domain, technology, current stage and its entry date."""
    return _lifecycle_with_attributes(_key(files)).copy()


@lru_cache(maxsize=4)
def _lifecycle_with_attributes(key: FileKey) -> pd.DataFrame:
    p = _lifecycle(key).copy()
    ev = _read_events(key).copy()
    ev["project_key"] = ev.city_code + ":" + ev.project_id
    first = ev.groupby("project_key").first()
    p["domain"] = first.domain.map(lambda t: code_of("domain", t))
    p["technology"] = first.technology.map(lambda t: code_of("technology", t))
    stages = list(STAGE_ORDER)
    p["current_stage"] = p[stages].apply(
        lambda r: next((s for s in reversed(stages) if pd.notna(r[s])), None), axis=1
    )
    p["current_entered"] = p.apply(lambda r: r[r.current_stage], axis=1)
    return p


def national_funnel(files: list[Path]) -> dict[str, int]:
    """Projects that entered each stage, nationally."""
    p = lifecycle(files)
    return {s: int(p[s].notna().sum()) for s in STAGE_ORDER}


def stalled_projects(files: list[Path], reference: pd.Timestamp) -> set[str]:
    """Active projects longer in their current stage than its threshold at ``reference``."""
    p = lifecycle_with_attributes(files)
    p = p[(p.status == "active") & p.current_stage.isin(list(STALLED_AFTER_DAYS))]
    days = (reference - p.current_entered).dt.days
    limit = p.current_stage.map(STALLED_AFTER_DAYS)
    return set(p.index[days > limit])


def supply_demand(event_files: list[Path], capability_files: list[Path]) -> pd.DataFrame:
    """Per (city, technology): opportunities, matched opportunities, capabilities."""
    p = lifecycle_with_attributes(event_files)
    opp = p[p.opportunity.notna()].copy()
    opp["matched"] = opp[["validation", "application", "scale_up"]].notna().any(axis=1)
    demand = opp.groupby(["city_code", "technology"]).agg(
        opportunities_published=("matched", "size"), opportunities_matched=("matched", "sum")
    )
    caps = pd.concat(pd.read_csv(f, dtype=str) for f in capability_files)
    caps["city_code"] = caps.city.map(city_codes())
    caps["technology"] = caps.technology.map(lambda t: code_of("technology", t))
    supply = caps.groupby(["city_code", "technology"]).size().rename("capabilities_published")
    out = demand.join(supply, how="outer").fillna(0).astype(int)
    out.index.names = ["city_code", "technology_code"]
    return out


def stage_activity(files: list[Path], grain: str = "Q") -> pd.DataFrame:
    """Projects entering each stage per period (pandas period ``grain``: Y, Q or M), and
    those failing or withdrawn there, per (period, city, domain, technology, stage)."""
    p = lifecycle_with_attributes(files)
    ev = read_events(files)
    ev["project_key"] = ev.city_code + ":" + ev.project_id
    ends = ev[ev.event_type.isin(["fail", "withdraw"])]
    p["terminated_on"] = ends.groupby("project_key").event_day.max()
    p["domain"] = p.domain.replace("", "unknown").fillna("unknown")
    p["technology"] = p.technology.replace("", "unknown").fillna("unknown")
    rows = []
    for _, r in p.iterrows():
        dims = (r.city_code, r.domain, r.technology)
        for s in STAGE_ORDER:
            if pd.notna(r[s]):
                rows.append((r[s].to_period(grain), *dims, s, 1, 0, 0))
        if r.status != "active" and pd.notna(r.terminated_on):
            failed = r.status == "terminated_failed"
            rows.append(
                (r.terminated_on.to_period(grain), *dims, r.current_stage, 0, failed, not failed)
            )
    cols = ["period", "city_code", "domain_code", "technology_code", "stage_code"]
    df = pd.DataFrame(rows, columns=[*cols, "entered", "failed", "withdrawn"])
    out = df.groupby(cols).sum().astype(int)
    return out.rename(
        columns={
            "entered": "projects_entered",
            "failed": "projects_failed",
            "withdrawn": "projects_withdrawn",
        }
    )
