"""The engine the product runs: the compiled core (``safeguards._core``, crates/ in Rust) behind the engine's API.

It replaced a Python engine, with the same decisions, alerts and reasons; the
conformance suite, the recorded transcripts (``tests/conformance/``) and the
property tests pin it. Checkpoints (:meth:`Engine.state`) are the core's
versioned format ``safeguards-core/1``, with dedup keys that are the same in
every process. The old engine's internals (``guards``, ``book``,
``escalation`` objects) are not here, only the read-only views below that
callers of the old API used.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from ._core import Engine as _CoreEngine
from .policy import CompiledPolicy
from .session import SessionTraits


class _TradingView:
    """``engine.escalation.snapshot()``, as callers of the old API read the trading state."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def snapshot(self) -> dict[str, Any]:
        return self._engine.trading()  # not snapshot()["trading"]: that copies every order first


class _OrderView:
    """One order as ``engine.book.orders[...]`` gave it: ``to_dict()`` is what the engine knows."""

    def __init__(self, fields: dict[str, Any]) -> None:
        self._fields = fields

    def to_dict(self) -> dict[str, Any]:
        return dict(self._fields)


class _BookView:
    """``engine.book``: the orders held (a copy, in book order) and the next timer's deadline."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def orders(self) -> dict[str, _OrderView]:
        return {order_id: _OrderView(fields) for order_id, fields in self._engine.snapshot()["orders"].items()}

    def next_deadline(self) -> int | None:
        return self._engine.next_deadline()


class Engine(_CoreEngine):
    """Five safeguards and escalation, compiled; ``policy`` is a CompiledPolicy, compiled tables or a policy path.

    Not thread-safe: one engine per event stream.
    """

    @property
    def escalation(self) -> _TradingView:
        return _TradingView(self)

    @property
    def book(self) -> _BookView:
        return _BookView(self)

    def decide_columns(self, events: pa.RecordBatch,
                       logs: Mapping[int, SessionTraits]) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        """The backtest's columnar path: stored events (the store reader's columns) in, decisions and alerts out.

        Each row is decided as :meth:`process_stored` decides the dict the reader
        makes of it; each run of rows with one ``ingest_id`` is that log's broker
        session (``logs[ingest_id]``, a live stream's traits if absent), and its
        alerts carry that ``ingest_id``. The decisions: ``seq``, ``event_id``,
        ``order_id``, ``group_id``, then ``verdict``, ``guard``, ``rule`` and
        ``reason`` dictionary-encoded. The alerts: ``kind``, ``severity``, ``guard``,
        ``seq``, ``order_id``, ``group_id``, ``broker_ts`` (RFC 3339), ``detail``,
        ``ingest_id``. No Python object per event is made on the way.
        """
        decisions, alerts = super().decide_columns(events, dict(logs))
        return pa.record_batch(decisions), pa.record_batch(alerts)

    def group(self, group_id: str) -> dict[str, Any]:
        """A group's trading state and its orders (a scan: not for the hot path)."""
        orders = {oid: o for oid, o in self.snapshot()["orders"].items() if o["group_id"] == group_id}
        return {"group_id": group_id, "trading_state": self.trading_state(group_id), "orders": orders}


def build_engine(policy: CompiledPolicy | str | Path | Mapping[str, Any]) -> Engine:
    """An engine from a compiled policy, a policy path, or compiled tables."""
    if isinstance(policy, Mapping):
        policy = CompiledPolicy.from_tables(dict(policy))
    return Engine(policy)
