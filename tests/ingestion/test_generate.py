"""The generator is deterministic and carries DOMAIN.md's figures (checked from its files)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pandas as pd

from ingestion.generate import generate
from tests.reference import parse_amount_yuan, read_events


def _digest(files) -> str:
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def test_same_seed_same_files_other_seed_other_files(tmp_path) -> None:
    a = generate(tmp_path / "a", cities=10, seed=3)
    b = generate(tmp_path / "b", cities=10, seed=3)
    c = generate(tmp_path / "c", cities=10, seed=4)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_named_cities_carry_the_published_figures(tmp_path) -> None:
    files = generate(tmp_path, cities=83, seed=11)
    ev = read_events([f for f in files if f.name.startswith("events_")])
    ev = ev.drop_duplicates(["city_code", "project_id", "stage", "event_type"])
    opp = ev[(ev.stage == "opportunity") & (ev.event_type == "enter")]
    app = ev[(ev.stage == "application") & (ev.event_type == "enter")]
    assert ev.city_code.nunique() == 83
    hefei_opp = (opp.city_code == "340100").sum()
    hefei_app = (app.city_code == "340100").sum()
    assert hefei_opp > 1400 and hefei_app > 1200
    wuxi_opp_2025 = ((opp.city_code == "320200") & (opp.event_day.dt.year == 2025)).sum()
    assert wuxi_opp_2025 == 85
    wuxi_app = app[app.city_code == "320200"]
    assert len(wuxi_app) > 100
    assert sum(parse_amount_yuan(a) for a in wuxi_app.amount) > Decimal(4_000_000_000)
    caps = pd.read_csv(tmp_path / "capabilities_320200.csv", dtype=str)
    assert len(caps) == 192
    shenzhen = opp[opp.city_code == "440300"]
    assert len(shenzhen) == 200 and shenzhen.event_day.min() >= pd.Timestamp("2023-05-01")
    assert set(ev[ev.city_code == "440300"].technology) == {"ai"}


def test_events_target_scales_the_volume(tmp_path) -> None:
    files = generate(tmp_path, cities=20, seed=1, events=60_000, single_file=True)
    n = sum(1 for _ in files[0].open(encoding="utf-8")) - 1
    assert 45_000 < n < 75_000
