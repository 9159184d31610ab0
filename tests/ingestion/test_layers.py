"""Ingestion is the bottom layer: it runs without scenetrack and is given its locations.

The static rule (no import of scenetrack, no cycles) is `make lint-imports` (.importlinter);
these check what that cannot see: imports made at run time, and the configuration handed down.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import scenetrack.config as config
from ingestion import faultpoints, locations
from scenetrack import faults

ROOT = Path(__file__).resolve().parents[2]


def test_ingestion_loads_without_scenetrack() -> None:
    code = (
        "import sys\n"
        "import ingestion.contract, ingestion.generate, ingestion.load, ingestion.replay\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] == 'scenetrack')\n"
        "assert not leaked, leaked\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_scenetrack_hands_ingestion_its_locations() -> None:
    assert locations.project_dir() == config.PROJECT_DIR
    assert locations.dbt_project_dir() == config.DBT_PROJECT_DIR
    assert locations.seeds_dir() == config.SEEDS_DIR


def test_one_fault_hook_for_both_layers() -> None:
    assert faults.checkpoint is faultpoints.checkpoint
    assert faults.reset is faultpoints.reset
    assert faults.FAULT_ENV == faultpoints.FAULT_ENV == "SCENETRACK_FAULT"
