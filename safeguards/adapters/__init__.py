"""Broker log formats, one module each, and telling them apart by content.

Every adapter stages a file as a DuckDB relation in the shape
:mod:`safeguards.store.checks` describes; the store does the typing, checking and
loading, so a format only says where each canonical field comes from.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IngestError
from ..store.compressed import read_head
from ..store.ingest import Stager
from ..store.progress import LoadProgress
from . import alpaca, binance, csvfile, fix, jsonl, okx, parquet

FORMATS = (jsonl.FORMAT, csvfile.FORMAT, parquet.FORMAT, fix.FORMAT, alpaca.FORMAT, binance.FORMAT,
           okx.FORMAT)

_HEAD_BYTES = 1 << 16

#: The share of a file's load that staging takes, per format: the rest is checking and
#: storing (measured on 1M-row files of JSON lines, CSV and FIX; Alpaca and Binance stage
#: as JSON lines do, OKX parses its lines in Python as FIX does). A progress bar's guide, see
#: safeguards.store.progress. Parquet stages a view, so its one statement, the insert, reads the file.
STAGE_SHARE = {jsonl.FORMAT: 0.8, alpaca.FORMAT: 0.8, binance.FORMAT: 0.8, okx.FORMAT: 0.9, csvfile.FORMAT: 0.4,
               parquet.FORMAT: 0.0, fix.FORMAT: 0.9}


@dataclass(frozen=True)
class AdapterOptions:
    """What a person may tell an adapter beyond the file itself."""

    mapping: Mapping[str, str] = field(default_factory=dict)  # CSV/Parquet: their column -> our field
    fix_intents: str = fix.INTENTS_FROM_SUBMITS  # FIX: see safeguards.adapters.fix.reader
    fix_lenient: bool = False  # FIX: CheckSum and BodyLength not checked (hand-written examples)

    def describe(self) -> dict[str, object]:
        """The options as recorded in the ``ingests`` table."""
        return {"mapping": dict(self.mapping), "fix_intents": self.fix_intents, "fix_lenient": self.fix_lenient}


def guess_format(path: Path) -> str:
    """Tell the format from the first bytes of the file (unpacked, if compressed); raise IngestError if unsure."""
    head = read_head(path, _HEAD_BYTES)
    if not head:
        raise IngestError(f"{path}: is empty, so its format cannot be told; pass --format to record it as loaded")
    if parquet.looks_like(head):
        return parquet.FORMAT
    if fix.looks_like(head):
        return fix.FORMAT
    text = head.removeprefix(jsonl.BOM).decode("utf-8", errors="replace")
    if alpaca.looks_like(text):
        return alpaca.FORMAT
    if binance.looks_like(text):
        return binance.FORMAT
    if okx.looks_like(text):
        return okx.FORMAT
    if jsonl.looks_like(text):
        return jsonl.FORMAT
    if csvfile.looks_like(text):
        return csvfile.FORMAT
    raise IngestError(
        f"{path}: cannot tell the format from its content; pass --format ({', '.join(FORMATS)})"
    )


def stager(format: str, options: AdapterOptions, progress: LoadProgress | None = None) -> Stager:
    """The staging function for ``format`` with the options bound.

    ``progress`` hears how far parsing has got where parsing is ours (FIX), and which
    part of staging each statement does where there are several (JSON lines); within a
    statement, how far DuckDB has got is polled.
    """
    if format == jsonl.FORMAT:
        return functools.partial(jsonl.stage, progress=progress)
    if format == alpaca.FORMAT:
        return alpaca.stage
    if format == binance.FORMAT:
        return binance.stage
    if format == okx.FORMAT:
        return okx.stage
    if format == csvfile.FORMAT:
        return functools.partial(csvfile.stage, mapping=options.mapping)
    if format == parquet.FORMAT:
        return functools.partial(parquet.stage, mapping=options.mapping)
    if format == fix.FORMAT:
        return functools.partial(fix.stage, intents=options.fix_intents, lenient=options.fix_lenient,
                                 progress=progress.staged if progress else None)
    raise IngestError(f"unknown format {format!r} (known: {', '.join(FORMATS)})")
