"""Events read back from the store are the canonical dicts that went in."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from safeguards.events import validate_event
from safeguards.store import read_events
from tests.adapters.test_canonical_formats import EVENTS
from tests.ingesting import ingest


def test_events_come_back_as_they_went_in_with_extra_fields_merged(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({**event, "venue": "CBOE"}) + "\n" for event in EVENTS))
    ingest(store, path, "jsonl")
    back = list(read_events(store))
    expected = [{"account": "default", **event, "venue": "CBOE"} for event in EVENTS]
    assert back == expected
    assert all(validate_event(event) is None for event in back)


def test_reading_one_ingest_only(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    for name, event in (("a", EVENTS[0]), ("b", EVENTS[1])):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps(event) + "\n")
        ingest(store, tmp_path / f"{name}.jsonl", "jsonl")
    assert [e["event_id"] for e in read_events(store, [2])] == ["s1"]


_DAY = 1_771_684_200_000_000_000  # 2026-02-21T14:30:00Z in ns


def _log(tmp_path: Path, name: str, stamps: list[int]) -> Path:
    """A log of quotes, one per receive time (ms into the day), in this order; ``event_id`` names the log and position."""
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({
        "source": "market", "type": "quote", "event_id": f"{name}{i}", "symbol": "SPY", "bid_px": 1.0, "bid_qty": 10,
        "ask_px": 1.1, "ask_qty": 10, "broker_ts": _DAY + stamp * 1_000_000 - 5_000, "recv_ts": _DAY + stamp * 1_000_000})
        + "\n" for i, stamp in enumerate(stamps)))
    return path


@pytest.mark.parametrize("check_batch", [2, 262_144])  # 2: log a's step back falls between two batches of the check
def test_logs_that_overlap_in_time_come_back_merged_by_arrival_each_in_its_own_order(
        store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, check_batch: int) -> None:
    """Two venues' logs of one day are read as the events arrived, not one log after the other.

    Log a's clock steps back once (30 then 25): its events still keep their log order.
    """
    import safeguards.store.reader as reader
    from safeguards.store.reader import BY_ARRIVAL, replay_order

    monkeypatch.setattr(reader, "_CHECK_BATCH", check_batch)
    ingest(store, _log(tmp_path, "a", [10, 30, 25, 50]), "jsonl")
    ingest(store, _log(tmp_path, "b", [20, 26, 60]), "jsonl")
    assert replay_order(store) == BY_ARRIVAL  # a's step back needs its running maximum
    assert [e["event_id"] for e in read_events(store)] == ["a0", "b0", "b1", "a1", "a2", "a3", "b2"]
    assert [e["event_id"] for e in read_events(store, [2])] == ["b0", "b1", "b2"]


def test_overlapping_logs_whose_clocks_never_step_back_are_merged_by_a_plain_sort(store, tmp_path: Path) -> None:
    """The cheaper order gives the same events in the same order as the running maximum does."""
    from safeguards.store.reader import BY_ARRIVAL, BY_RECV, _query, replay_order

    ingest(store, _log(tmp_path, "a", [10, 30, 30, 50]), "jsonl")
    ingest(store, _log(tmp_path, "b", [20, 30, 60]), "jsonl")
    assert replay_order(store) == BY_RECV
    assert [e["event_id"] for e in read_events(store)] == ["a0", "b0", "a1", "a2", "b1", "a3", "b2"]
    rows = [store.execute(_query("", order)).fetchall() for order in (BY_RECV, BY_ARRIVAL)]
    assert rows[0] == rows[1]


def test_logs_ingested_out_of_time_order_come_back_in_time_order(store, tmp_path: Path) -> None:
    ingest(store, _log(tmp_path, "tuesday", [200, 210]), "jsonl")
    ingest(store, _log(tmp_path, "monday", [100, 110]), "jsonl")
    assert [e["event_id"] for e in read_events(store)] == ["monday0", "monday1", "tuesday0", "tuesday1"]


def test_logs_one_after_another_come_back_log_by_log(store, tmp_path: Path) -> None:
    """Touching is not overlapping: the second log may begin at the first one's last instant."""
    ingest(store, _log(tmp_path, "a", [10, 20]), "jsonl")
    ingest(store, _log(tmp_path, "b", [20, 30]), "jsonl")
    assert [e["event_id"] for e in read_events(store)] == ["a0", "a1", "b0", "b1"]
