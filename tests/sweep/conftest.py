"""One small local Ray runtime (two workers) for every sweep test, and the bundled sample as stores."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from safeguards.adapters import AdapterOptions, stager
from safeguards.store import ingest_file, open_store

from ..backtesting import CLEAN, SAMPLE


def make_store(path: Path, *logs: Path) -> Path:
    """An event store at ``path`` holding ``logs`` (JSON lines), as `safeguards ingest` makes it."""
    con = open_store(path)
    try:
        options = AdapterOptions()
        for log in logs:
            ingest_file(con, log, "jsonl", stager("jsonl", options, None), options.describe())
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``history`` (data/sample.jsonl, 324 labelled faults) and ``baseline`` (data/clean.jsonl), and their labels."""
    folder = tmp_path_factory.mktemp("stores")
    return {"history": make_store(folder / "sample.duckdb", SAMPLE), "labels": SAMPLE.with_suffix(".labels.jsonl"),
            "baseline": make_store(folder / "clean.duckdb", CLEAN), "baseline_labels": CLEAN.with_suffix(".labels.jsonl")}


@pytest.fixture(scope="session")
def ray_runtime() -> Iterator[None]:
    """A local Ray runtime of two workers, started once for the whole run (its start-up costs seconds)."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()
