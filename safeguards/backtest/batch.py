"""What every lane does to a batch that depends on its events alone: done once per batch, not once per policy.

Each lane turns the same batch's event columns into the stored decision columns
(type, account, timestamps, log) and picks the same rows out of it for scoring
(the labelled seqs, the intents, the labels' log). With many policies on the same
batches (a sweep's group) that work was repeated per policy; a :class:`SharedBatch`
makes each once and hands the same arrays to every lane. A mask is keyed by the
column it was made from and used again only for an equal column, so a lane whose
column differed would get its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..events import DEFAULT_ACCOUNT

_TIMESTAMP = pa.timestamp("ns")


def _as(column: pa.Array, kind: pa.DataType) -> pa.Array:
    return column if column.type == kind else column.cast(kind)


def text(column: pa.Array) -> pa.Array:
    """A text column as plain strings (the core's outcome columns, and the closed sets, come dictionary-encoded)."""
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else _as(column, pa.string())


class SharedBatch:
    """One batch of stored events and what is derived from its events alone, made on first use."""

    def __init__(self, events: pa.RecordBatch) -> None:
        self.events = events
        self._event_columns: list[pa.Array] | None = None
        self._masks: dict[Hashable, tuple[pa.Array, Any]] = {}

    @property
    def num_rows(self) -> int:
        return self.events.num_rows

    def event_columns(self) -> list[pa.Array]:
        """The decision columns taken from the events: type, account (the default when absent), recv_ts, broker_ts, ingest_id."""
        if self._event_columns is None:
            events = self.events
            self._event_columns = [
                text(events.column("type")),
                pc.fill_null(_as(events.column("account"), pa.string()), DEFAULT_ACCOUNT),
                events.column("recv_ts").cast(_TIMESTAMP),
                events.column("broker_ts").cast(_TIMESTAMP),
                _as(events.column("ingest_id"), pa.int32()),
            ]
        return self._event_columns

    def mask(self, key: Hashable, column: pa.Array, make: Callable[[pa.Array], Any]) -> Any:
        """``make(column)``, made once per ``key`` while the column it is asked for is equal to the one it was made from."""
        hit = self._masks.get(key)
        if hit is not None and (hit[0] is column or hit[0].equals(column)):
            return hit[1]
        value = make(column)
        self._masks[key] = (column, value)
        return value
