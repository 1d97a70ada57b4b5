"""A log made into a store for a sweep: the notebook takes logs, like the other notebooks, and a sweep stores.

A sweep reads a store by path (its Parquet export, made once, is what the
workers read); a log is ingested once, where the sweep's folder is, and its
labels are the ones beside it.
"""

from __future__ import annotations

from pathlib import Path

from ..backtest.scoring import find_labels
from ..backtest.source import from_log


def store_of_log(log: str | Path, db: str | Path) -> tuple[Path, Path | None]:
    """Ingest ``log`` into a fresh store ``db`` (replaced if there); return it and the labels beside the log, if any."""
    db = Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    source = from_log(log, db)
    source.close()
    return db, find_labels(Path(log))
