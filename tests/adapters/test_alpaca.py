"""Alpaca-style trade updates: envelope or bare, string numbers, unmapped events kept as rejected rows."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from safeguards.adapters import guess_format
from tests.ingesting import ingest, rejected, rows

ORDER = {"id": "b-1", "client_order_id": "c-1", "symbol": "SPY260320C00600000", "side": "buy", "qty": "10",
         "limit_price": "1.25"}


def update(event: str, filled: str, **fields: str) -> dict:
    return {"event": event, "execution_id": f"x-{event}", "timestamp": "2026-02-21T14:30:00.123456789Z",
            "order": {**ORDER, "filled_qty": filled}, **fields}


def test_trade_updates_round_trip(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = [
        {"stream": "trade_updates", "data": update("new", "0")},
        update("partial_fill", "4", price="1.25", qty="4"),
        {**update("fill", "10", price="1.2", qty="6"), "received_at": "2026-02-21T14:30:00.2Z"},
        update("order_cancel_rejected", "10"),
        update("done_for_day", "10"),
        update("fill", "10", price="cheap", qty="6"),
    ]
    path = tmp_path / "updates.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines) + "{not json\n")
    assert guess_format(path) == "alpaca"
    result = ingest(store, path, "alpaca")
    assert (result.loaded, result.rejected) == (4, 3)
    got = rows(store, "SELECT type, event_id, order_id, broker_order_id, qty, limit_px, last_qty, last_px, cum_qty, "
                      "leaves_qty, epoch_ns(broker_ts) AS broker_ts, epoch_ns(recv_ts) AS recv_ts FROM events ORDER BY seq")
    assert [(e["type"], e["cum_qty"], e["leaves_qty"], e["last_qty"], e["last_px"]) for e in got] == [
        ("new", 0, 10, None, None), ("partial_fill", 4, 6, 4, 1.25), ("fill", 10, 0, 6, 1.2),
        ("cancel_rejected", 10, 0, None, None)]
    assert got[0]["event_id"] == "x-new" and got[0]["order_id"] == "c-1" and got[0]["broker_order_id"] == "b-1"
    assert got[0]["broker_ts"] == got[0]["recv_ts"] == 1_771_684_200_123_456_789
    assert got[2]["recv_ts"] == 1_771_684_200_200_000_000  # the recorder's own receive time when it has one
    assert rejected(store) == [
        ("line 5", "Alpaca event 'done_for_day' has no canonical event type"),
        ("line 6", "field 'last_px': expected a number, got cheap"),
        ("line 7", "not valid JSON"),
    ]


def test_a_lone_surrogate_is_rejected_naming_its_field(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "updates.jsonl"
    path.write_text(json.dumps(update("new", "0")) + "\n" + json.dumps(update("new", "0", note="\ud800")) + "\n")
    result = ingest(store, path, "alpaca")
    assert (result.loaded, result.rejected) == (1, 1)
    assert rejected(store) == [("line 2", "field 'note' holds an unpaired surrogate (an escape such as \\ud800 that "
                                          "is half of a character), which is not text: send the character itself")]
