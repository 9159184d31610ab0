"""Summaries: every figure is the median of repeated runs, with min and max beside it."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


def summary(values: list[float]) -> dict:
    vals = [float(v) for v in values]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {
        "median": statistics.median(vals),
        "min": min(vals),
        "max": max(vals),
        "n": len(vals),
        "values": [round(v, 4) for v in vals],
    }


@dataclass
class Recorder:
    """Collects samples per measurement id and per-round ratios, then renders them as dicts."""

    measurements: dict[str, dict] = field(default_factory=dict)
    ratios: dict[str, dict] = field(default_factory=dict)

    def add(
        self,
        mid: str,
        value: float,
        *,
        rep: int,
        group: str,
        size: str,
        label: str,
        unit: str = "s",
    ) -> None:
        m = self.measurements.setdefault(
            mid, {"id": mid, "group": group, "size": size, "label": label, "unit": unit, "_v": {}}
        )
        m["_v"][rep] = float(value)

    def value(self, mid: str, rep: int) -> float | None:
        m = self.measurements.get(mid)
        return m["_v"].get(rep) if m else None

    def median(self, mid: str) -> float | None:
        m = self.measurements.get(mid)
        return statistics.median(m["_v"].values()) if m and m["_v"] else None

    def ratio(
        self,
        rid: str,
        num: str,
        den: str,
        *,
        group: str,
        size: str,
        label: str,
        target: str | None = None,
    ) -> None:
        """Per-round num/den for every round where both sides were measured side by side."""
        a, b = self.measurements.get(num), self.measurements.get(den)
        if not a or not b:
            return
        vals = [a["_v"][r] / b["_v"][r] for r in sorted(a["_v"]) if b["_v"].get(r)]
        self.ratios[rid] = {
            "id": rid,
            "group": group,
            "size": size,
            "label": label,
            "numerator": {"id": num, "label": a["label"]},
            "denominator": {"id": den, "label": b["label"]},
            "target": target,
            "_v": vals,
        }

    def render(self) -> tuple[list[dict], list[dict]]:
        ms = [
            {**{k: v for k, v in m.items() if k != "_v"}, **summary(list(m["_v"].values()))}
            for m in self.measurements.values()
        ]
        rs = [
            {**{k: v for k, v in r.items() if k != "_v"}, **summary(r["_v"])}
            for r in self.ratios.values()
        ]
        return ms, rs
