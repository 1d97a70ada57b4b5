"""The store's SQL checks and validate_event agree, because both come from safeguards.events."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safeguards.events import FIELDS, validate_event
from tests.ingesting import ingest
from tests.test_events import fill, valid_events

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
    fill(recv_ts="1771684200123456789"),  # integer nanoseconds are a number, not a string, in JSON
    fill(recv_ts="9999-12-31T23:59:59Z"),
    fill(broker_seq=1 << 63),
    fill(broker_seq=(1 << 63) - 1),
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


_junk_values = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["2026-02-21T14:30:00Z", "2026-02-21t14:30:00.5+01:00", "2026-02-21 14:30:00.1-05:30",
                       "1771684200123456789", "2026-02-30T00:00:00Z", "2026-02-21T14:30:00+24:00", "buy", "hedge"])
)
_mutations = st.dictionaries(st.sampled_from(sorted(FIELDS)), _junk_values, max_size=2)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(valid_events(), _mutations), min_size=1, max_size=40))
def test_sql_checks_and_validate_event_agree_on_random_events(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, cases: list[tuple[dict, dict]]
) -> None:
    events = [{**event, **mutation} for event, mutation in cases]
    path = tmp_path / f"random-{uuid.uuid4().hex}.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in events))
    result = ingest(store, path, "jsonl")
    sql_rejected = {row[0] for row in store.execute(
        "SELECT row_number FROM rejected_rows WHERE ingest_id = ?", [result.ingest_id]).fetchall()}
    for line, event in enumerate(events, start=1):
        assert (validate_event(event) is None) == (line not in sql_rejected), (event, validate_event(event))
