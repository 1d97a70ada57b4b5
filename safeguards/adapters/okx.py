"""OKX private ``orders`` channel pushes, as a Python recorder prints them (or as JSON).

Each line is one websocket message: a printed dict (single quotes, ``True``/``False``:
see :mod:`.literal`, which reads it as data, within bounds) or the same as JSON. Acks
(``{'event': 'login' | 'subscribe' | 'error' | 'channel-conn-count', ...}``) and pushes
of other channels are skipped and counted. An ``orders`` push ``{'arg': {...}, 'data':
[order, ...]}`` may carry several orders: each is one staged row, located as
``line N, order K of M``, its ``seq`` its place among the orders pushed. A line that cannot be read (one cut short, say) is a
rejected row with the reason.

Mapping (fields of each order in ``data``)
    * ``fillSz`` above 0 is a trade: ``fill`` when ``state`` is filled, else
      ``partial_fill``, with ``fillSz``/``fillPx`` as last_qty/last_px. Otherwise
      ``state`` decides: live -> new; canceled, mmp_canceled -> canceled; filled ->
      fill and partially_filled -> partial_fill when no trade comes with the push
      (OKX ends a quote-sized market order this way once too little is left to
      trade), with last_qty 0 and the order's ``avgPx``; an amendment's answer
      (``amendResult`` 0 or 2) on a working order -> replaced, a refused one (-1) ->
      cancel_rejected (the engine reverts a pending replace). Any other state is a
      rejected row;
    * ``order_id`` is ``instId/ordId`` (``clOrdId`` is mostly empty and only unique if
      the client made it so: it stays in ``extra.client_order_id``); ``broker_order_id``
      is ``ordId``; ``instId``, ``side``, ``sz``, ``px`` (empty on market orders),
      ``accFillSz`` -> symbol, side, qty, limit_px, cum_qty;
    * ``leaves_qty`` is ``sz - accFillSz`` while the order works, 0 once it is filled or
      canceled. A spot market order sized in the quote currency (``tgtCcy``
      quote_ccy) has ``sz`` in that currency but fills in the base one, so neither its
      size nor what is left of it is known in the unit of its fills: its qty is left
      out, its leaves_qty is 0 (the schema needs one on every broker event; the engine
      reads no size from a 0, and judges no overfill on an order without a quantity,
      where ``sz`` itself would read the first fill as one), and
      ``extra.sized_in_quote_ccy`` is true;
    * ``uTime`` (the order's update time, ms) -> broker_ts and, unless the recorder
      wrote its own ``recv_ts`` or ``received_at`` beside the push, recv_ts
      (``extra.recv_ts_from`` says which). ``uTime`` rises with every change of one
      order; a fill's ``fillTime`` (the match) comes before the push reporting it, and
      in the capture equals the time of the push before that one, so it cannot keep an
      order's pushes in order. The order is kept whole in ``extra.okx``, the push's
      ``arg`` in ``extra.okx_arg``.

Event ids
    A fill is ``ORDER/trade/tradeId``: seven fills of one order share a millisecond
    in the capture, and only the trade id tells them apart; a fill without one is a
    rejected row, never applied (it could not be told from a re-send). Any other
    push is ``ORDER/state/uTime``: one state change of the order at the time OKX
    records for it, which a re-send repeats and a later change does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from ..jsonlines import lone_surrogate_field, lone_surrogate_reason
from ..store.ingest import Staged
from .jsonl import NOT_BLANK, create_lines
from .literal import UnreadableLine, as_json, read_dict
from .streams import epoch_millis, leaves_qty, one_of, receive_time

FORMAT = "okx"

CHANNEL = "orders"

#: Order states after which nothing is left to fill.
ENDED = ("filled", "canceled", "mmp_canceled")
CANCELED = ("canceled", "mmp_canceled")

#: ``amendResult`` values: the amendment took effect, or was refused.
AMENDED = ("0", "2")
AMEND_REFUSED = ("-1",)

_COLUMNS = ("row_number", "location", "raw", "pre_reason", "order_json", "push_json")
_BATCH = 10_000


def looks_like(head: str) -> bool:
    """The first non-blank line is an OKX websocket message: a push naming its channel, or an ack."""
    for line in head.splitlines():
        if line.strip():
            try:
                message = read_dict(line)
            except UnreadableLine:
                return False
            arg = message.get("arg")
            return (isinstance(arg, dict) and "channel" in arg) or (
                isinstance(message.get("event"), str) and "connId" in message)
    return False


class PushReader:
    """Turns a log's lines into staged rows, one per order pushed; counts what is skipped."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.skipped = 0

    def read(self, number: int, line: str, encoding_error: str | None) -> None:
        where = f"line {number}"
        if encoding_error is not None:
            return self._reject(where, line, encoding_error)
        try:
            message = read_dict(line)
        except UnreadableLine as error:
            return self._reject(where, line, str(error))
        field = lone_surrogate_field(line.encode("utf-8"), message)  # a printed dict's '\ud800' (JSON's: see jsonl)
        if field is not None:
            return self._reject(where, line, lone_surrogate_reason(field))
        arg = message.get("arg")
        if "event" in message or (isinstance(arg, dict) and arg.get("channel") != CHANNEL):
            self.skipped += 1  # an ack, an error answer, another channel's push
            return None
        if not isinstance(arg, dict):
            return self._reject(where, line, "not an OKX message (no 'event', and no 'arg' naming its channel)")
        data = message.get("data")
        if not isinstance(data, list):
            return self._reject(where, line, "an orders push without its 'data' list")
        if not data:
            self.skipped += 1
            return None
        try:
            push = as_json({key: value for key, value in message.items() if key != "data"})
        except UnreadableLine as error:
            return self._reject(where, line, str(error))
        for index, order in enumerate(data, start=1):
            location = where if len(data) == 1 else f"{where}, order {index} of {len(data)}"
            if not isinstance(order, dict):
                self._reject(location, line, f"not an order but a {type(order).__name__}")
                continue
            try:
                self.rows.append((len(self.rows) + 1, location, line, None, as_json(order), push))
            except UnreadableLine as error:
                self._reject(location, line, str(error))
        return None

    def _reject(self, location: str, line: str, reason: str) -> None:
        self.rows.append((len(self.rows) + 1, location, line, reason, None, None))

    def frame(self) -> Any:
        import polars as pl

        schema = {name: pl.Utf8 for name in _COLUMNS} | {"row_number": pl.Int64}
        return pl.DataFrame(self.rows, schema=schema, orient="row")


def stage(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> Staged:
    """Stage the file's order updates as the temporary table ``name``; say how many messages were skipped."""
    lines = create_lines(con, path, name)
    reader = PushReader()
    result = con.execute(f"SELECT row_number, line, encoding_error FROM {lines} WHERE {NOT_BLANK} ORDER BY row_number")
    while batch := result.fetchmany(_BATCH):
        for number, line, encoding_error in batch:
            reader.read(number, line, encoding_error)
    con.register(f"{name}_frame", reader.frame())
    try:
        con.execute(_mapping(name))
    finally:
        con.unregister(f"{name}_frame")
    return Staged(reader.skipped, "OKX acks and other channels' pushes")


def _mapping(name: str) -> str:
    ended = f"state IN ({one_of(ENDED)})"
    recv_ts, recv_ts_from = receive_time("p", epoch_millis("o->>'$.uTime'"), "uTime")
    return f"""CREATE OR REPLACE TEMP TABLE {name} AS
SELECT row_number, location, raw,
       coalesce(pre_reason,
           CASE WHEN mapped IS NULL THEN 'OKX order state ''' || coalesce(state, '(none)') || ''' has no canonical event type'
                WHEN is_trade AND coalesce(o->>'$.tradeId', '') = ''
                THEN 'OKX fill without a trade id (''tradeId''): it cannot be told from a re-send of another fill, '
                     || 'so it is not applied; check this fill with the venue' END) AS pre_reason,
       'broker' AS source, mapped AS type,
       CASE WHEN is_trade THEN order_id || '/trade/' || (o->>'$.tradeId')
            ELSE order_id || '/' || state || '/' || (o->>'$.uTime') END AS event_id,
       order_id,
       o->>'$.ordId' AS broker_order_id,
       o->>'$.instId' AS symbol,
       o->>'$.side' AS side,
       CASE WHEN NOT quote_sized THEN o->>'$.sz' END AS qty,
       nullif(o->>'$.px', '') AS limit_px,
       CASE WHEN is_trade THEN o->>'$.fillSz' WHEN mapped IN ('fill', 'partial_fill') THEN '0' END AS last_qty,
       CASE WHEN is_trade THEN o->>'$.fillPx' WHEN mapped IN ('fill', 'partial_fill') THEN o->>'$.avgPx' END AS last_px,
       o->>'$.accFillSz' AS cum_qty,
       {leaves_qty("o->>'$.sz'", "o->>'$.accFillSz'", f"quote_sized OR {ended}")} AS leaves_qty,
       {epoch_millis("o->>'$.uTime'")} AS broker_ts,
       {recv_ts} AS recv_ts,
       CASE WHEN o IS NOT NULL THEN json_merge_patch('{{}}', json_object(
           'okx', o, 'okx_arg', p->'$.arg', 'client_order_id', nullif(o->>'$.clOrdId', ''),
           'recv_ts_from', {recv_ts_from}, 'sized_in_quote_ccy', CASE WHEN quote_sized THEN true END)) END AS extra
FROM (
    SELECT *,
           CASE WHEN is_trade THEN CASE WHEN state = 'filled' THEN 'fill' ELSE 'partial_fill' END
                WHEN state IN ({one_of(CANCELED)}) THEN 'canceled'
                WHEN state IN ('live', 'partially_filled') AND o->>'$.amendResult' IN ({one_of(AMENDED)}) THEN 'replaced'
                WHEN state IN ('live', 'partially_filled') AND o->>'$.amendResult' IN ({one_of(AMEND_REFUSED)})
                THEN 'cancel_rejected'
                WHEN state = 'live' THEN 'new'
                WHEN state = 'partially_filled' THEN 'partial_fill'
                WHEN state = 'filled' THEN 'fill' END AS mapped
    FROM (
        SELECT *, o->>'$.state' AS state, coalesce(TRY_CAST(o->>'$.fillSz' AS DOUBLE) > 0, false) AS is_trade,
               coalesce(o->>'$.tgtCcy' = 'quote_ccy', false) AS quote_sized,
               (o->>'$.instId') || '/' || (o->>'$.ordId') AS order_id
        FROM (SELECT *, order_json::JSON AS o, push_json::JSON AS p FROM {name}_frame)
    )
)"""
