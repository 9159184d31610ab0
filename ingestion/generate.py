"""Synthetic city submissions calibrated to the figures in shared/DOMAIN.md.

Deterministic for a seed. The named cities carry their published figures (Hefei: over 1,400
opportunities and over 1,200 cooperations; Wuxi: 85 opportunities opened in 2025, 192
capabilities, over 100 cooperations worth over 40亿元; Shenzhen: about 200 "City + AI" scenes
since May 2023); further cities up to ``cities`` are drawn from the ``dim_city`` seed.
Generated files use the canonical layouts and the forms clerks write (4000万元, 1.2亿元,
2025年5月13日, 合肥市), so the intake's normalisation is exercised by every demo.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from ingestion.layouts import CAPABILITIES, EVENTS
from ingestion.locations import seeds_dir

AS_OF = date(2025, 12, 31)
DOMAINS = ("industry", "consumption", "society", "city", "digital_infrastructure")
TECHS = (
    "ai",
    "robotics",
    "low_altitude",
    "intelligent_vehicles",
    "hydrogen",
    "quantum",
    "chips",
    "harmonyos",
    "smart_mining",
    "smart_water",
    "smart_government",
    "compute_network",
)
TECH_ZH = {
    "ai": "人工智能",
    "robotics": "机器人",
    "low_altitude": "低空经济",
    "intelligent_vehicles": "智能网联汽车",
    "hydrogen": "氢能",
    "quantum": "量子科技",
    "chips": "芯片",
    "harmonyos": "鸿蒙",
    "smart_mining": "智慧矿山",
    "smart_water": "智慧水务",
    "smart_government": "智慧政务",
    "compute_network": "算力",
}
SCENES = (
    "智能工厂",
    "物流配送",
    "医护协同",
    "装配产线",
    "矿区运输",
    "城市治理",
    "政务服务",
    "园区巡检",
    "水务调度",
    "干线运输",
    "文旅消费",
    "社区养老",
)
OWNERS = ("市数据局", "城投集团", "市交通局", "市卫健委", "开发区管委会")
EVENTS_PER_PROJECT = 2.8  # measured mean of the simulation below, used only to size --events


@dataclass(frozen=True)
class CityProfile:
    """How many projects a city publishes per cohort year and how many reach application."""

    code: str
    name_zh: str
    cohorts: dict[int, int]  # cohort year -> opportunities published that year
    cooperations: int | None = None  # exact projects reaching application; None = drawn
    amount_yuan_total: int | None = None  # exact total cooperation amount; None = drawn
    capabilities: int | None = None
    domain: str | None = None
    technology: str | None = None
    first_day: date | None = None


NAMED = (
    CityProfile("340100", "合肥", {2024: 420, 2025: 1000}, cooperations=1210),
    CityProfile(
        "320200",
        "无锡",
        {2024: 40, 2025: 85},
        cooperations=105,
        amount_yuan_total=4_200_000_000,
        capabilities=192,
    ),
    CityProfile(
        "440300",
        "深圳",
        {2023: 45, 2024: 80, 2025: 75},
        domain="city",
        technology="ai",
        first_day=date(2023, 5, 1),
    ),
)
OTHER_NAMED = (
    "310000",
    "320100",
    "340200",
    "110000",
    "350200",
    "320300",
    "330782",
    "130200",
    "440100",
    "133100",
)


def _cities() -> list[dict[str, str]]:
    with (seeds_dir() / "ref_cities.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _profiles(n_cities: int, rng: random.Random, events: int | None) -> list[CityProfile]:
    """Named cities first, then others from the seed, sized to reach ``events`` if given."""
    by_code = {c["city_code"]: c for c in _cities()}
    named_codes = {p.code for p in NAMED} | set(OTHER_NAMED)
    others = sorted(c for c in by_code if c not in named_codes)
    rng.shuffle(others)
    generic = [*OTHER_NAMED, *others][: max(0, n_cities - len(NAMED))]
    weights = [rng.uniform(0.3, 1.7) for _ in generic]
    named_projects = sum(sum(p.cohorts.values()) for p in NAMED)
    if events is not None:
        budget = max(len(generic), int(events / EVENTS_PER_PROJECT) - named_projects)
    else:
        budget = 60 * len(generic)
    total_w = sum(weights) or 1.0
    profiles = list(NAMED[:n_cities])
    for code, w in zip(generic, weights, strict=True):
        n = max(1, round(budget * w / total_w))
        n24 = round(n * rng.uniform(0.3, 0.5))
        profiles.append(
            CityProfile(
                code,
                by_code[code]["name_zh"],
                {2024: n24, 2025: n - n24},
                capabilities=round(n * rng.uniform(0.8, 2.2)),
            )
        )
    return profiles


def _fmt_amount(wan: int, rng: random.Random) -> str:
    """An amount of whole 万元 written the way clerks write it."""
    if wan >= 10000 and wan % 100 == 0 and rng.random() < 0.5:
        return f"{Decimal(wan) / Decimal(10000):f}".rstrip("0").rstrip(".") + "亿元"
    if rng.random() < 0.15:
        return str(wan * 10000)  # bare number in the canonical column: yuan
    return f"{wan}万元"


def _fmt_date(d: date, rng: random.Random) -> str:
    return f"{d.year}年{d.month}月{d.day}日" if rng.random() < 0.1 else d.isoformat()


def _split_amounts(total_wan: int, k: int, rng: random.Random) -> list[int]:
    """k positive whole-万元 amounts summing exactly to ``total_wan``."""
    raw = [rng.lognormvariate(0, 0.8) for _ in range(k)]
    s = sum(raw)
    wan = [max(1, int(total_wan * r / s)) for r in raw]
    wan[-1] += total_wan - sum(wan)
    return wan


def _city_rows(p: CityProfile, rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Events and capability rows for one city."""
    projects: list[tuple[int, int]] = [
        (y, i) for y, n in sorted(p.cohorts.items()) for i in range(n)
    ]
    n = len(projects)
    k = p.cooperations if p.cooperations is not None else round(n * rng.uniform(0.35, 0.75))
    cooperating = set(rng.sample(range(n), min(k, n)))
    amounts = (
        _split_amounts(p.amount_yuan_total // 10000, len(cooperating), rng)
        if p.amount_yuan_total
        else [max(10, int(rng.lognormvariate(5.8, 1.0))) for _ in cooperating]
    )
    amount_of = dict(zip(sorted(cooperating), amounts, strict=True))
    city_text = [p.name_zh, p.name_zh + "市"]
    events: list[dict] = []
    for idx, (year, seq) in enumerate(projects):
        start = max(date(year, 1, 1), p.first_day or date(year, 1, 1))
        end = date(year, 12, 31)
        if idx in cooperating:
            end = min(end, AS_OF - timedelta(days=215))
        pub = start + timedelta(days=rng.randint(0, max(0, (end - start).days)))
        tech = p.technology or rng.choice(TECHS)
        base = {
            "city": rng.choice(city_text),
            "project_id": f"{p.code}-{year}-{seq + 1:05d}",
            "project_name": f"{p.name_zh}{TECH_ZH[tech]}{rng.choice(SCENES)}场景",
            "domain": p.domain or rng.choice(DOMAINS),
            "technology": tech,
            "demand_owner": f"{p.name_zh}{rng.choice(OWNERS)}",
            "supplier": "",
        }

        def emit(stage: str, event_type: str, d: date, amount: str = "", base=base) -> None:
            reported = min(d + timedelta(days=rng.randint(0, 20)), AS_OF)
            events.append(
                {
                    **base,
                    "stage": stage,
                    "event_type": event_type,
                    "event_date": _fmt_date(d, rng),
                    "amount": amount,
                    "reported_at": reported.isoformat(),
                }
            )

        emit("opportunity", "enter", pub)
        base["supplier"] = (
            f"{rng.choice(('华', '中', '科', '智', '讯', '联'))}{TECH_ZH[tech]}科技有限公司"
        )
        d_val = pub + timedelta(days=rng.randint(20, 90))
        if idx in cooperating:
            emit("validation", "enter", d_val)
            d_app = d_val + timedelta(days=rng.randint(30, 120))
            emit("application", "enter", d_app, _fmt_amount(amount_of[idx], rng))
            d_scale = d_app + timedelta(days=rng.randint(90, 300))
            if d_scale <= AS_OF and rng.random() < 0.35:
                emit("scale_up", "enter", d_scale)
            continue
        outcome = rng.choices(
            ("stay", "withdraw_opp", "val_active", "fail", "withdraw_val"),
            weights=(30, 8, 30, 22, 10),
        )[0]
        if outcome == "stay" or d_val > AS_OF:
            continue
        if outcome == "withdraw_opp":
            emit("opportunity", "withdraw", d_val)
            continue
        emit("validation", "enter", d_val)
        d_end = d_val + timedelta(days=rng.randint(30, 150))
        if outcome in ("fail", "withdraw_val") and d_end <= AS_OF:
            emit("validation", "fail" if outcome == "fail" else "withdraw", d_end)
    caps = [
        {
            "city": p.name_zh,
            "capability_id": f"{p.code}-CAP-{i + 1:05d}",
            "supplier": f"{rng.choice(('华', '中', '科', '智'))}{TECH_ZH[t]}科技有限公司",
            "technology": t,
            "domain": rng.choice(DOMAINS),
            "title": f"{TECH_ZH[t]}解决方案",
            "published_date": (date(2025, 1, 1) + timedelta(days=rng.randint(0, 364))).isoformat(),
            "reported_at": AS_OF.isoformat(),
        }
        for i in range(p.capabilities or 0)
        for t in [p.technology or rng.choice(TECHS)]
    ]
    return events, caps


def _corrections(events: list[dict], rng: random.Random, share: float) -> list[dict]:
    """Re-reports of some validation entries with a corrected date and a later report date."""
    out = []
    for e in events:
        if e["stage"] == "validation" and e["event_type"] == "enter" and rng.random() < share:
            d = date.fromisoformat(e["event_date"]) if "年" not in e["event_date"] else None
            if d is None:
                continue
            fixed = d - timedelta(days=rng.randint(1, 10))
            out.append(
                {
                    **e,
                    "event_date": fixed.isoformat(),
                    "reported_at": (AS_OF + timedelta(days=15)).isoformat(),
                }
            )
    return out


def _write(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        w.writerows(rows)


REGISTER_HEADER = (
    "序号",
    "城市",
    "项目编号",
    "项目名称",
    "所属领域",
    "技术领域",
    "需求方",
    "承接企业",
    "发布日期",
    "验证日期",
    "应用日期",
    "推广日期",
    "终止日期",
    "终止类型",
    "合作金额（万元）",
    "填报日期",
)
_STAGE_COLUMN = {
    "opportunity": "发布日期",
    "validation": "验证日期",
    "application": "应用日期",
    "scale_up": "推广日期",
}
_UNIT_YUAN = {"": 1, "元": 1, "万元": 10_000, "亿元": 100_000_000}


def _yuan(text: str) -> Decimal:
    for unit in ("亿元", "万元", "元"):
        if text.endswith(unit):
            return Decimal(text[: -len(unit)]) * _UNIT_YUAN[unit]
    return Decimal(text)


def _day(text: str) -> date:
    if "年" in text:
        y, rest = text.split("年")
        m, rest = rest.split("月")
        return date(int(y), int(m), int(rest.rstrip("日")))
    return date.fromisoformat(text)


def register_rows(events: list[dict]) -> list[dict]:
    """A city's events pivoted into a clerk's 台账: one row per project, a date per stage.

    Amounts become bare 万元 numbers (the header carries the unit); a failure or withdrawal
    fills 终止日期 and 终止类型. Deterministic: no randomness, so it never shifts a seed.
    """
    projects: dict[str, dict] = {}
    for e in events:
        row = projects.setdefault(
            e["project_id"],
            {
                "城市": e["city"],
                "项目编号": e["project_id"],
                "项目名称": e["project_name"],
                "所属领域": e["domain"],
                "技术领域": TECH_ZH.get(e["technology"], e["technology"]),
                "需求方": e["demand_owner"],
            },
        )
        row["承接企业"] = e["supplier"] or row.get("承接企业", "")
        row["填报日期"] = max(row.get("填报日期", ""), e["reported_at"])
        day = _day(e["event_date"])
        if e["event_type"] == "enter":
            row[_STAGE_COLUMN[e["stage"]]] = day
        else:
            row["终止日期"] = day
            row["终止类型"] = "失败" if e["event_type"] == "fail" else "撤回"
        if e["amount"]:
            wan = _yuan(e["amount"]) / 10_000
            row["合作金额（万元）"] = int(wan) if wan == wan.to_integral() else float(wan)
    return [{"序号": i, **r} for i, r in enumerate(projects.values(), start=1)]


def write_register(path: Path, title: str, rows: list[dict]) -> Path:
    """Write a 台账 as a clerk would: XLSX with a title row, or a GBK CSV (by the suffix)."""
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("台账")
        ws.append([title])
        ws.append(list(REGISTER_HEADER))
        for r in rows:
            ws.append([r.get(c) for c in REGISTER_HEADER])
        wb.save(path)
        return path
    with path.open("w", encoding="gbk", newline="") as f:
        w = csv.writer(f)
        w.writerow([title] + [""] * (len(REGISTER_HEADER) - 1))
        w.writerow(REGISTER_HEADER)
        for r in rows:
            w.writerow(
                [
                    f"{v.year}年{v.month}月{v.day}日" if isinstance(v, date) else v
                    for v in (r.get(c, "") for c in REGISTER_HEADER)
                ]
            )
    return path


def generate(
    out: Path,
    cities: int = 83,
    seed: int = 7,
    events: int | None = None,
    single_file: bool = False,
    correction_share: float = 0.02,
    register_formats: tuple[str, ...] = (),
) -> list[Path]:
    """Write submissions under ``out``; returns the files in the order a city would send them.

    Per-city event and capability files, then one corrections file sent later. With
    ``single_file`` all events go in one ``events.csv`` (benchmarks). ``register_formats``
    (``"xlsx"``, ``"gbk"``): also write each city's events as a clerk's 台账
    (``register_<code>.xlsx`` / ``register_<code>_gbk.csv``), returned after the other files;
    the canonical files are the same with or without them.
    """
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    ev_cols, cap_cols = EVENTS.column_names, CAPABILITIES.column_names
    all_events: list[dict] = []
    files: list[Path] = []
    registers: list[Path] = []
    for p in _profiles(cities, rng, events):
        ev, caps = _city_rows(p, rng)
        all_events += ev
        for fmt in register_formats:
            name = f"register_{p.code}.xlsx" if fmt == "xlsx" else f"register_{p.code}_gbk.csv"
            title = f"{AS_OF.year}年{p.name_zh}市场景项目台账"
            registers.append(write_register(out / name, title, register_rows(ev)))
        if not single_file:
            files.append(out / f"events_{p.code}.csv")
            _write(files[-1], ev_cols, ev)
        if caps:
            files.append(out / f"capabilities_{p.code}.csv")
            _write(files[-1], cap_cols, caps)
    if single_file:
        files.insert(0, out / "events.csv")
        _write(files[0], ev_cols, all_events)
    fixes = _corrections(all_events, rng, correction_share)
    if fixes:
        files.append(out / "events_corrections.csv")
        _write(files[-1], ev_cols, fixes)
    return files + registers
