"""The store's SQL checks and validate_event agree, because both come from safeguards.events."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb

from safeguards.events import validate_event
from tests.ingesting import ingest
from tests.test_events import fill

CASES = [
    fill(),
    fill(venue="X"),
    fill(source=...),
    fill(type=...),
    fill(source="exchange"),
    fill(type="quote"),
    fill(event_id=...),
    fill(last_px=...),
    fill(cum_qty=-1),
    fill(cum_qty=True),
    fill(cum_qty="2"),
    fill(order_id=7),
    fill(seq=1.5),
    fill(poss_dup="Y"),
    fill(side="long"),
    fill(side="sell"),
    fill(recv_ts="2026-02-21 14:30"),
    fill(recv_ts="2026-02-21T16:30:00.000000001+02:00"),
    fill(last_px=-0.5),
    {"source": "market", "type": "quote", "symbol": "SPY", "bid_px": 1, "bid_qty": 1, "ask_px": 1.1, "ask_qty": 0,
     "broker_ts": 1, "recv_ts": 2},
    {"source": "local", "type": "intent", "order_id": "h", "group_id": "g", "role": "hedge", "symbol": "S",
     "side": "buy", "qty": 1, "recv_ts": 1},
]


def test_sql_checks_give_the_same_verdict_and_field_as_validate_event(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(case) + "\n" for case in CASES))
    ingest(store, path, "jsonl")
    sql_reasons = dict(store.execute("SELECT row_number, reason FROM rejected_rows").fetchall())
    for line, case in enumerate(CASES, start=1):
        python_reason = validate_event(case)
        sql_reason = sql_reasons.get(line)
        assert (python_reason is None) == (sql_reason is None), (case, python_reason, sql_reason)
        if python_reason is not None:
            assert sql_reason.split(":")[0].split("(")[0] == python_reason.split(":")[0].split("(")[0], (case, python_reason, sql_reason)


def test_nan_from_a_json_line_is_rejected(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "nan.jsonl"
    path.write_text(json.dumps(fill(last_px=math.nan)) + "\n")  # Python writes the non-standard NaN literal
    assert ingest(store, path, "jsonl").reasons == {"field 'last_px': nan is not a finite number": 1}


def test_timestamps_keep_nanoseconds_and_convert_offsets_to_utc(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "ts.jsonl"
    path.write_text(json.dumps(fill(broker_ts="2026-02-21T16:30:00.123456789+02:00", recv_ts=1_771_684_200_123_456_790)) + "\n")
    ingest(store, path, "jsonl")
    assert store.execute("SELECT epoch_ns(broker_ts), epoch_ns(recv_ts) FROM events").fetchone() == (
        1_771_684_200_123_456_789, 1_771_684_200_123_456_790)
