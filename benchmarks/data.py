"""Benchmark data: written once under ``benchmarks/data/`` (gitignored) and reused.

Per size (``100k``, ``1m``, ``10m`` events across 300 cities), from the project's generator:

- ``events.csv``: the canonical events file (one file; what DuckDB's limit and the peers read);
  the capability files and the corrections file the generator writes beside it.
- ``parts/``: only above 1M events. The generator keeps every event in memory, and one
  submission may be at most 512 MB / 5M rows (``ingestion.reading.Limits``), so larger sizes
  are generated as 1M-event chunks (seed 7, 8, ...; project ids prefixed ``<chunk>-`` so the
  chunks do not collide). The platform ingests the parts; the limit and the peers read the
  concatenated ``events.csv`` (same bytes, one header).
- ``delta.csv``: the "1 % new submission" (see :func:`write_delta`).
- ``messy_gbk.csv``: the same events as a clerk's GBK export (see :func:`write_gbk`).

And once: ``xlsx/events_<rows>.xlsx``, the first rows of the smallest size as a workbook.
"""

from __future__ import annotations

import csv
import json
import random
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CITIES = 300
SEED = 7
CHUNK_EVENTS = 1_000_000
DELTA_SHARE = 0.01
DELTA_REPORTED_AT = "2026-01-20"
TITLE_ROW = "2025年场景创新项目事件明细（报送版）"

# Canonical column -> Chinese header a clerk writes (all in ingestion/header_aliases.csv).
ZH_HEADERS = {
    "city": "城市",
    "project_id": "项目编号",
    "project_name": "场景名称",
    "domain": "所属领域",
    "technology": "技术领域",
    "demand_owner": "需求方",
    "supplier": "承接企业",
    "stage": "阶段",
    "event_type": "事件类型",
    "event_date": "事件日期",
    "amount": "合作金额（万元）",
    "reported_at": "填报日期",
}
ZH_DOMAIN = {
    "industry": "产业",
    "consumption": "消费",
    "society": "社会",
    "city": "城市",
    "digital_infrastructure": "数字基础设施",
}
ZH_STAGE = {
    "opportunity": "场景机会",
    "validation": "场景验证",
    "application": "产业应用",
    "scale_up": "规模化应用",
}
ZH_EVENT = {"enter": "进入", "fail": "失败", "withdraw": "撤回"}


def parse_size(label: str) -> int:
    """'100k' -> 100_000, '1m' -> 1_000_000, '2000' -> 2000."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([km]?)", label.strip().lower())
    if not m:
        raise ValueError(f"not a size: {label!r} (use e.g. 100k, 1m, 10m)")
    return int(float(m.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[m.group(2)])


@dataclass
class Dataset:
    """The files of one size; ``meta`` holds row counts and byte sizes."""

    label: str
    requested_events: int
    dir: Path
    meta: dict = field(default_factory=dict)

    @property
    def events_csv(self) -> Path:
        return self.dir / "events.csv"

    @property
    def platform_event_files(self) -> list[Path]:
        parts = sorted((self.dir / "parts").glob("events_part*.csv"))
        return parts or [self.events_csv]

    @property
    def capability_files(self) -> list[Path]:
        return sorted(self.dir.glob("capabilities_*.csv"))

    @property
    def correction_files(self) -> list[Path]:
        parts = sorted((self.dir / "parts").glob("corrections_part*.csv"))
        return parts or sorted(self.dir.glob("events_corrections.csv"))

    @property
    def pipeline_files(self) -> list[Path]:
        """Everything a full run ingests, in the order a city sends it (corrections last)."""
        return [*self.platform_event_files, *self.capability_files, *self.correction_files]

    @property
    def delta_csv(self) -> Path:
        return self.dir / "delta.csv"

    @property
    def gbk_csv(self) -> Path:
        return self.dir / "messy_gbk.csv"

    def delta_of_rows(self, rows: int) -> Path:
        """A submission built like ``delta.csv`` but of about ``rows`` rows (written once).

        The growth comparison lands the *same-sized* submission on a small and a large
        warehouse, so that only the history differs between the two builds.
        """
        out = self.dir / f"delta_{rows}.csv"
        if not out.exists():
            tmp = out.with_suffix(".tmp")
            write_delta(self.events_csv, tmp, share=rows / max(1, self.events))
            tmp.replace(out)
        return out

    def one_city_delta(self, rows: int) -> Path:
        """A submission of about ``rows`` rows built like ``delta.csv`` from the events of one
        city only (the city of the file's first event; written once).

        A city sends its own list: a real submission touches one city, so the marts kept per
        city recompute one city; :meth:`delta_of_rows` spreads its rows over every city.
        """
        out = self.dir / f"delta_{rows}_one_city.csv"
        if not out.exists():
            import duckdb

            with self.events_csv.open(encoding="utf-8", newline="") as f:
                city = next(csv.DictReader(f))["city"]
            city_events = self.dir / "one_city_events.tmp.csv"
            con = duckdb.connect()
            try:
                con.execute("set enable_progress_bar = false")
                (n,) = con.execute(
                    "copy (select * from read_csv(?, all_varchar = true, header = true) "
                    "where city = ?) to ? (header)",
                    [str(self.events_csv), city, str(city_events)],
                ).fetchone()
            finally:
                con.close()
            tmp = out.with_suffix(".tmp")
            write_delta(city_events, tmp, share=min(1.0, rows / max(1, n)))
            city_events.unlink()
            tmp.replace(out)
        return out

    @property
    def events(self) -> int:
        return int(self.meta["events"])


def _count_rows(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def _generate_chunked(tmp: Path, events: int, cities: int = CITIES) -> None:
    """Chunks of at most CHUNK_EVENTS, project ids prefixed; parts + one concatenated file."""
    from ingestion.generate import generate

    chunks = -(-events // CHUNK_EVENTS)
    parts = tmp / "parts"
    parts.mkdir(parents=True)
    with (tmp / "events.csv").open("w", encoding="utf-8", newline="") as whole:
        all_writer = None
        for k in range(chunks):
            work = tmp / f"chunk{k}"
            files = generate(work, cities, SEED + k, events // chunks, single_file=True)
            if k == 0:  # capabilities do not scale with history: the first chunk's are kept
                for f in files:
                    if f.name.startswith("capabilities_"):
                        shutil.move(str(f), tmp / f.name)
            for src_name, dst in (
                ("events.csv", parts / f"events_part{k:02d}.csv"),
                ("events_corrections.csv", parts / f"corrections_part{k:02d}.csv"),
            ):
                src = work / src_name
                if not src.exists():
                    continue
                with (
                    src.open(encoding="utf-8", newline="") as fin,
                    dst.open("w", encoding="utf-8", newline="") as fout,
                ):
                    reader = csv.DictReader(fin)
                    writer = csv.DictWriter(fout, fieldnames=reader.fieldnames)
                    writer.writeheader()
                    if src_name == "events.csv" and all_writer is None:
                        all_writer = csv.DictWriter(whole, fieldnames=reader.fieldnames)
                        all_writer.writeheader()
                    for row in reader:
                        row["project_id"] = f"{k}-{row['project_id']}"
                        writer.writerow(row)
                        if src_name == "events.csv":
                            all_writer.writerow(row)
            shutil.rmtree(work)


def _parse_day(text: str) -> date | None:
    m = re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def write_delta(events_csv: Path, out: Path, share: float = DELTA_SHARE, seed: int = 11) -> dict:
    """The "1 % new submission": ``share`` of the events file's row count, in two halves.

    - *Existing projects move on*: projects still at the opportunity stage (one event only)
      get a ``validation``/``enter`` event 45 days after their opportunity date.
    - *New projects*: whole projects (all their events) copied under a new project id
      (``<id>-N``), as a city reporting projects it had not sent before.

    Every row is reported on 2026-01-20, after everything in the base data. Returns counts.
    """
    rng = random.Random(seed)
    with events_csv.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames
        rows = list(reader)
    target = max(4, round(len(rows) * share))
    by_project: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(rows):
        by_project.setdefault((r["city"], r["project_id"]), []).append(i)
    keys = sorted(by_project)
    rng.shuffle(keys)
    out_rows: list[dict] = []
    moved = 0
    for key in keys:
        if moved >= target // 2:
            break
        idx = by_project[key]
        r = rows[idx[0]]
        if len(idx) != 1 or r["stage"] != "opportunity" or r["event_type"] != "enter":
            continue
        day = _parse_day(r["event_date"])
        if day is None:
            continue
        out_rows.append(
            {
                **r,
                "stage": "validation",
                "supplier": r["supplier"] or "华人工智能科技有限公司",
                "event_date": (day + timedelta(days=45)).isoformat(),
                "amount": "",
                "reported_at": DELTA_REPORTED_AT,
            }
        )
        moved += 1
    new_projects = 0
    for key in reversed(keys):
        if len(out_rows) >= target:
            break
        for i in by_project[key]:
            out_rows.append(
                {
                    **rows[i],
                    "project_id": rows[i]["project_id"] + "-N",
                    "reported_at": DELTA_REPORTED_AT,
                }
            )
        new_projects += 1
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(out_rows)
    return {
        "rows": len(out_rows),
        "share_of_events": round(len(out_rows) / max(1, len(rows)), 4),
        "existing_projects_moved_to_validation": moved,
        "new_projects": new_projects,
    }


def _zh_row(r: dict) -> list[str]:
    amount = r["amount"]
    if amount.isdigit():  # a bare number is yuan in the canonical file; the header says 万元
        amount = str(int(amount) // 10000)
    return [
        r["city"],
        r["project_id"],
        r["project_name"],
        ZH_DOMAIN.get(r["domain"], r["domain"]),
        _tech_zh().get(r["technology"], r["technology"]),
        r["demand_owner"],
        r["supplier"],
        ZH_STAGE.get(r["stage"], r["stage"]),
        ZH_EVENT.get(r["event_type"], r["event_type"]),
        r["event_date"],
        amount,
        r["reported_at"],
    ]


def _tech_zh() -> dict[str, str]:
    from ingestion.generate import TECH_ZH

    return TECH_ZH


def write_gbk(events_csv: Path, out: Path) -> int:
    """The same events as a clerk's Excel export: GBK, a title row above Chinese headers,
    Chinese domain/technology/stage/event names, amounts under 合作金额（万元） (bare numbers
    in 万元; 4000万元 and 1.2亿元 as written), dates as written (some 2025年5月13日) and
    blank trailing rows (``,,,,``) as Excel leaves them. Returns the data rows written."""
    n = 0
    with (
        events_csv.open(encoding="utf-8", newline="") as fin,
        out.open("w", encoding="gbk", newline="") as fout,
    ):
        reader = csv.DictReader(fin)
        w = csv.writer(fout)
        w.writerow([TITLE_ROW] + [""] * (len(ZH_HEADERS) - 1))
        w.writerow(list(ZH_HEADERS.values()))
        for r in reader:
            w.writerow(_zh_row(r))
            n += 1
        for _ in range(3):
            w.writerow([""] * len(ZH_HEADERS))
    return n


def write_xlsx(events_csv: Path, out: Path, rows: int) -> int:
    """The first ``rows`` events as one worksheet (Chinese headers, as a clerk's workbook)."""
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("场景项目")
    ws.append(list(ZH_HEADERS.values()))
    n = 0
    with events_csv.open(encoding="utf-8", newline="") as fin:
        for r in csv.DictReader(fin):
            if n >= rows:
                break
            ws.append(_zh_row(r))
            n += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.xlsx")
    wb.save(tmp)
    tmp.replace(out)
    return n


def dataset(
    label: str, data_dir: Path = DATA_DIR, gbk: bool = True, log=print, cities: int = CITIES
) -> Dataset:
    """The dataset of one size, generated on first use (``.complete`` marks a finished one)."""
    requested = parse_size(label)
    d = data_dir / (label if cities == CITIES else f"{label}_{cities}cities")
    marker = d / ".complete"
    if marker.exists():
        meta = json.loads(marker.read_text())
        ds = Dataset(label, requested, d, meta)
        if gbk and not ds.gbk_csv.exists():
            ds.meta["gbk_rows"] = write_gbk(ds.events_csv, ds.gbk_csv)
            marker.write_text(json.dumps(ds.meta, indent=2))
        return ds
    log(f"[data] generating {label} ({requested} events, {cities} cities) under {d} ...")
    tmp = data_dir / f".{label}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if requested > CHUNK_EVENTS:
        _generate_chunked(tmp, requested, cities)
    else:
        from ingestion.generate import generate

        generate(tmp, cities, SEED, requested, single_file=True)
    meta: dict = {"requested_events": requested, "cities": cities, "seed": SEED}
    meta["events"] = _count_rows(tmp / "events.csv")
    meta["events_csv_bytes"] = (tmp / "events.csv").stat().st_size
    meta["delta"] = write_delta(tmp / "events.csv", tmp / "delta.csv")
    if gbk:
        meta["gbk_rows"] = write_gbk(tmp / "events.csv", tmp / "messy_gbk.csv")
    shutil.rmtree(d, ignore_errors=True)
    tmp.rename(d)
    ds = Dataset(label, requested, d, meta)
    meta["pipeline_files"] = len(ds.pipeline_files)
    meta["platform_event_files"] = len(ds.platform_event_files)
    marker.write_text(json.dumps(meta, indent=2))
    return ds


def xlsx_file(source: Dataset, rows: int, data_dir: Path = DATA_DIR) -> Path:
    """``xlsx/events_<rows>.xlsx`` from ``source``'s events (written once)."""
    out = data_dir / "xlsx" / f"events_{rows}.xlsx"
    if not out.exists():
        write_xlsx(source.events_csv, out, rows)
    return out
