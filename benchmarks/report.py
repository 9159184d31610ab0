"""Targets and ``RESULTS.md``: verdicts computed from the medians in ``results.json``."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

GIB = 2**30
STEP_NAMES = ("ingest_events", "ingest_rest", "build", "gate", "publish")


def _m(snap: dict, mid: str) -> dict | None:
    return next((m for m in snap["measurements"] if m["id"] == mid), None)


def _r(snap: dict, rid: str) -> dict | None:
    return next((r for r in snap["ratios"] if r["id"] == rid), None)


def _fmt(x: float | None, unit: str = "s") -> str:
    if x is None:
        return "–"
    if unit == "bytes":
        return f"{x / GIB:.2f} GiB" if x >= GIB / 4 else f"{x / 2**20:.0f} MiB"
    if unit == "x":
        return f"{x:.2f}×" if x < 100 else f"{x:.0f}×"
    return f"{x:.2f} s" if x < 100 else f"{x:.0f} s"


def _spread(d: dict | None, unit: str = "s") -> str:
    if not d or d.get("median") is None:
        return "–"
    if d.get("n") in (1, None) or d.get("min") is None:
        return f"{_fmt(d['median'], unit)} (n=1)"
    return f"{_fmt(d['median'], unit)} [{_fmt(d['min'], unit)}–{_fmt(d['max'], unit)}]"


def _top_nodes(snap: dict, size: str, contender: str, n: int = 4) -> str:
    """The slowest dbt nodes of one transform contender at one size, from run_results."""
    nodes = snap.get("transform", {}).get(size, {}).get(f"{contender}_build_nodes") or {}
    top = ", ".join(
        f"{x['node'].split('.')[-1]} {x['seconds']} s" for x in nodes.get("top", [])[:n]
    )
    return top or "–"


def _target(
    tid, desc, limit, limit_text, observed, unit, bound_by, measured_as, strict=False
) -> dict:
    med = observed.get("median") if observed else None
    met = None if med is None else bool(med < limit if strict else med <= limit)
    return {
        "id": tid,
        "description": desc,
        "limit": limit,
        "limit_text": limit_text,
        "unit": unit,
        "observed": {k: observed.get(k) for k in ("median", "min", "max", "n")}
        if observed
        else None,
        "measured_as": measured_as,
        "met": met,
        "by_factor": (med / limit) if med is not None and limit else None,
        "bound_by": bound_by,
    }


def _step_shares(snap: dict, size: str) -> str:
    total = _m(snap, f"pipeline.total@{size}")
    if not total:
        return ""
    parts = []
    for step in STEP_NAMES:
        m = _m(snap, f"pipeline.{step}@{size}")
        if m and m["median"] is not None:
            parts.append(f"{step} {m['median']:.1f} s ({m['median'] / total['median']:.0%})")
    return "; ".join(parts)


def _profile_hint(snap: dict, step: str) -> str:
    for p in snap.get("profiles", []):
        if p["step"] == step:
            return f"profile `{p['html']}` (text: `{p['text']}`)"
    return "no profile (run without --no-profile)"


def _growth_against_1m(snap: dict, rid: str) -> dict | None:
    """A growth ratio of the growth rounds, if its reference side was the 1M warehouse (a run
    without 1M pairs the largest size with the smallest: not the target's comparison)."""
    r = _r(snap, rid)
    den = r["denominator"]["id"] if r else ""
    return r if re.search(r"paired(_incremental)?(_one_city)?_1m[_@]", den) else None


def end_to_end_by_size(results_dir: Path) -> dict[str, dict]:
    """Every ``event_driven_<size>.json`` of ``results_dir`` (file-to-published runs), by size."""
    import json

    return {
        f.stem.removeprefix("event_driven_"): json.loads(f.read_text())
        for f in sorted(results_dir.glob("event_driven_*.json"))
        if f.stem.removeprefix("event_driven_")[:1].isdigit()
    }


def _latency(snap: dict, size: str) -> dict | None:
    """File-to-published on the ``size`` warehouse: its own run's file, else the end-to-end
    run of the snapshot when that ran on this size."""
    data = snap.get("end_to_end_by_size", {}).get(size)
    e2e = snap.get("end_to_end", {})
    if data is None and e2e.get("status") == "measured" and e2e["data"].get("size") == size:
        data = e2e["data"]
    if data is None:
        return None
    sec = next(
        (data[k] for k in ("median", "one_file_s", "seconds", "latency_seconds") if k in data),
        None,
    )
    if not isinstance(sec, int | float):
        return None
    return {"median": sec, "min": data.get("min"), "max": data.get("max"), "n": data.get("n")}


def _freshness_bound(snap: dict) -> str:
    """Which step of the path grows most, from the growth rounds' own ratios, for a city's
    file and for the same rows spread over every city."""
    shapes = []
    for shape, what in (("one_city", "one city's file"), ("same_rows", "rows spread over cities")):
        parts = []
        for step, rid in (
            ("path", f"freshness.path_growth_{shape}@10m"),
            ("build", f"transform.incremental_growth_{shape}@10m"),
            ("gate", f"freshness.gate_growth_{shape}@10m"),
            ("publish", f"freshness.publish_growth_{shape}@10m"),
        ):
            r = _r(snap, rid)
            if r:
                parts.append(f"{step} {r['median']:.2f}×")
        shapes.append(f"{what}: " + (", ".join(parts) or "not measured"))
    return "growth by step, " + "; ".join(shapes) + "; " + _growth_bound(snap)


def _growth_bound(snap: dict) -> str:
    """What still grows with history, from the 10M run's node timings."""
    return (
        "what still reads all of history after a small submission: the Parquet copy of "
        "every mart it changed, written whole (DECISIONLOG: per-city copies weighed), and in "
        "the incremental models finding the touched keys (joins of the touched projects "
        "against whole tables in load order); slowest nodes of the "
        f"10M incremental run: {_top_nodes(snap, '10m', 'incremental')}"
    )


def evaluate_targets(snap: dict) -> list[dict]:
    """Every target of issue 7 with its verdict (met True/False, or None when not measured)."""
    t = []
    ratio = _r(snap, "ingest.csv.platform_over_limit@1m")
    t.append(
        _target(
            "ingest_vs_limit",
            "Ingest ≤ 2× the DuckDB limit at 1M events",
            2.0,
            "≤ 2×",
            ratio,
            "x",
            "the work the limit does not do: sha256 and archive copy of the file, an Arrow read "
            "with exact line numbers, one SQL normalisation (distinct values parsed once, "
            "joined back), ledger and receipt, one committed transaction; "
            + _profile_hint(snap, "ingest_events"),
            "median of per-round ratios platform / limit",
        )
    )
    peers = [
        r
        for r in (
            _r(snap, "ingest.csv.platform_over_pandas@1m"),
            _r(snap, "ingest.csv.platform_over_dlt@1m"),
        )
        if r
    ]
    worst = max(peers, key=lambda r: r["median"]) if peers else None
    t.append(
        _target(
            "ingest_vs_peers",
            "Ingest faster than every peer (pandas, dlt) at 1M events",
            1.0,
            "< 1× (platform / slowest-beaten peer)",
            worst,
            "x",
            f"worst ratio: {worst['label'] if worst else '–'}; the same per-row work as "
            "against the limit (see ingest_vs_limit)",
            "max over peers of the median per-round ratio platform / peer",
            strict=True,
        )
    )
    paired = _growth_against_1m(snap, "freshness.path_growth_one_city@10m")
    t.append(
        _target(
            "freshness_growth",
            "Freshness does not grow with history: ingest + build + gate + publish after the "
            "same city's 1k-row file on the 10M warehouse within 1.2× of the 1M warehouse",
            1.2,
            "≤ 1.2×",
            paired,
            "x",
            _freshness_bound(snap)
            if paired
            else "needs the 1M and 10M sizes in one run (make bench-full)",
            "median of per-round ratios of the path after a file of the same rows from the same "
            "city on the 1M and the 10M warehouse, run back to back (the gate over the changed "
            "rows)",
        )
    )
    one_pct = _growth_against_1m(snap, "transform.incremental_growth@10m")
    i1, i10 = _m(snap, "transform.incremental@1m"), _m(snap, "transform.incremental@10m")
    unpaired = (
        {"median": i10["median"] / i1["median"], "min": None, "max": None, "n": 1}
        if i1 and i10 and i1["median"]
        else None
    )
    t.append(
        _target(
            "incremental_growth_one_percent",
            "The same, with 1 % of each warehouse (ten times the rows at 10M): 1M vs 10M "
            "within 1.5×",
            1.5,
            "≤ 1.5×",
            one_pct or unpaired,
            "x",
            "as for the same submission, plus ten times the new rows to stage (slowest nodes "
            f"at 10M: {_top_nodes(snap, '10m', 'incremental')})"
            if one_pct or unpaired
            else "needs the 10M size (make bench-full)",
            "median of per-round ratios of the two builds run back to back"
            if one_pct
            else "median incremental at 10M / median incremental at 1M (runs minutes apart, "
            "not paired: run both sizes in one harness run to pair them)",
        )
    )
    for size, limit, tid in (("1m", 60.0, "pipeline_1m"), ("10m", 480.0, "pipeline_10m")):
        t.append(
            _target(
                tid,
                f"Full pipeline (ingest + build + gate + publish) at {size.upper()} events "
                f"≤ {limit:.0f} s",
                limit,
                f"≤ {limit:.0f} s",
                _m(snap, f"pipeline.total@{size}"),
                "s",
                "step medians: " + (_step_shares(snap, size) or "not measured"),
                "sum of the steps' child-process wall times, median over rounds",
            )
        )
    t.append(
        _target(
            "gate_share",
            "Gate ≤ 25 % of full-pipeline time at 1M events",
            0.25,
            "≤ 0.25",
            _r(snap, "pipeline.gate_share@1m"),
            "x",
            "GX validates pandas batches of the columns each suite checks (copied out of "
            "DuckDB through Arrow), per expectation, and renders Data Docs once; the GX call "
            f"takes {_spread(_m(snap, 'gate.gx@1m'))}, the same checks as one SQL query per "
            f"suite {_spread(_m(snap, 'gate.sql@1m'))}; the rest of the step is starting "
            "Python and importing GX; " + _profile_hint(snap, "gate"),
            "median of per-round ratios gate wall / pipeline wall",
        )
    )
    rss = []
    for step in STEP_NAMES:
        m = _m(snap, f"memory.{step}@10m")
        if m:
            rss.append(m)
    peak = max(rss, key=lambda m: m["max"]) if rss else None
    t.append(
        _target(
            "rss_10m",
            "Peak RSS ≤ 4 GiB at 10M events (ingest, build, gate)",
            4 * GIB,
            "≤ 4 GiB",
            peak,
            "bytes",
            f"largest: {peak['label']}" if peak else "needs the 10M size (make bench-full)",
            "max over pipeline steps of the peak RSS (child VmHWM, and its children's ru_maxrss)",
        )
    )
    for size, limit in (("1m", 12.0), ("10m", 15.0)):
        lat = _latency(snap, size)
        t.append(
            _target(
                f"file_to_published_{size}",
                f"File-to-published ≤ {limit:.0f} s for a 1k-row file on the {size.upper()} "
                "warehouse, through the real scheduler",
                limit,
                f"≤ {limit:.0f} s",
                lat,
                "s",
                (
                    "median over files landed one after another, from "
                    f"results/event_driven_{size}.json (Airflow's own task timings: "
                    "End to end)"
                )
                if lat
                else f"not measured on the {size.upper()} warehouse",
                "python -m benchmarks.event_driven (make bench), else the event-driven test",
            )
        )
    return t


def _e2e_lines(e2e: dict) -> list[str]:
    """The latency and where it goes: Airflow's own task and scheduling times per segment."""
    d = e2e["data"]
    rows = sorted({r["rows"] for r in d["rounds"] if "rows" in r})
    L = [
        f"{d['what']}. Warehouse: {d.get('size', '?')} events; files of {rows} rows landed one "
        f"after another; Airflow's services took {d.get('standalone_startup_s')} s to start "
        f"the watcher (not counted). Raw figures: `results/{e2e['source']}`.",
        "",
        f"File-to-published: median {d['median']:.1f} s [{d['min']:.1f} s–{d['max']:.1f} s], "
        f"n={d['n']}.",
        "",
        "| segment (from Airflow's metadata DB) | median | min | max |",
        "| --- | ---: | ---: | ---: |",
    ]
    names: list[str] = []
    for r in d["rounds"]:
        names += [k for k in r["segments"] if k not in names]
    for name in names:
        vals = sorted(r["segments"][name] for r in d["rounds"] if name in r["segments"])
        med = statistics.median(vals)
        L.append(f"| {name} | {med:.1f} s | {vals[0]:.1f} s | {vals[-1]:.1f} s |")
    return L


def _verdict(t: dict) -> str:
    if t["met"] is None:
        return "not measured"
    if t["met"]:
        return "**met**"
    return f"**missed** ({t['by_factor']:.2f}× the limit)"


def _observed(t: dict) -> str:
    unit = t["unit"]
    return _spread(t["observed"], unit) if t["observed"] else "–"


def hot_spots(text_profile: Path, top: int = 8) -> list[str]:
    """The heaviest leaves of a pyinstrument text profile: where the time is actually spent.

    A leaf is a line whose next line is not indented deeper (``[self]`` lines, and library
    calls whose frames pyinstrument folded away); they are sorted by their seconds.
    """
    if not Path(text_profile).exists():
        return []
    rows = []
    for line in Path(text_profile).read_text().splitlines():
        body = line.lstrip(" │├└─")
        parts = body.split()
        if len(parts) >= 3 and parts[0].replace(".", "", 1).isdigit():
            rows.append((len(line) - len(body), float(parts[0]), body))
    leaves = [
        (sec, body)
        for i, (depth, sec, body) in enumerate(rows)
        if i + 1 == len(rows) or rows[i + 1][0] <= depth
    ]
    return [body for _, body in sorted(leaves, key=lambda x: -x[0])[:top]]


def write_markdown(snap: dict, path: Path) -> None:
    L: list[str] = []
    mach, ver = snap["machine"], snap["versions"]
    L += [
        "# Benchmarks: results",
        "",
        f"Generated {snap['generated_at']} by `{snap['command']}` in "
        f"{snap.get('harness_seconds', '?')} s. Machine: {mach['cores']} cores, "
        f"{mach['memory_gib']} GiB, Python {mach['python']}, load average at start "
        f"{mach['load_average_at_start']} (a shared, noisy machine: absolute seconds are context; "
        "ratios are measured side by side in the same round).",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in ver.items() if v) + ".",
        "",
        "Figures are `median [min–max]` over rounds; every ratio is computed inside each round "
        "from two contenders run back to back, then summarised. Raw numbers: "
        "`results/results.json`.",
        "",
        "| size | events | events.csv | files in a full run | rounds |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for s, meta in snap["sizes"].items():
        rounds = max(
            (m["n"] for m in snap["measurements"] if m["size"] == s and m["group"] == "pipeline"),
            default=0,
        )
        carried = (
            f" (carried over from the run of {meta['carried_from']})"
            if meta.get("carried_from")
            else ""
        )
        L.append(
            f"| {s}{carried} | {meta.get('events', '?'):,} "
            f"| {meta.get('events_csv_bytes', 0) / 2**20:.0f} MiB "
            f"| {meta.get('pipeline_files', '?')} | {rounds} |"
        )
    for note in snap.get("notes", []):
        L += ["", f"> **Note.** {note}"]
    L += [
        "",
        "## Targets",
        "",
        "| target | limit | observed | verdict |",
        "| --- | --- | --- | --- |",
    ]
    for t in snap["targets"]:
        L.append(f"| {t['description']} | {t['limit_text']} | {_observed(t)} | {_verdict(t)} |")
    L += ["", "### What bounds each target", ""]
    for t in snap["targets"]:
        L.append(f"- **{t['id']}** ({_verdict(t)}; {t['measured_as']}): {t['bound_by']}.")
    if snap.get("profiles"):
        L += [
            "",
            "### Profiles (pyinstrument) of the steps behind missed targets",
            "",
            "Made by the benchmark run that wrote this file (`python -m benchmarks.run`, not "
            "with `--no-profile`) under `benchmarks/results/profiles/`, which is not in git: "
            "run the benchmark to get them.",
            "",
        ]
        for p in snap["profiles"]:
            L.append(
                f"- `{p['html']}`: {p['step']} at {p['size']} ({p['seconds']:.1f} s). "
                "Heaviest frames:"
            )
            for h in p["hot_spots"][:8]:
                L.append(f"  - `{h}`")
    L += _tables(snap)
    e2e = snap.get("end_to_end", {})
    L += ["", "## End to end (event-driven, through the Airflow scheduler)", ""]
    if e2e.get("status") == "measured" and e2e["data"].get("rounds"):
        L += _e2e_lines(e2e)
    elif e2e.get("status") == "measured":
        L.append(f"From `results/{e2e['source']}`:")
        L += ["", "```json", _json(e2e["data"]), "```"]
    else:
        L.append("Not measured yet (`results/event_driven_latency.json` does not exist).")
    if snap.get("gate_agreement"):
        L += ["", "## Gate SQL vs GX: do they agree?", ""]
        for s, a in snap["gate_agreement"].items():
            if a:
                L.append(
                    f"- {s}: {a['covered']}/{a['expectations']} expectations covered, "
                    f"agrees with GX: {a['agrees']}"
                    + (
                        f"; mismatches: {a['mismatches_with_gx']}"
                        if a["mismatches_with_gx"]
                        else ""
                    )
                    + (f"; not covered: {a['not_covered']}" if a["not_covered"] else "")
                )
    if snap.get("errors"):
        L += ["", "## Errors during the run", ""]
        for e in snap["errors"][:20]:
            L.append(f"- {e['step']}: `{str(e['error'])[:300]}`")
    L += ["", "## Method", "", *METHOD]
    path.write_text("\n".join(L) + "\n")


def _json(d) -> str:
    import json

    return json.dumps(d, indent=2, ensure_ascii=False)[:3000]


def _tables(snap: dict) -> list[str]:
    L: list[str] = []
    sizes = list(snap["sizes"])
    groups = [
        ("Ingestion of the canonical CSV", "ingest", "ingest.csv."),
        ("Ingestion of the messy GBK CSV", "ingest_gbk", "ingest.gbk."),
        ("Transformation", "transform", "transform."),
        ("Gate", "gate", "gate."),
        ("Full pipeline (child processes, wall)", "pipeline", "pipeline."),
        ("Freshness: a small submission against history", "freshness", "freshness."),
    ]
    for title, rgroup, prefix in groups:
        ms = [m for m in snap["measurements"] if m["id"].startswith(prefix)]
        if not ms:
            continue
        L += ["", f"## {title}", "", "| contender | " + " | ".join(sizes) + " |"]
        L.append("| --- |" + " ---: |" * len(sizes))
        labels = list(dict.fromkeys(m["id"].split("@")[0] for m in ms))
        for lab in labels:
            row = [next(m["label"] for m in ms if m["id"].startswith(lab + "@"))]
            for s in sizes:
                row.append(_spread(_m(snap, f"{lab}@{s}")))
            L.append("| " + " | ".join(row) + " |")
        rs = [r for r in snap["ratios"] if r["group"] == rgroup]
        if rs:
            L += ["", "| ratio (side by side, per round) | " + " | ".join(sizes) + " |"]
            L.append("| --- |" + " ---: |" * len(sizes))
            for lab in dict.fromkeys(r["id"].split("@")[0] for r in rs):
                first = next(r for r in rs if r["id"].startswith(lab + "@"))
                row = [first["label"] + (f" (target {first['target']})" if first["target"] else "")]
                for s in sizes:
                    row.append(_spread(_r(snap, f"{lab}@{s}"), "x"))
                L.append("| " + " | ".join(row) + " |")
    nodes = snap.get("transform", {})
    if nodes:
        L += ["", "dbt's own node timings (run_results.json):", ""]
        for s, info in nodes.items():
            for key in ("full_refresh_build_nodes", "incremental_build_nodes", "noop_build_nodes"):
                n = info.get(key)
                if n:
                    top = ", ".join(
                        f"{x['node'].split('.')[-1]} {x['seconds']:.2f} s" for x in n["top"][:5]
                    )
                    L.append(
                        f"- {s} {key.removesuffix('_build_nodes')}: "
                        f"dbt elapsed {n['elapsed']:.1f} s, sum of "
                        f"{n['nodes']} nodes {n['sum_node_seconds']:.1f} s; slowest: {top}"
                    )
            if info.get("script"):
                L.append(f"- {s} script: {info['script']} (models, tests) from dbt's compiled SQL")
            if info.get("delta_rows_loaded") is not None:
                L.append(f"- {s} 1 % submission: {info['delta_rows_loaded']} rows loaded")
            if info.get("one_city_delta_loaded") is not None:
                L.append(
                    f"- {s} one city's file (growth rounds): "
                    f"{info['one_city_delta_loaded']} rows loaded"
                )
            if info.get("same_rows_delta_loaded") is not None:
                L.append(
                    f"- {s} submission of the reference size's row count (growth rounds): "
                    f"{info['same_rows_delta_loaded']} rows loaded"
                )
    mem = [m for m in snap["measurements"] if m["group"] == "memory"]
    if mem:
        L += ["", "## Peak RSS (per child process)", "", "| step | " + " | ".join(sizes) + " |"]
        L.append("| --- |" + " ---: |" * len(sizes))
        for lab in dict.fromkeys(m["id"].split("@")[0] for m in mem):
            row = [lab.removeprefix("memory.")]
            for s in sizes:
                row.append(_spread(_m(snap, f"{lab}@{s}"), "bytes"))
            L.append("| " + " | ".join(row) + " |")
    xl = [m for m in snap["measurements"] if m["group"] == "xlsx"]
    if xl:
        L += ["", "## XLSX reading", "", "| contender | median [min–max] |", "| --- | ---: |"]
        for m in xl:
            L.append(f"| {m['label']} ({m['size']}) | {_spread(m)} |")
        for r in snap["ratios"]:
            if r["group"] == "xlsx":
                L.append(f"| ratio: {r['label']} | {_spread(r, 'x')} |")
    return L


METHOD = [
    "- **Data**: `ingestion.generate.generate(out, 300 cities, seed 7, events, single_file=True)`, "
    "written once under `benchmarks/data/<size>/` and reused. Above 1M events the generator "
    "runs in 1M-event chunks (seeds 7, 8, …; project ids prefixed by chunk) because it holds "
    "every event in memory and a submission may be at most 512 MB / 5M rows: the platform "
    "ingests the parts, the limit and the peers read the concatenated file.",
    "- **Ingestion**: each contender in a fresh child process and a fresh target (home or "
    "DuckDB file); libraries are imported before the clock starts. The platform side is the "
    "pipeline round's own events ingest (`ingest_paths`, a fresh home). Limit: `CREATE TABLE t AS "
    "SELECT * FROM read_csv(file, all_varchar=true)`. pandas: `read_csv(dtype=str)` + "
    "`CREATE TABLE AS SELECT * FROM df`. dlt: a resource yielding Arrow tables of strings into "
    "`dlt.destinations.duckdb`, dev mode off, telemetry off (dlt's row-dict route "
    "`filesystem | read_csv()` took 73 s at 100k events in a manual run, its `read_csv_duckdb` "
    "fails on DuckDB 2.0).",
    "- **GBK file**: the same events re-encoded to GBK with a title row, Chinese headers and "
    "values (领域, 技术, 阶段, 事件), amounts under `合作金额（万元）`, and blank `,,,` "
    "trailing rows. "
    "DuckDB cannot decode GBK without the `encodings` extension (not installed), so the limit "
    "is a streamed Python re-encode to UTF-8 + `read_csv`.",
    "- **1 % submission** (`benchmarks/data.py: write_delta`): 1 % of the events file's rows; "
    "half are `validation/enter` events for existing projects still at the opportunity stage "
    "(45 days after their opportunity date), half are whole existing projects re-sent under a "
    "new id (`<id>-N`); all reported 2026-01-20. It is ingested into a copy of the built "
    "warehouse; each round copies that state and runs `dbt build` (incremental), "
    "`dbt build --full-refresh` and the SQL script side by side.",
    "- **dbt's start**: `dbt build --select tag:__benchmark_selects_no_node__` in the same "
    "home, beside the full refresh in each round: dbt imports, loads the project and its "
    "partial parse, selects nothing and exits. Every `dbt build` pays at least this.",
    "- **Growth** (`Harness.growth_pairs`, when the 1M and the 10M sizes run in one harness "
    "run): rounds of five paths (build, gate, publish; the submission's ingest measured once) "
    "run back to back, their order rotated: a `--submission-rows` file of one city "
    "(`Dataset.one_city_delta`, the shape of a city's submission) on the 1M and on the 10M "
    "warehouse, where only the history differs (the growth target); as many rows spread over "
    "every city (`Dataset.delta_of_rows`) on each; the 10M warehouse's own 1 % submission. "
    "Ratios are per round.",
    "- **dbt's SQL without dbt** (`benchmarks/dbt_sql.py`): `dbt compile --full-refresh`, then "
    "every model's compiled SQL from `target/compiled/` in the manifest's DAG order as "
    "`create or replace table|view`, each data test as `select count(*) from (<test>)`, all on "
    "one DuckDB connection to the same file. Seeds are not reloaded.",
    "- **Gate**: `run_gate` (through `pipeline.gate`, the call time; GX imported before the "
    "clock) vs `benchmarks/gate_sql.py`: one query per suite computing every expectation as an "
    "aggregate over the suite's `meta.batch_query`, with the same suite parameters; its "
    "outcomes are compared with GX's (section above).",
    "- **Memory**: peak RSS of each child from `os.wait4` (includes dbt's subprocess).",
    "- **Pipeline**: the child-process wall times of ingest (events, then the rest), build, "
    "gate and publish on a fresh home, i.e. what `scenetrack` commands or Airflow tasks pay, "
    "interpreter start and imports included.",
]


def main(argv: list[str] | None = None) -> None:
    """Re-render RESULTS.md from a results.json (targets and profile hot spots recomputed)."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m benchmarks.report")
    ap.add_argument(
        "results", nargs="?", default=str(Path(__file__).parent / "results" / "results.json")
    )
    ap.add_argument("--note", action="append", default=[], help="a note to add to the results")
    args = ap.parse_args(argv)
    path = Path(args.results)
    snap = json.loads(path.read_text())
    out_dir = path.parent.parent
    for p in snap.get("profiles", []):  # profiles are not in git: keep the recorded hot spots
        if (out_dir / p["text"]).exists():
            p["hot_spots"] = hot_spots(out_dir / p["text"])
    snap["notes"] = [*snap.get("notes", []), *args.note]
    snap["end_to_end_by_size"] = end_to_end_by_size(path.parent)
    snap["targets"] = evaluate_targets(snap)
    path.write_text(json.dumps(snap, indent=2, ensure_ascii=False, default=str) + "\n")
    write_markdown(snap, out_dir / "RESULTS.md")


if __name__ == "__main__":
    main()
