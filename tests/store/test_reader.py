"""Events read back from the store are the canonical dicts that went in."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

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
