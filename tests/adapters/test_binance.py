"""Binance spot executionReport and USD-M ORDER_TRADE_UPDATE events: the real captures, and the edge cases."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from safeguards.adapters import guess_format
from safeguards.adapters.columns import BROKER_CLOCKS
from safeguards.store.reader import read_events
from tests.eventkit import engine, run, verdicts
from tests.ingesting import ingest, real_file, rejected, rows

SPOT = "nexustrader-binance-spot/executionReport.log"
USDM = "nexustrader-binance-usdm/ORDER_TRADE_UPDATE.log"


def report(x: str, status: str, *, order: int = 7, symbol: str = "BNBUSDT", qty: str = "1.00000000",
           last: str = "0.00000000", cum: str = "0.00000000", price: str = "590.00000000", trade: int = -1,
           at: int = 1727320813818, **fields: Any) -> dict[str, Any]:
    """A spot executionReport as Binance sends it (strings for numbers, -1 for no trade)."""
    return {"e": "executionReport", "E": at + 1, "s": symbol, "c": "same-for-all", "S": "BUY", "o": "LIMIT",
            "q": qty, "p": "589.10000000", "x": x, "X": status, "i": order, "l": last, "z": cum, "L": price,
            "T": at, "t": trade, **fields}


def write_lines(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_spot_capture_keeps_23_orders_apart_though_all_share_one_client_order_id(
    store: duckdb.DuckDBPyConnection,
) -> None:
    path = real_file(SPOT)
    assert guess_format(path) == "binance"
    result = ingest(store, path, "binance")
    assert (result.loaded, result.rejected, result.skipped) == (59, 0, 0)
    by_kind = Counter((e["x"], e["X"]) for e in (json.loads(line) for line in path.read_text().splitlines()))
    assert by_kind == {("NEW", "NEW"): 23, ("TRADE", "PARTIALLY_FILLED"): 13, ("TRADE", "FILLED"): 23}
    assert dict(store.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()) == {
        "new": 23, "partial_fill": 13, "fill": 23}
    assert store.execute("SELECT state, count(*) FROM order_states GROUP BY state").fetchall() == [("fill", 23)]
    _assert_orders_apart_and_ids_unique(store, orders=23, events=59)
    # All final: every order's fills add up to its quantity, and nothing is left.
    for order in rows(store, "SELECT order_id, any_value(qty) AS qty, sum(last_qty) AS filled, max(cum_qty) AS cum, "
                             "arg_max(leaves_qty, seq) AS leaves FROM events GROUP BY order_id"):
        assert order["filled"] == pytest.approx(order["qty"]) == pytest.approx(order["cum"]), order
        assert order["leaves"] == 0
    # Market orders: Binance's price "0.00000000" is no price.
    assert store.execute("SELECT count(*) FROM events WHERE limit_px IS NOT NULL").fetchone() == (0,)


def test_usdm_capture_reads_the_order_nested_under_o(store: duckdb.DuckDBPyConnection) -> None:
    path = real_file(USDM)
    assert guess_format(path) == "binance"
    result = ingest(store, path, "binance")
    assert (result.loaded, result.rejected, result.skipped) == (64, 0, 0)
    assert dict(store.execute("SELECT type, count(*) FROM events GROUP BY type").fetchall()) == {
        "new": 29, "partial_fill": 6, "fill": 21, "canceled": 8}
    assert dict(store.execute("SELECT state, count(*) FROM order_states GROUP BY state").fetchall()) == {
        "fill": 21, "canceled": 8}
    _assert_orders_apart_and_ids_unique(store, orders=29, events=64)
    canceled = rows(store, "SELECT cum_qty, leaves_qty, limit_px FROM events WHERE type = 'canceled'")
    assert len(canceled) == 8 and all(e["leaves_qty"] == 0 and e["limit_px"] > 0 for e in canceled)
    # 15.2 - 11.8 left, taken as the venue wrote them: not 3.3999999999999986.
    assert store.execute("SELECT leaves_qty FROM events WHERE event_id = 'CYBERUSDT/2512281279/trade/167609640'"
                         ).fetchone() == (3.4,)
    # The futures order's own fields, not the event's: the side, its limit price, the order's trade time.
    first = rows(store, "SELECT side, limit_px, epoch_ns(broker_ts) // 1000000 AS broker_ms, epoch_ns(recv_ts) // 1000000 AS recv_ms, "
                        "extra->>'$.binance.fs' AS fs FROM events ORDER BY seq LIMIT 1")[0]
    assert first == {"side": "sell", "limit_px": 2.0623, "broker_ms": 1727321322389, "recv_ms": 1727321322392,
                     "fs": "UM"}


def _assert_orders_apart_and_ids_unique(store: duckdb.DuckDBPyConnection, *, orders: int, events: int) -> None:
    assert store.execute("SELECT count(*), count(DISTINCT event_id), count(DISTINCT order_id), "
                         "count(DISTINCT extra->>'client_order_id') FROM events").fetchone() == (events, events, orders, 1)
    assert store.execute("SELECT count(*) FROM (SELECT DISTINCT symbol, broker_order_id FROM events)").fetchone() == (
        orders,)
    assert store.execute("SELECT count(*) FROM (SELECT order_id FROM events GROUP BY order_id "
                         "HAVING count(DISTINCT broker_order_id) > 1 OR count(DISTINCT symbol) > 1)").fetchone() == (0,)
    assert store.execute("SELECT DISTINCT extra->>'recv_ts_from' FROM events").fetchall() == [("E",)]
    assert "E" in BROKER_CLOCKS


def test_fills_in_one_millisecond_are_told_apart_by_trade_id_and_a_resend_is_a_duplicate(
    store: duckdb.DuckDBPyConnection, tmp_path: Path,
) -> None:
    new = report("NEW", "NEW")
    first = report("TRADE", "PARTIALLY_FILLED", last="0.4", cum="0.4", trade=11)
    second = report("TRADE", "FILLED", last="0.6", cum="1", trade=12)  # the same T, the same E
    other_side = report("TRADE", "FILLED", order=8, last="1", cum="1", trade=12)  # a self-trade: the same t
    path = write_lines(tmp_path / "spot.log", [new, first, second, first, other_side])
    assert ingest(store, path, "binance").loaded == 5
    ids = [e for (e,) in store.execute("SELECT event_id FROM events ORDER BY seq").fetchall()]
    assert ids == ["BNBUSDT/7/NEW/1727320813818", "BNBUSDT/7/trade/11", "BNBUSDT/7/trade/12",
                   "BNBUSDT/7/trade/11", "BNBUSDT/8/trade/12"]
    decisions, _ = run(engine(), list(read_events(store)))
    assert verdicts(decisions) == ["accept", "accept", "accept", "duplicate", "accept"]


def test_each_execution_type_maps_by_its_order_status(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = [
        report("NEW", "PENDING_NEW", order=1),
        report("AMENDMENT", "NEW", order=1, qty="0.50000000", at=1727320813900),
        report("TRADE_PREVENTION", "EXPIRED_IN_MATCH", order=1, at=1727320814000),
        report("TRADE_PREVENTION", "NEW", order=2),
        report("CANCELED", "CANCELED", order=3, cum="0.25", at=1727320815000),
        report("REJECTED", "REJECTED", order=4),
        report("EXPIRED", "EXPIRED", order=5, cum="0.5"),
        report("REPLACED", "NEW", order=6),
    ]
    path = write_lines(tmp_path / "kinds.log", lines)
    result = ingest(store, path, "binance")
    assert (result.loaded, result.rejected) == (7, 1)
    got = rows(store, "SELECT type, qty, cum_qty, leaves_qty, event_id FROM events ORDER BY seq")
    assert [(e["type"], e["qty"], e["cum_qty"], e["leaves_qty"]) for e in got] == [
        ("pending_new", 1, 0, 1), ("replaced", 0.5, 0, 0.5), ("expired", 1, 0, 0), ("replaced", 1, 0, 1),
        ("canceled", 1, 0.25, 0), ("rejected", 1, 0, 0), ("expired", 1, 0.5, 0)]
    assert got[1]["event_id"] == "BNBUSDT/1/AMENDMENT/1727320813900"
    assert rejected(store) == [("line 8", "Binance execution type 'REPLACED' with order status 'NEW' "
                                          "has no canonical event type")]


def test_other_messages_are_skipped_and_bad_lines_rejected_with_where_and_why(
    store: duckdb.DuckDBPyConnection, tmp_path: Path,
) -> None:
    lines: list[Any] = [
        {"result": None, "id": 1},  # the answer to a SUBSCRIBE
        {"e": "outboundAccountPosition", "E": 1727320813819, "u": 1727320813818, "B": []},
        {"stream": "listen-key", "data": report("NEW", "NEW")},  # the combined-stream envelope
        {"subscriptionId": 0, "event": report("TRADE", "FILLED", last="1", cum="1", trade=5)},  # the WebSocket API's
        {"e": "ORDER_TRADE_UPDATE", "E": 1727320813820, "T": 1727320813819},
        report("TRADE", "FILLED", order=9, last="1", cum="1"),  # no trade id
        report("NEW", "NEW", order=10, qty="lots"),
        {"s": "BNBUSDT", "i": 11},
        "[1, 2]",
        '{"e": "executionReport", ',
        {**report("NEW", "NEW", order=12), "recv_ts": "2024-09-26T03:20:13.9Z"},  # a recorder's own receive time
    ]
    path = write_lines(tmp_path / "mixed.log", lines)
    assert guess_format(path) == "binance"
    result = ingest(store, path, "binance")
    assert (result.loaded, result.rejected, result.skipped) == (3, 6, 2)
    assert rejected(store) == [
        ("line 5", "ORDER_TRADE_UPDATE without its order object 'o'"),
        ("line 6", "Binance trade report without a trade id ('t'): it cannot be told from a re-send of another "
                   "fill, so it is not applied; check this fill with the venue"),
        ("line 7", "field 'qty': expected a number, got lots"),
        ("line 8", "not a Binance user-data event (no event type 'e')"),
        ("line 9", "a Binance event must be a JSON object, got array"),
        ("line 10", "not valid JSON"),
    ]
    got = rows(store, "SELECT type, epoch_ns(recv_ts) // 1000000 AS recv_ms, extra->>'recv_ts_from' AS recv_from, "
                      "extra->>'$.binance.e' AS e FROM events ORDER BY seq")
    assert got == [
        {"type": "new", "recv_ms": 1727320813819, "recv_from": "E", "e": "executionReport"},
        {"type": "fill", "recv_ms": 1727320813819, "recv_from": "E", "e": "executionReport"},
        {"type": "new", "recv_ms": 1727320813900, "recv_from": "recv_ts", "e": "executionReport"},
    ]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [("T", "1727320813818.5", "field 'broker_ts': expected an RFC 3339 timestamp"),
     ("T", 17273208138180000, "got 17273208138180000 ms"),
     ("z", "-1", "field 'cum_qty': negative quantity -1")],
)
def test_bad_times_and_quantities_are_rejected_naming_the_field(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, field: str, value: Any, reason: str,
) -> None:
    path = write_lines(tmp_path / "bad.log", [{**report("NEW", "NEW"), field: value}])
    assert ingest(store, path, "binance").rejected == 1
    assert reason in rejected(store)[0][1]


def test_a_lone_surrogate_is_rejected_naming_its_field(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "reports.log", [report("NEW", "NEW"), report("NEW", "NEW", order=8, c="x\udc00")])
    result = ingest(store, path, "binance")
    assert (result.loaded, result.rejected) == (1, 1)
    assert rejected(store) == [("line 2", "field 'c' holds an unpaired surrogate (an escape such as \\ud800 that "
                                          "is half of a character), which is not text: send the character itself")]
