"""`make bench` after `make bench-full` keeps the 10M figures, marked with their date."""

from __future__ import annotations

from benchmarks.run import carry_over


def _m(mid: str, size: str, median: float) -> dict:
    return {"id": f"{mid}@{size}", "size": size, "group": "pipeline", "median": median}


def test_sizes_not_run_now_are_carried_with_their_date() -> None:
    prev = {
        "generated_at": "2026-11-24T10:00:00+00:00",
        "sizes": {"1m": {"events": 1}, "10m": {"events": 10}},
        "measurements": [_m("pipeline.total", "1m", 50.0), _m("pipeline.total", "10m", 400.0)],
        "ratios": [_m("pipeline.gate_share", "10m", 0.2)],
        "pipeline": {"10m": [{"build": {}}]},
        "transform": {"1m": {"old": True}},
    }
    snap = {
        "sizes": {"1m": {"events": 1}},
        "measurements": [_m("pipeline.total", "1m", 45.0)],
        "ratios": [],
        "pipeline": {"1m": []},
        "transform": {"1m": {"new": True}},
    }
    assert carry_over(prev, snap) == ["10m"]
    when = "2026-11-24T10:00:00+00:00"
    assert snap["sizes"]["10m"] == {"events": 10, "carried_from": when}
    # the 1m figure of this run stays; the old 1m figure is not brought back
    assert [(m["id"], m["median"], m.get("carried_from")) for m in snap["measurements"]] == [
        ("pipeline.total@1m", 45.0, None),
        ("pipeline.total@10m", 400.0, when),
    ]
    assert [r["id"] for r in snap["ratios"]] == ["pipeline.gate_share@10m"]
    assert snap["pipeline"]["10m"] == [{"build": {}}]
    assert snap["transform"] == {"1m": {"new": True}}
    assert snap["carried_over"] == {"sizes": ["10m"], "from": when}


def test_nothing_to_carry_when_the_same_sizes_ran() -> None:
    prev = {"generated_at": "x", "sizes": {"1m": {}}, "measurements": [], "ratios": []}
    snap = {"sizes": {"1m": {}}, "measurements": [], "ratios": []}
    assert carry_over(prev, snap) == []
    assert "carried_over" not in snap
