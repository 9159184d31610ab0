"""dbt unit tests run here (CI), not in every pipeline build.

Pipeline builds exclude them (`scenetrack.transform.PIPELINE_BUILD_ARGS`: their fixtures are
static, so their answer cannot change with the data); this module is what still runs every
one of them, and checks the pipeline build really left them out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from scenetrack.config import DBT_PROJECT_DIR, Paths
from scenetrack.pipeline import build, ingest_paths
from scenetrack.transform import run_dbt
from tests.conftest import event, write_csv


def _declared_unit_tests() -> set[str]:
    """Unit test names read from the project's yml files (independently of dbt's parser)."""
    names: set[str] = set()
    for f in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        doc = yaml.safe_load(f.read_text()) or {}
        names |= {u["name"] for u in doc.get("unit_tests") or []}
    return names


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Paths:
    """A built warehouse: dbt unit tests need their models' parents to exist."""
    tmp: Path = tmp_path_factory.mktemp("unit")
    p = Paths(tmp / "home").ensure()
    f = write_csv(
        tmp / "events.csv",
        [
            event("合肥", "P1", "opportunity", "enter", "2025-01-10", reported="2025-01-11"),
            event("合肥", "P1", "validation", "enter", "2025-02-09", reported="2025-02-10"),
        ],
    )
    ingest_paths(p, [f])
    build(p)
    return p


def test_pipeline_build_skips_unit_tests_but_runs_data_tests(home: Paths) -> None:
    results = json.loads((home.dbt_target_dir / "run_results.json").read_text())["results"]
    kinds = {r["unique_id"].split(".")[0] for r in results}
    assert "unit_test" not in kinds
    assert {"model", "seed", "test"} <= kinds


def test_every_declared_unit_test_runs_and_passes(home: Paths) -> None:
    declared = _declared_unit_tests()
    assert len(declared) >= 4
    result = run_dbt(home, ["test", "--select", "test_type:unit"])
    ran = {uid.rsplit(".", 1)[-1]: status for uid, status in result.nodes.items()}
    assert set(ran) == declared
    assert set(ran.values()) == {"pass"}
    assert result.success
