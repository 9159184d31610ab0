"""What operators and evaluators ask first: what was loaded, did the gate pass, what is live."""

from __future__ import annotations

import duckdb

from scenetrack.config import Paths
from scenetrack.publish import publish_log


def ledger_totals(p: Paths) -> dict | None:
    """Files and rows in the ledger by status; None before the first ingest."""
    if not p.work_db.exists():
        return None
    con = duckdb.connect(str(p.work_db), read_only=True)
    try:
        rows = con.execute(
            "select status, count(*), coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), "
            "coalesce(sum(rows_quarantined), 0) from raw.file_ledger group by status order by 1"
        ).fetchall()
    finally:
        con.close()
    return {
        s: {"files": f, "rows_read": r, "rows_loaded": lo, "rows_quarantined": q}
        for s, f, r, lo, q in rows
    }


def status(p: Paths) -> dict:
    """Ledger totals, last gate outcome and the published version, as one dict."""
    from scenetrack.config import warehouse_target

    if (pg := warehouse_target()) is not None:  # the PostgreSQL target keeps all three
        from scenetrack.postgres.rollback import status as pg_status

        return {"home": str(p.home), **pg_status(pg)}
    out: dict = {"home": str(p.home)}
    try:
        out["ledger"] = ledger_totals(p)
        from scenetrack.gate import last_gate_outcome

        out["last_gate"] = last_gate_outcome(p.work_db) if p.work_db.exists() else None
    except duckdb.IOException as exc:  # a writer holds the work database right now
        out["ledger"] = out["last_gate"] = f"busy: {exc}".splitlines()[0]
    log = publish_log(p)
    out["published"] = (
        {
            "version": log[-1].version,
            "action": log[-1].action,
            "at": log[-1].published_at,
            "by": log[-1].by,
            "path": str(p.published_db),
            "tables": log[-1].tables,
        }
        if log
        else None
    )
    return out
