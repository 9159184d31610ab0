"""``make demo-postgres``: the whole pipeline against a throwaway PostgreSQL server.

Starts a server (``scripts/pg_start.sh``), runs ``scenetrack generate`` → ``ingest`` → ``run``
through the real CLI with ``SCENETRACK_WAREHOUSE`` pointing at it, prints the BI connection
string of ``bi_reader`` and the city scorecard read *as bi_reader* from schema ``published``,
then stops the server (also on failure or Ctrl-C). ``--keep`` leaves it running instead.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import psycopg

from scenetrack.config import home_from
from scenetrack.postgres import server
from scenetrack.postgres.roles import bi_dsn
from scenetrack.scorecard import COLUMNS, render


def top_cities(dsn: str, limit: int = 15) -> list[dict]:
    """All-time scorecard rows of the cities with the most cooperation, from ``published``."""
    cols = ", ".join(c for c, _, _ in COLUMNS)
    with psycopg.connect(dsn, autocommit=True) as con:
        cur = con.execute(
            f"select {cols} from published.mart_city_scorecard where period_type = 'all' "
            "order by projects_reached_application desc, city_name_en limit %s",
            [limit],
        )
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _cli(env: dict[str, str], *args: str) -> None:
    exe = Path(sys.executable).with_name("scenetrack")
    proc = subprocess.run([str(exe), *args], env=env, text=True, stdout=subprocess.PIPE)
    lines = proc.stdout.strip().splitlines()
    print("\n".join(lines[-3:]) if len(lines) > 3 else proc.stdout.strip(), flush=True)
    if proc.returncode != 0:
        raise SystemExit(f"scenetrack {args[0]} failed (exit {proc.returncode})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="demo-postgres", description=__doc__)
    ap.add_argument("--home", help="warehouse home for intake (default: ./warehouse-postgres)")
    ap.add_argument("--cities", type=int, default=83)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--keep", action="store_true", help="leave the server running")
    args = ap.parse_args(argv)
    home = home_from(args.home or "warehouse-postgres")
    print("starting PostgreSQL on 127.0.0.1 (scripts/pg_start.sh)…", flush=True)
    srv = server.start()
    try:
        env = {**os.environ, **srv.env()}
        print(f"PostgreSQL {srv.version} in {srv.directory}", flush=True)
        samples = home / "samples"
        _cli(env, "generate", "--home", str(home), "--out", str(samples),
             "--cities", str(args.cities), "--seed", str(args.seed))  # fmt: skip
        files = sorted(str(f) for f in samples.iterdir() if f.is_file())
        print(f"ingesting {len(files)} submissions (local intake, then COPY to PostgreSQL)…")
        _cli(env, "ingest", "--home", str(home), *files)
        print("dbt build (dbt-postgres) → GX gate on PostgreSQL → schema swap…", flush=True)
        _cli(env, "run", "--home", str(home))
        reader = bi_dsn(srv.target, srv.bi_password)
        print("\nCity scorecard from schema published, read as bi_reader — 城市场景创新评估")
        print(render(top_cities(reader, args.top)))
        print(f"\n{'BI connection (read-only)':>26}: {reader}")
        print(f"{'pipeline writer':>26}: {srv.dsn}")
        print(f"{'intake home':>26}: {home}")
        if args.keep:
            print(f"server left running; stop it with: scripts/pg_stop.sh {srv.directory}")
    finally:
        if not args.keep:
            server.stop(srv)
            print("PostgreSQL stopped and its directory removed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
