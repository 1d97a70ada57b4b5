"""Binance user-data streams: spot ``executionReport`` and USD-M futures ``ORDER_TRADE_UPDATE`` events.

One JSON event per line, bare, in the combined-stream envelope ``{"stream": ...,
"data": {...}}``, or as the WebSocket API pushes it, ``{"subscriptionId": ..., "event":
{...}}``. A spot event carries its order's fields itself; a futures event nests them
under ``"o"``; the letters mean the same in both. Other user-data events (account and
balance updates, list statuses, margin calls...) and replies to requests are skipped
and counted; a line that is not such an event is a rejected row.

Mapping
    * execution type ``x`` -> broker ``type``: NEW -> new (pending_new when the order
      status ``X`` is PENDING_NEW), CANCELED -> canceled, REJECTED -> rejected,
      EXPIRED -> expired, AMENDMENT -> replaced (the order goes on under the same id
      with the quantity now in ``q``); TRADE_PREVENTION (self-trade prevention) ->
      expired when ``X`` says the order expired, replaced when the venue only took
      quantity off a working order; TRADE, and futures' CALCULATED (a liquidation
      fill), -> fill when ``X`` is FILLED, else partial_fill. Any other execution type
      is a rejected row with that reason;
    * ``order_id`` is ``SYMBOL/orderId`` (``s``/``i``): order ids are unique per
      symbol, and client order ids are not unique at all (every order of a
      NexusTrader capture carries the same ``c``), so ``c`` is kept in
      ``extra.client_order_id`` only; ``broker_order_id`` is ``i``;
    * ``s``, ``S`` (lower-cased), ``q`` -> symbol, side, qty; ``p`` -> limit_px, except
      ``0``, which is how Binance says a market order has no price; ``l``, ``L`` ->
      last_qty, last_px on trades; ``z`` -> cum_qty; ``leaves_qty`` is ``q - z`` while
      the order works and 0 once ``X`` ends it (FILLED, CANCELED, REJECTED, EXPIRED,
      EXPIRED_IN_MATCH);
    * ``T`` (transaction time, ms) -> broker_ts; ``recv_ts`` is the recorder's own
      ``recv_ts`` or ``received_at`` beside the event when there is one, else the event
      time ``E`` (``extra.recv_ts_from`` says which: a log stamped by ``E`` only cannot
      show local clock skew). The whole event is kept in ``extra.binance``.

Event ids
    ``event_id`` must be the same for a re-delivered event and differ between two
    events, or the idempotency guard would take a re-send for a new fill, or a new
    fill for a re-send. Several fills of one order share a millisecond, so no time
    tells them apart: a trade is ``ORDER/trade/t``, its trade id, which names one
    match (and ORDER scopes it: both sides of a self-trade have the same ``t``). A
    trade report without a trade id is a rejected row, never applied: nothing then
    tells it from a re-send. Any other event happens once per state change of its
    order, at the transaction time the venue records for the change: it is
    ``ORDER/x/T`` (e.g. ``BNBUSDT/5863070795/NEW/1727320813818``), which a re-send
    repeats and a later change of the same kind (a second amendment) does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from ..store.checks import lit
from ..store.database import one_row
from ..store.ingest import Staged
from .jsonl import NOT_BLANK, create_lines
from .streams import case_map, epoch_millis, leaves_qty, one_of, receive_time

FORMAT = "binance"

#: User-data events that report on one order, and where each keeps the order's fields.
ORDER_EVENTS = {"executionReport": "$", "ORDER_TRADE_UPDATE": "$.o"}

#: Execution types that report a match.
TRADES = ("TRADE", "CALCULATED")

#: Execution type -> broker type, where the execution type alone decides.
EXECUTION_TYPES = {"NEW": "new", "CANCELED": "canceled", "REJECTED": "rejected", "EXPIRED": "expired",
                   "AMENDMENT": "replaced"}

#: A message with an ``id`` and one of these is the answer to a request (SUBSCRIBE, session.logon...).
REPLY_KEYS = ("result", "status", "error")

#: Order statuses after which nothing is left to fill.
ENDED = ("FILLED", "CANCELED", "REJECTED", "EXPIRED", "EXPIRED_IN_MATCH")
EXPIRED = ("EXPIRED", "EXPIRED_IN_MATCH")


def looks_like(head: str) -> bool:
    """The first event (past any replies to requests) has Binance's shape: event type ``e``, event time ``E``."""
    for line in head.splitlines()[:20]:
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            return False
        if not isinstance(message, dict):
            return False
        event = _unwrapped(message)
        if "e" in event:
            return isinstance(event["e"], str) and isinstance(event.get("E"), int)
        if not _is_reply(message):
            return False
    return False


def _unwrapped(message: dict) -> dict:
    for envelope in ("data", "event"):
        if isinstance(message.get(envelope), dict):
            return message[envelope]
    return message


def _is_reply(message: dict) -> bool:
    return "id" in message and any(key in message for key in REPLY_KEYS)


def stage(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Staged:
    """Stage the file's order events as the temporary table ``name``; say how many other messages were skipped."""
    lines = create_lines(con, path, name)
    orders = one_of(list(ORDER_EVENTS))
    order_path = case_map("e", ORDER_EVENTS)
    reply = " OR ".join(f"json_exists(j, {lit('$.' + key)})" for key in REPLY_KEYS)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {name}_parsed AS
SELECT *, CASE WHEN json_type(j) = 'OBJECT' AND (
              (e IS NOT NULL AND e NOT IN ({orders}))
              OR (e IS NULL AND json_exists(j, '$.id') AND ({reply})))
          THEN true ELSE false END AS skip,
       CASE WHEN e IN ({orders}) THEN json_extract(ev, {order_path}) END AS d
FROM (
    SELECT *, ev->>'$.e' AS e
    FROM (
        SELECT *, CASE WHEN json_type(j->'$.data') = 'OBJECT' THEN j->'$.data'
                       WHEN json_type(j->'$.event') = 'OBJECT' THEN j->'$.event' ELSE j END AS ev
        FROM (
            SELECT row_number, line, encoding_error, CASE WHEN json_valid(line) THEN line::JSON END AS j
            FROM {lines} WHERE {NOT_BLANK}
        )
    )
)""")
    ended = f"status IN ({one_of(ENDED)})"
    recv_ts, recv_ts_from = receive_time("j", epoch_millis("ev->>'$.E'"), "E")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {name} AS
SELECT row_number, 'line ' || row_number AS location, line AS raw,
       CASE WHEN encoding_error IS NOT NULL THEN encoding_error
            WHEN j IS NULL THEN 'not valid JSON'
            WHEN json_type(j) <> 'OBJECT' THEN 'a Binance event must be a JSON object, got ' || lower(json_type(j))
            WHEN e IS NULL THEN 'not a Binance user-data event (no event type ''e'')'
            WHEN json_type(d) IS DISTINCT FROM 'OBJECT' THEN e || ' without its order object ''o'''
            WHEN mapped IS NULL THEN 'Binance execution type ''' || coalesce(exec_type, '(none)')
                 || ''' with order status ''' || coalesce(status, '(none)') || ''' has no canonical event type'
            WHEN is_trade AND NOT coalesce(TRY_CAST(d->>'$.t' AS BIGINT) >= 0, false)
                 THEN 'Binance trade report without a trade id (''t''): it cannot be told from a re-send '
                      || 'of another fill, so it is not applied; check this fill with the venue' END AS pre_reason,
       'broker' AS source, mapped AS type,
       CASE WHEN is_trade THEN order_id || '/trade/' || (d->>'$.t')
            ELSE order_id || '/' || exec_type || '/' || (d->>'$.T') END AS event_id,
       order_id,
       d->>'$.i' AS broker_order_id,
       d->>'$.s' AS symbol,
       lower(d->>'$.S') AS side,
       d->>'$.q' AS qty,
       CASE WHEN TRY_CAST(d->>'$.p' AS DOUBLE) = 0 THEN NULL ELSE d->>'$.p' END AS limit_px,
       CASE WHEN is_trade THEN d->>'$.l' END AS last_qty,
       CASE WHEN is_trade THEN d->>'$.L' END AS last_px,
       d->>'$.z' AS cum_qty,
       {leaves_qty("d->>'$.q'", "d->>'$.z'", ended)} AS leaves_qty,
       {epoch_millis("d->>'$.T'")} AS broker_ts,
       {recv_ts} AS recv_ts,
       CASE WHEN ev IS NOT NULL AND json_type(ev) = 'OBJECT' THEN json_object(
           'binance', ev, 'client_order_id', d->>'$.c', 'recv_ts_from', {recv_ts_from}) END AS extra
FROM (
    SELECT *, exec_type IN ({one_of(TRADES)}) AS is_trade,
           CASE WHEN exec_type IN ({one_of(TRADES)}) THEN CASE WHEN status = 'FILLED' THEN 'fill' ELSE 'partial_fill' END
                WHEN exec_type = 'NEW' AND status = 'PENDING_NEW' THEN 'pending_new'
                WHEN exec_type = 'TRADE_PREVENTION' THEN CASE WHEN status IN ({one_of(EXPIRED)}) THEN 'expired'
                                                              WHEN NOT {ended} THEN 'replaced' END
                ELSE {case_map("exec_type", EXECUTION_TYPES)} END AS mapped
    FROM (
        SELECT *, d->>'$.x' AS exec_type, d->>'$.X' AS status, (d->>'$.s') || '/' || (d->>'$.i') AS order_id
        FROM {name}_parsed WHERE NOT skip
    )
)""")
    skipped: int = one_row(con, f"SELECT count(*) FROM {name}_parsed WHERE skip")[0]
    return Staged(skipped, "Binance messages other than order updates")
