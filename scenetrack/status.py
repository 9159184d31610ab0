"""What an operator asks first: what was loaded, what waits in quarantine, which wordings loaded
as unclassified, did the gate pass and on what, what is live and since when, is the report
current, which cities went quiet.

:func:`status` gathers it as one JSON-able dict (``scenetrack status --json``);
:func:`summary` renders that dict as the text ``scenetrack status`` prints.

The work database is read under the home's writer lock, taken without waiting: while a writer
holds it (a run, an Airflow task) the parts read from it say "busy" and the rest (published
version, report) is still answered, since those come from files a writer never holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb

from ingestion.printable import printable
from scenetrack.config import REFERENCE_DATE_ENV, Paths, as_of_date, settings, warehouse_target
from scenetrack.publish import publish_log

FRESHNESS_SUITE = "source_freshness"
"""The gate suite that says which cities report; its batch query is the one rule used here."""
TEXT_CITIES = 20
"""Silent cities listed in the text summary (``--json`` lists all)."""


def _ledger(con: duckdb.DuckDBPyConnection) -> dict | None:
    rows = con.execute(
        "select status, count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
        "coalesce(sum(rows_quarantined), 0) from raw.file_ledger group by status order by 1"
    ).fetchall()
    return {
        s: {"files": f, "rows_read": r, "rows_loaded": lo, "rows_quarantined": q}
        for s, f, r, lo, q in rows
    } or None


def _quarantine(con: duckdb.DuckDBPyConnection) -> dict:
    """Quarantined rows (they wait for a correction or a replay), by reason (a row listed for
    two reasons counts under each, once in the total)."""
    from scenetrack.quarantine import waiting

    w = waiting(con, "reason", limit=None)
    return {
        "rows": w["rows"],
        "by_reason": {g["reason"]: {"rows": g["rows"], "files": g["files"]} for g in w["groups"]},
    }


UNMAPPED_MODEL = "intermediate.int_values_left_unclassified"
TEXT_UNMAPPED = 10
"""Unmapped wordings listed in the text summary (``--json`` lists all)."""


def _unmapped(con: duckdb.DuckDBPyConnection) -> dict:
    """Domain and technology wordings no alias maps (loaded as ``unclassified``), as the last
    dbt build staged them: most rows first, with the cities that wrote each."""
    try:
        rows = con.execute(
            f"""
            select column_name, value_text, sum(row_count) as rows,
                   string_agg(distinct city_code, ', ' order by city_code) as cities
            from {UNMAPPED_MODEL}
            group by column_name, value_text
            order by rows desc, column_name, value_text
            """
        ).fetchall()
    except duckdb.CatalogException:  # no dbt build yet
        return {"known": False, "wordings": 0, "rows": 0, "values": []}
    return {
        "known": True,
        "wordings": len(rows),
        "rows": int(sum(r[2] for r in rows)),
        "values": [
            {"column": c, "value": v, "rows": int(n), "cities": cities} for c, v, n, cities in rows
        ],
    }


def _checks_not_passed(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict]:
    """The failing (error) and warning checks of one gate run, errors first."""
    from scenetrack.gate import ExpectationOutcome

    rows = con.execute(
        "select suite, expectation, column_name, severity, observed_value, unexpected_count "
        "from audit.gate_results where run_id = ? and not success "
        "order by severity <> 'error', suite, expectation, column_name",
        [run_id],
    ).fetchall()
    out = []
    for suite, expectation, column, severity, observed, unexpected in rows:
        outcome = ExpectationOutcome(
            suite, expectation, column, severity, False, observed, unexpected, None, None
        )
        out.append(
            {
                "check": outcome.label,
                "severity": severity,
                "observed_value": observed,
                "unexpected_count": unexpected,
            }
        )
    return out


def reference_date() -> tuple[date, str]:
    """The date freshness is measured against, and where it came from: the evaluation's
    as-of date (:func:`scenetrack.config.as_of_date`), as the marts and the gate use it."""
    return as_of_date()


def _silent_cities(con: duckdb.DuckDBPyConnection) -> dict:
    """Cities whose newest report is older than the gate's freshness window, by the gate's own
    query (the ``source_freshness`` suite), oldest first."""
    from scenetrack.gate import load_suite_specs

    freshness_days = settings().freshness_days

    ref, basis = reference_date()
    out: dict = {
        "window_days": freshness_days,
        "measured_against": ref.isoformat(),
        "basis": basis,
    }
    spec = next(s for s in load_suite_specs() if s.name == FRESHNESS_SUITE)
    try:
        rows = con.execute(
            f"select city_code, last_reported_on from ({spec.batch_query}) "
            "where last_reported_on is not null order by last_reported_on, city_code"
        ).fetchall()
    except duckdb.CatalogException:  # no dbt build yet: nothing staged
        return out | {"known": False, "reporting": 0, "cities": []}
    try:
        names = dict(
            (c, (zh, en))
            for c, zh, en in con.execute(
                "select city_code, name_zh, name_en from marts.dim_city"
            ).fetchall()
        )
    except duckdb.CatalogException:
        names = {}
    silent = []
    for code, last in rows:
        days = (ref - last).days
        if days > freshness_days:
            zh, en = names.get(code, (None, None))
            silent.append(
                {
                    "city_code": code,
                    "name_zh": zh,
                    "name_en": en,
                    "last_reported_on": last.isoformat(),
                    "days_silent": days,
                }
            )
    return out | {"known": True, "reporting": len(rows), "cities": silent}


def _held(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The submissions held back now (per-city holdback; none in a warehouse made before)."""
    from scenetrack import holdback

    try:
        return [h.to_dict() for h in holdback.active(con)]
    except duckdb.CatalogException:  # no raw.file_holds yet
        return []


def _work_database(p: Paths) -> dict:
    """Everything read from the work database, read-only under the writer lock (not waited for)."""
    from scenetrack.gate import last_gate_outcome
    from scenetrack.warehouse import WriterBusyError, writer_lock

    keys = ("ledger", "quarantine", "unmapped", "held", "last_gate", "silent_cities")
    if not p.work_db.exists():
        return dict.fromkeys(keys) | {"work_database": "nothing ingested yet"}
    try:
        with writer_lock(p, timeout_s=0):
            gate = last_gate_outcome(p.work_db)
            con = duckdb.connect(str(p.work_db), read_only=True)
            try:
                if gate is not None:
                    gate["not_passed"] = _checks_not_passed(con, gate["run_id"])
                return {
                    "work_database": "read",
                    "ledger": _ledger(con),
                    "quarantine": _quarantine(con),
                    "held": _held(con),
                    "unmapped": _unmapped(con),
                    "last_gate": gate,
                    "silent_cities": _silent_cities(con),
                }
            finally:
                con.close()
    except (WriterBusyError, duckdb.IOException) as exc:  # a writer holds the work database
        busy = f"busy: {str(exc).splitlines()[0]}"
        return dict.fromkeys(keys, busy) | {"work_database": busy}


def _age(at: str, now: datetime) -> dict:
    when = datetime.fromisoformat(at)
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    seconds = max(0, int((now - when).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{days} d {hours} h" if days else f"{hours} h {rest // 60} min"
    return {"age_seconds": seconds, "age": text}


class _FigureReader(HTMLParser):
    """``data-value`` of ``<span data-figure="version">`` (the report's convention for headline
    figures, see scenetrack/report/templates/)."""

    def __init__(self) -> None:
        super().__init__()
        self.version: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.version is None and a.get("data-figure") == "version":
            self.version = a.get("data-value") or ""


def report_version(index: Path) -> int | None:
    """The published version a report page shows (None: no page, or it shows none)."""
    try:
        text = index.read_text(encoding="utf-8")
    except OSError:
        return None
    reader = _FigureReader()
    reader.feed(text)
    return int(reader.version) if reader.version and reader.version.isdigit() else None


def _report(p: Paths, published: int | None) -> dict:
    pages = {
        "zh": p.published_dir / "report" / "index.html",
        "en": p.published_dir / "report" / "en" / "index.html",
    }
    out: dict = {}
    for lang, index in pages.items():
        shown = report_version(index)
        out[lang] = {
            "path": str(index),
            "exists": index.exists(),
            "version": shown,
            "current": shown is not None and shown == published,
        }
    return out


def status(p: Paths, now: datetime | None = None) -> dict:
    """Ledger totals, quarantine by reason, the last gate and its checks that did not pass,
    the published version and its age, the report's version against it, silent cities."""
    now = now or datetime.now(UTC)
    out: dict = {"home": str(p.home)}
    out |= _work_database(p)
    if (pg := warehouse_target()) is not None:  # PostgreSQL keeps the gate and the published
        from scenetrack.postgres.rollback import status as pg_status

        remote = pg_status(pg)
        pub = remote["published"]
        out |= {
            "warehouse": remote["warehouse"],
            "ledger": remote["ledger"],
            "last_gate": remote["last_gate"],
            "published": pub | _age(pub["at"], now) if pub else None,
            "report": _report(p, pub["version"] if pub else None),
        }
        return out
    log = publish_log(p)
    out["published"] = (
        {
            "version": log[-1].version,
            "action": log[-1].action,
            "at": log[-1].published_at,
            "by": log[-1].by,
            "path": str(p.published_db),
            "tables": log[-1].tables,
            **_age(log[-1].published_at, now),
        }
        if log
        else None
    )
    out["report"] = _report(p, log[-1].version if log else None)
    return out


def _lines_ledger(s: dict) -> list[str]:
    ledger = s["ledger"]
    if not isinstance(ledger, dict):
        return [f"ledger: {printable(ledger or 'nothing ingested yet')}"]
    return [
        f"ledger {printable(st)}: {v['files']:,} files, {v['rows_read']:,} rows read, "
        f"{v['rows_loaded']:,} loaded, {v['rows_quarantined']:,} quarantined"
        for st, v in ledger.items()
    ]


def _lines_quarantine(s: dict) -> list[str]:
    q = s["quarantine"]
    if not isinstance(q, dict):
        return [f"quarantine: {printable(q)}"] if q else []
    if not q["rows"]:
        return ["quarantine: no rows waiting"]
    lines = [
        f"quarantine: {q['rows']:,} rows waiting for a correction or a replay, by reason "
        "(scenetrack quarantine --by value):"
    ]
    for reason, v in q["by_reason"].items():
        files = f"{v['files']} file" + ("s" if v["files"] != 1 else "")
        lines.append(f"  {printable(reason):<22} {v['rows']:>9,} rows in {files}")
    return lines


def _lines_held(s: dict) -> list[str]:
    held = s.get("held")
    if not isinstance(held, list):
        return [f"held back: {printable(held)}"] if held else []
    if not held:
        return ["held back: nothing (every loaded submission is in the marts)"]
    lines = [
        f"held back: {len(held)} submission(s) kept out of the marts (per-city holdback; "
        "scenetrack release --city <code> once corrected):"
    ]
    for h in held:
        lines.append(
            f"  {printable(h['city_code'])} {printable(h['file_name'] or h['source_file_sha256'])}"
            f" since {h['held_at']} by {printable(h['held_by'])}: "
            f"{printable('; '.join(h['checks']))}"
        )
    return lines


def _lines_unmapped(s: dict) -> list[str]:
    u = s.get("unmapped")
    if not isinstance(u, dict):
        return [f"unclassified wordings: {printable(u)}"] if u else []
    if not u["known"]:
        return ["unclassified wordings: not known before the first dbt build"]
    if not u["wordings"]:
        return ["unclassified wordings: none (every domain and technology has a code)"]
    lines = [
        f"unclassified wordings: {u['wordings']:,} domain/technology wording(s) in "
        f"{u['rows']:,} staged rows loaded as unclassified; add aliases to "
        "dbt_project/seeds/value_aliases.csv:"
    ]
    for v in u["values"][:TEXT_UNMAPPED]:
        lines.append(
            f"  {printable(v['column']):<10} {printable(v['value']):<24} {v['rows']:>9,} rows "
            f"({printable(v['cities'])})"
        )
    if len(u["values"]) > TEXT_UNMAPPED:
        lines.append(f"  … and {len(u['values']) - TEXT_UNMAPPED} more (scenetrack status --json)")
    return lines


def _lines_gate(s: dict) -> list[str]:
    g = s["last_gate"]
    if not isinstance(g, dict):
        return [f"last gate: {printable(g or 'not run yet')}"]
    verdict = "PASSED" if g["passed"] else "FAILED (publication blocked)"
    at = f" at {g['run_at']} UTC" if g.get("run_at") else ""
    checks = f"{g['checks']} checks; " if g.get("checks") is not None else ""
    lines = [
        f"last gate: {printable(g['run_id'])}{at}: {verdict} "
        f"({checks}{g['failures']} error failure(s), {g['warnings']} warning(s))"
    ]
    for c in g.get("not_passed", []):
        tag = "ERROR" if c["severity"] == "error" else "WARN "
        observed = c["observed_value"]
        lines.append(
            f"  {tag} {printable(c['check'])}"
            + (f" — observed: {printable(observed)}" if observed is not None else "")
        )
    return lines


def _lines_published(s: dict) -> list[str]:
    pub = s["published"]
    if not pub:
        return ["published: nothing yet"]
    line = (
        f"published: v{pub['version']} ({pub['action']}) at {pub['at']} by "
        f"{printable(pub['by'])}, {pub['age']} ago: {printable(pub['path'])}"
    )
    lines = [line]
    for lang, r in s["report"].items():
        where = printable(r["path"])
        if not r["exists"]:
            lines.append(f"report ({lang}): not built yet ({where})")
        elif r["current"]:
            lines.append(f"report ({lang}): shows v{r['version']}, current: {where}")
        else:
            shown = f"v{r['version']}" if r["version"] is not None else "no version"
            lines.append(
                f"report ({lang}): STALE, shows {shown} but v{pub['version']} is published; "
                "rebuild it: scenetrack report --with-docs"
            )
    return lines


def _lines_silent(s: dict) -> list[str]:
    sc = s["silent_cities"]
    if not isinstance(sc, dict):
        return [f"silent cities: {printable(sc)}"] if sc else []
    basis = (
        "the data's as-of date, SCENETRACK_REFERENCE_DATE"
        if sc["basis"] == REFERENCE_DATE_ENV
        else "today; set SCENETRACK_REFERENCE_DATE to measure against the data's as-of date"
    )
    head = (
        f"silent cities (no report in the {sc['window_days']} days before "
        f"{sc['measured_against']}: {basis})"
    )
    if not sc["known"]:
        return [f"{head}: not known before the first dbt build"]
    cities = sc["cities"]
    lines = [f"{head}: {len(cities)} of {sc['reporting']} reporting cities"]
    for c in cities[:TEXT_CITIES]:
        name = " ".join(printable(n) for n in (c["name_zh"], c["name_en"]) if n)
        lines.append(
            f"  {printable(c['city_code'])} {name}: last report {c['last_reported_on']} "
            f"({c['days_silent']} days)"
        )
    if len(cities) > TEXT_CITIES:
        lines.append(f"  … and {len(cities) - TEXT_CITIES} more (scenetrack status --json)")
    return lines


def summary(s: dict) -> str:
    """The text of ``scenetrack status``: one block per question, file-derived text escaped."""
    lines = [f"home: {printable(s['home'])}"]
    for part in (
        _lines_ledger,
        _lines_quarantine,
        _lines_unmapped,
        _lines_held,
        _lines_gate,
        _lines_published,
        _lines_silent,
    ):
        lines += part(s)
    return "\n".join(lines)
