"""Fixtures of the fault suite: one set of generated submissions and a clean load of them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingestion.generate import generate
from scenetrack import pipeline
from scenetrack.config import Paths


@pytest.fixture(scope="session")
def submissions(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three cities' generated submissions plus one file that is no table at all (rejected)."""
    out = tmp_path_factory.mktemp("fault-subs")
    files = generate(out, cities=3, seed=11)
    garbage = out / "scan.csv"
    garbage.write_bytes(b"%PDF-1.4 not a table\x00\x01")
    return [*files, garbage]


@pytest.fixture(scope="session")
def clean_ingest(tmp_path_factory: pytest.TempPathFactory, submissions: list[Path]) -> Paths:
    """The submissions ingested once, with no fault: what every recovered load must equal."""
    p = Paths(tmp_path_factory.mktemp("fault-clean") / "home").ensure()
    pipeline.ingest_paths(p, submissions)
    return p


def data_rows(files: list[Path]) -> int:
    """Rows in the valid generated CSVs (every line after the header is one row)."""
    total = 0
    for f in files:
        if f.suffix == ".csv" and f.name != "scan.csv":
            total += len(f.read_bytes().decode("utf-8").splitlines()) - 1
    return total


@pytest.fixture
def landed(home: Paths, submissions: list[Path]) -> list[Path]:
    """The submissions in ``<home>/landing``, oldest first as the landing order wants."""
    landing = home.home / "landing"
    landing.mkdir(parents=True, exist_ok=True)
    out = []
    for i, f in enumerate(submissions):
        dest = landing / f.name
        dest.write_bytes(f.read_bytes())
        os.utime(dest, (1_700_000_000 + i, 1_700_000_000 + i))
        out.append(dest)
    return out
