"""Intake reads and normalises with its own Arrow memory pool, and hands the default back."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from ingestion import load
from ingestion.arrow_memory import allocating_from_intake_pool, intake_pool
from ingestion.load import ingest_files
from scenetrack.warehouse import RAW_DDL
from tests.conftest import event, write_csv


@pytest.fixture(autouse=True)
def another_default_pool():
    """A default pool other than intake's, so that seeing intake's pool means it was set."""
    previous = pa.default_memory_pool()
    other = pa.system_memory_pool() if intake_pool().backend_name != "system" else None
    if other is None:
        try:
            other = pa.mimalloc_memory_pool()
        except NotImplementedError:
            pytest.skip("pyarrow has only the system allocator here")
    pa.set_memory_pool(other)
    yield other
    pa.set_memory_pool(previous)


def test_the_pool_is_jemalloc_or_the_system_allocator_and_is_restored_after() -> None:
    before = pa.default_memory_pool().backend_name
    with allocating_from_intake_pool() as pool:
        assert pool.backend_name in ("jemalloc", "system")
        assert pa.default_memory_pool().backend_name == pool.backend_name
        table = pa.table({"x": ["a", "b"]})  # allocated while intake's pool is the default
    assert pa.default_memory_pool().backend_name == before
    assert table.column("x").to_pylist() == ["a", "b"]  # outlives the block


def test_the_default_is_restored_when_the_block_raises() -> None:
    before = pa.default_memory_pool().backend_name
    with pytest.raises(RuntimeError), allocating_from_intake_pool():
        raise RuntimeError("a read that failed")
    assert pa.default_memory_pool().backend_name == before


def test_ingest_reads_and_normalises_from_the_intake_pool(tmp_path, monkeypatch) -> None:
    seen: dict[str, str] = {}
    real_read, real_normalise = load.read_submission, load._normalise_batch

    def read(*args, **kwargs):
        seen["read"] = pa.default_memory_pool().backend_name
        return real_read(*args, **kwargs)

    def normalise(*args, **kwargs):
        seen["normalise"] = pa.default_memory_pool().backend_name
        return real_normalise(*args, **kwargs)

    monkeypatch.setattr(load, "read_submission", read)
    monkeypatch.setattr(load, "_normalise_batch", normalise)
    src = write_csv(
        tmp_path / "hefei.csv",
        [event("合肥", "P1", "opportunity", "enter", "2025-01-10", "4000万元")],
    )
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    con.execute(RAW_DDL)
    before = pa.default_memory_pool().backend_name

    receipts = list(ingest_files(con, [src], tmp_path / "archive"))

    assert [r.rows_loaded for r in receipts] == [1]
    expected = intake_pool().backend_name
    assert expected != before  # the fixture made sure of it
    assert seen == {"read": expected, "normalise": expected}
    assert pa.default_memory_pool().backend_name == before
