"""Alpaca-style trade updates, one JSON object per line, bare or in the stream envelope.

Each line is either a trade update ``{"event": "fill", "execution_id": ..., "timestamp":
..., "price": ..., "qty": ..., "order": {...}}`` or the websocket envelope
``{"stream": "trade_updates", "data": {...}}``. Mapping:

* ``event`` -> broker ``type``: new, pending_new, partial_fill, fill, canceled, expired,
  replaced, rejected, pending_cancel, pending_replace as they are;
  ``order_cancel_rejected`` -> ``cancel_rejected``. Events with no canonical type
  (done_for_day, stopped, suspended, calculated, order_replace_rejected...) are
  rejected rows with that reason;
* ``execution_id`` -> ``event_id``; ``order.client_order_id`` -> ``order_id``;
  ``order.id`` -> ``broker_order_id``; ``order.symbol``, ``order.side``, ``order.qty``,
  ``order.limit_price`` -> symbol, side, qty, limit_px; ``qty`` and ``price`` of the
  update -> last_qty, last_px; ``order.filled_qty`` -> cum_qty;
* ``leaves_qty`` is ``order.qty - order.filled_qty`` while the order is working and 0
  once the event ends it (fill, canceled, expired, rejected, replaced);
* ``timestamp`` -> broker_ts; ``recv_ts`` is the line's own ``recv_ts`` or
  ``received_at`` if the recorder added one, else ``timestamp`` (``extra.recv_ts_from``
  says which). Alpaca sends quantities and prices as strings; they are cast and
  checked like any other value. The whole update is kept in ``extra.alpaca``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from .jsonl import NOT_BLANK, create_lines, first_json_line
from .streams import case_map, leaves_qty, one_of, receive_time

FORMAT = "alpaca"

EVENT_TYPES = {
    "new": "new", "pending_new": "pending_new", "accepted": "pending_new", "partial_fill": "partial_fill",
    "fill": "fill", "canceled": "canceled", "expired": "expired", "replaced": "replaced",
    "rejected": "rejected", "pending_cancel": "pending_cancel", "pending_replace": "pending_replace",
    "order_cancel_rejected": "cancel_rejected",
}
ENDING_EVENTS = ("fill", "canceled", "expired", "rejected", "replaced")


def looks_like(head: str) -> bool:
    """A first non-blank line that is a trade update (``event`` and ``order``) or its envelope."""
    first = first_json_line(head)
    if not isinstance(first, dict):
        return False
    update = first.get("data") if first.get("stream") == "trade_updates" else first
    return isinstance(update, dict) and "event" in update and "order" in update


def stage(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> int:
    """Stage the file's trade updates as the temporary table ``name`` (parsed once, read twice)."""
    recv_ts, recv_ts_from = receive_time("j", "d->>'$.timestamp'", "timestamp")
    leaves = leaves_qty("d->>'$.order.qty'", "d->>'$.order.filled_qty'", f"mapped IN ({one_of(ENDING_EVENTS)})")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {name} AS
SELECT row_number, 'line ' || row_number AS location, line AS raw,
       CASE WHEN encoding_error IS NOT NULL THEN encoding_error
            WHEN j IS NULL THEN 'not valid JSON'
            WHEN json_type(d) IS DISTINCT FROM 'OBJECT' THEN 'a trade update must be a JSON object'
            WHEN event IS NULL THEN 'missing field ''event'' (the trade update''s kind)'
            WHEN mapped IS NULL THEN 'Alpaca event ''' || event || ''' has no canonical event type' END
         AS pre_reason,
       'broker' AS source, mapped AS type,
       d->>'$.execution_id' AS event_id,
       d->>'$.order.client_order_id' AS order_id,
       d->>'$.order.id' AS broker_order_id,
       d->>'$.order.symbol' AS symbol,
       d->>'$.order.side' AS side,
       d->>'$.order.qty' AS qty,
       d->>'$.order.limit_price' AS limit_px,
       d->>'$.qty' AS last_qty,
       d->>'$.price' AS last_px,
       d->>'$.order.filled_qty' AS cum_qty,
       {leaves} AS leaves_qty,
       d->>'$.timestamp' AS broker_ts,
       {recv_ts} AS recv_ts,
       CASE WHEN d IS NOT NULL THEN json_object('alpaca', d, 'recv_ts_from', {recv_ts_from}) END AS extra
FROM (
    SELECT *, d->>'$.event' AS event, {case_map("d->>'$.event'", EVENT_TYPES)} AS mapped
    FROM (
        SELECT *, CASE WHEN j->>'$.stream' = 'trade_updates' THEN j->'$.data' ELSE j END AS d
        FROM (
            SELECT row_number, line, encoding_error, CASE WHEN json_valid(line) THEN line::JSON END AS j
            FROM {create_lines(con, path, name)} WHERE {NOT_BLANK}
        )
    )
)""")
    return 0
