"""OKX orders-channel pushes printed as Python dicts: the real capture, and the edge cases."""

from __future__ import annotations

import ast
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

CAPTURE = "nexustrader-okx-orders/okx_orders.log"
BIG_SELL = "BTC-USDT/1848670189392691200"  # 3.00708129 BTC, a maker sell filled in many pieces
QUOTE_SIZED = "ETH-BTC/1883447032301682688"  # a market buy of 0.005 BTC worth of ETH

ACK = {"event": "subscribe", "arg": {"channel": "orders", "instType": "ANY"}, "connId": "7e28de68"}
ARG = {"channel": "orders", "instType": "ANY", "uid": "42"}


def order(state: str, *, ord_id: str = "1001", sz: str = "2", acc: str = "0", fill: str = "0", px: str = "100.5",
          trade: str = "", u_time: str = "1727597064972", **fields: str) -> dict[str, str]:
    """One order of an orders push, as OKX sends it (strings throughout, '' for none)."""
    return {"instType": "SPOT", "instId": "BTC-USDT", "ordId": ord_id, "clOrdId": "", "px": px, "sz": sz,
            "ordType": "limit", "side": "sell", "tgtCcy": "", "accFillSz": acc, "avgPx": "0", "state": state,
            "uTime": u_time, "cTime": "1727597064972", "fillPx": px if trade else "", "tradeId": trade,
            "fillSz": fill, "fillTime": u_time if trade else "", "amendResult": "", "lastPx": "100.4", **fields}


def push(*orders: dict[str, str], **beside: Any) -> str:
    """The line a Python recorder prints for one push: the dict's repr."""
    return repr({"arg": ARG, "data": list(orders), **beside})


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_capture_with_acks_and_a_line_cut_short(store: duckdb.DuckDBPyConnection) -> None:
    path = real_file(CAPTURE)
    assert guess_format(path) == "okx"
    result = ingest(store, path, "okx")
    assert (result.loaded, result.rejected, result.skipped) == (51, 1, 3)  # login, subscribe, connection-count acks
    assert rejected(store) == [
        ("line 55", "not a whole printed dict: '{' was never closed at column 1 (the line may be cut short)")]
    assert dict(store.execute("SELECT extra->>'$.okx.state', count(*) FROM events GROUP BY 1").fetchall()) == {
        "live": 17, "partially_filled": 18, "filled": 15, "canceled": 1}
    assert dict(store.execute("SELECT type, count(*) FROM events GROUP BY 1").fetchall()) == {
        "new": 17, "partial_fill": 18, "fill": 15, "canceled": 1}
    # The last order's fill is the line cut short: it stays live.
    assert dict(store.execute("SELECT state, count(*) FROM order_states GROUP BY state").fetchall()) == {
        "fill": 15, "canceled": 1, "new": 1}
    assert store.execute("SELECT count(*), count(DISTINCT event_id), count(DISTINCT order_id), "
                         "count(extra->>'client_order_id') FROM events").fetchone() == (51, 51, 17, 4)
    assert store.execute("SELECT count(*) FROM (SELECT DISTINCT symbol, broker_order_id FROM events)").fetchone() == (
        17,)
    assert store.execute("SELECT DISTINCT extra->>'recv_ts_from' FROM events").fetchall() == [("uTime",)]
    assert "uTime" in BROKER_CLOCKS


def test_the_big_sell_filled_in_pieces_sharing_milliseconds_adds_up(store: duckdb.DuckDBPyConnection) -> None:
    ingest(store, real_file(CAPTURE), "okx")
    fills = rows(store, "SELECT type, event_id, last_qty, cum_qty, qty, epoch_ns(broker_ts) AS at FROM events "
                        "WHERE order_id = ? AND type IN ('partial_fill', 'fill') ORDER BY seq", BIG_SELL)
    assert [f["type"] for f in fills] == ["partial_fill"] * 16 + ["fill"]
    assert len({f["event_id"] for f in fills}) == len(fills)
    assert max(Counter(f["at"] for f in fills).values()) >= 7  # seven fills pushed in one millisecond
    assert sum(f["last_qty"] for f in fills) == pytest.approx(fills[-1]["cum_qty"]) == pytest.approx(3.00708129)
    assert fills[-1]["qty"] == 3.00708129
    cums = [f["cum_qty"] for f in fills]
    assert cums == sorted(cums) and len(set(cums)) == len(cums)


def test_a_quote_sized_market_order_has_no_base_qty_and_is_not_judged_for_overfill(
    store: duckdb.DuckDBPyConnection,
) -> None:
    ingest(store, real_file(CAPTURE), "okx")
    got = rows(store, "SELECT type, qty, last_qty, cum_qty, leaves_qty, extra->>'sized_in_quote_ccy' AS in_quote, "
                      "extra->'$.okx'->>'sz' AS sz FROM events WHERE order_id = ? ORDER BY seq", QUOTE_SIZED)
    assert [(e["type"], e["qty"], e["cum_qty"], e["leaves_qty"], e["in_quote"], e["sz"]) for e in got] == [
        ("new", None, 0, 0, "true", "0.005"), ("partial_fill", None, 0.126039, 0, "true", "0.005"),
        ("fill", None, 0.126039, 0, "true", "0.005")]  # 0.005 BTC bought 0.126039 ETH
    assert got[2]["last_qty"] == 0  # ended with no trade: too little was left to buy
    assert store.execute("SELECT count(*) FROM events WHERE extra->>'sized_in_quote_ccy' IS NOT NULL").fetchone() == (3,)
    _, alerts = run(engine(), list(read_events(store)))
    assert not [a for a in alerts if a["order_id"] == QUOTE_SIZED and a["kind"] in ("overfill", "fill_conflict")]


def test_a_push_of_several_orders_is_a_row_each_and_a_resend_keeps_its_ids(
    store: duckdb.DuckDBPyConnection, tmp_path: Path,
) -> None:
    live = order("live", clOrdId="mine-1")
    other = order("live", ord_id="1002", sz="1")
    part = order("partially_filled", acc="0.5", fill="0.5", trade="77", u_time="1727597074014")
    part2 = order("partially_filled", acc="1.5", fill="1", trade="78", u_time="1727597074014")
    lines = [repr(ACK), push(live, other), push(part), push(part2), push(part),
             json.dumps({"arg": ARG, "data": [order("canceled", acc="1.5", u_time="1727597075000")]})]
    path = write_lines(tmp_path / "orders.log", lines)
    assert guess_format(path) == "okx"
    result = ingest(store, path, "okx")
    assert (result.loaded, result.rejected, result.skipped) == (6, 0, 1)
    got = rows(store, "SELECT seq, type, event_id, order_id, leaves_qty, last_qty, last_px, "
                      "extra->>'client_order_id' AS client FROM events ORDER BY seq")
    assert [(e["seq"], e["type"], e["event_id"], e["leaves_qty"]) for e in got] == [
        (1, "new", "BTC-USDT/1001/live/1727597064972", 2),
        (2, "new", "BTC-USDT/1002/live/1727597064972", 1),
        (3, "partial_fill", "BTC-USDT/1001/trade/77", 1.5),
        (4, "partial_fill", "BTC-USDT/1001/trade/78", 0.5),
        (5, "partial_fill", "BTC-USDT/1001/trade/77", 1.5),
        (6, "canceled", "BTC-USDT/1001/canceled/1727597075000", 0),
    ]
    assert got[0]["client"] == "mine-1" and got[1]["client"] is None
    assert (got[2]["last_qty"], got[2]["last_px"]) == (0.5, 100.5)
    decisions, _ = run(engine(), list(read_events(store)))
    assert verdicts(decisions) == ["accept", "accept", "accept", "accept", "duplicate", "accept"]


def test_states_amendments_and_pushes_without_a_trade(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    lines = [
        push(order("live", amendResult="0", sz="1.5", u_time="1727597064980")),
        push(order("live", amendResult="-1", u_time="1727597064990")),
        push(order("mmp_canceled", ord_id="1003")),
        push(order("filled", ord_id="1004", acc="2", avgPx="100.25")),
        push(order("effective", ord_id="1005")),
        push(order("filled", ord_id="1006", acc="2", fill="2")),  # a fill without its trade id
    ]
    result = ingest(store, write_lines(tmp_path / "states.log", lines), "okx")
    assert (result.loaded, result.rejected) == (4, 2)
    got = rows(store, "SELECT type, qty, last_qty, last_px, leaves_qty FROM events ORDER BY seq")
    assert [(e["type"], e["qty"], e["leaves_qty"]) for e in got] == [
        ("replaced", 1.5, 1.5), ("cancel_rejected", 2, 2), ("canceled", 2, 0), ("fill", 2, 0)]
    assert (got[3]["last_qty"], got[3]["last_px"]) == (0, 100.25)
    assert rejected(store) == [
        ("line 5", "OKX order state 'effective' has no canonical event type"),
        ("line 6", "OKX fill without a trade id ('tradeId'): it cannot be told from a re-send of another fill, "
                   "so it is not applied; check this fill with the venue"),
    ]


def test_hostile_and_broken_lines_are_rejected_never_run(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    lines = [
        repr(ACK),
        f"{{'arg': {ARG!r}, 'data': [__import__('pathlib').Path({str(marker)!r}).touch()]}}",
        "{'arg': {'channel': 'orders'}, 'data': " + "[" * 40 + "]" * 40 + "}",
        "{'arg': {'channel': 'orders'}, 'data': [{'instId': 'BTC-USDT', 'sz': {1, 2}}]}",
        "{'arg': {'channel': 'orders'}, 'data': [{'instId': 'BTC-USDT'}, 'not an order']}",
        "{'arg': {'channel': 'orders'}, 'data': {'instId': 'BTC-USDT'}}",
        "{'arg': {'channel': 'account'}, 'data': [{'ccy': 'BTC'}]}",
        "{'event': 'error', 'code': '60012', 'msg': 'Invalid request', 'connId': '7e28de68'}",
        "{'id': '1', 'op': 'order'}",
        "{'arg': {'channel': 'orders'}, 'data': []}",
        push(order("live"), recv_ts="2024-09-29T08:04:25.100Z"),
    ]
    result = ingest(store, write_lines(tmp_path / "hostile.log", lines), "okx")
    assert not marker.exists()
    assert (result.loaded, result.skipped) == (1, 4)
    assert rejected(store) == [
        ("line 2", "not a printed dict of plain values (it holds a name, a call or an operator)"),
        ("line 3", "brackets nested 41 deep, above the 32 read"),
        ("line 4", "holds a value JSON cannot carry (Object of type set is not JSON serializable)"),
        ("line 5, order 1 of 2", "OKX order state '(none)' has no canonical event type"),
        ("line 5, order 2 of 2", "not an order but a str"),
        ("line 6", "an orders push without its 'data' list"),
        ("line 9", "not an OKX message (no 'event', and no 'arg' naming its channel)"),
    ]
    got = rows(store, "SELECT epoch_ns(recv_ts) AS recv, epoch_ns(broker_ts) AS at, extra->>'recv_ts_from' AS src, "
                      "extra->'$.okx_arg'->>'channel' AS channel FROM events")
    assert got == [{"recv": 1_727_597_065_100_000_000, "at": 1_727_597_064_972_000_000, "src": "recv_ts",
                    "channel": "orders"}]


def test_a_lone_surrogate_printed_or_as_json_is_rejected_naming_its_field(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Not text, so not storable: it used to end the ingest with UnicodeEncodeError."""
    odd = order("live", ord_id="10\ud800")
    lines = [push(order("live")), push(odd), json.dumps({"arg": ARG, "data": [odd]}), repr({"arg": ARG, "\udfff": 1})]
    result = ingest(store, write_lines(tmp_path / "odd.log", lines), "okx")
    assert (result.loaded, result.rejected) == (1, 3)
    why = "holds an unpaired surrogate (an escape such as \\ud800 that is half of a character), which is not text"
    assert [(where, reason.split(": send")[0]) for where, reason in rejected(store)] == [
        ("line 2", f"field 'data' {why}"), ("line 3", f"field 'data' {why}"), ("line 4", f"field '\\udfff' {why}")]


def test_each_order_is_kept_whole_as_it_was_printed(store: duckdb.DuckDBPyConnection) -> None:
    path = real_file(CAPTURE)
    ingest(store, path, "okx")
    printed = []
    for line in path.read_text().splitlines():
        try:
            printed += ast.literal_eval(line).get("data", [])
        except SyntaxError:
            pass  # the line cut short
    kept = [json.loads(extra) for (extra,) in store.execute("SELECT extra->'$.okx' FROM events ORDER BY seq").fetchall()]
    assert kept == printed
