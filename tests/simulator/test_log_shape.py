"""The log is canonical and realistic: valid events, arrival order, per-session numbering, labels that point home."""

from __future__ import annotations

from collections import Counter

import polars as pl

from safeguards.events import parse_timestamp, validate_event
from safeguards.simulator import NAMES, SimOptions, simulate_to
from safeguards.simulator.labels import COLUMNS

MAX_SKEW_NS = 500_000_000


def test_every_event_is_canonical_and_numbered_in_order(faulty_run):
    for number, event in enumerate(faulty_run.events, start=1):
        assert validate_event(event) is None, event
        assert event["seq"] == number


def test_clean_timing_is_well_inside_the_skew_tolerance(clean_run):
    offsets = [parse_timestamp(e["recv_ts"]) - parse_timestamp(e["broker_ts"]) for e in clean_run.events if "broker_ts" in e]
    assert min(offsets) > 0 and max(offsets) - min(offsets) < MAX_SKEW_NS / 2


def test_broker_seq_rises_by_one_without_faults(clean_run):
    numbers = [e["broker_seq"] for e in clean_run.events if e["source"] == "broker"]
    assert numbers == list(range(1, len(numbers) + 1))


def test_every_local_order_has_its_intent_before_its_submit(clean_run):
    seen_intent = set()
    for event in clean_run.events:
        if event["type"] == "intent":
            seen_intent.add(event["order_id"])
        elif event["type"] == "submit":
            assert event["order_id"] in seen_intent


def test_the_book_has_every_strategy_and_hedges_of_hedges(clean_run):
    assert set(clean_run.summary.strategies) == {"vertical", "strangle", "butterfly", "iron_condor"}
    types = Counter(e["type"] for e in clean_run.events)
    for kind in ("quote", "intent", "submit", "new", "partial_fill", "fill", "cancel_request", "canceled",
                 "rejected", "expired", "pending_new", "pending_cancel"):
        assert types[kind] > 0, kind
    hedges = {e["order_id"]: e.get("parent_id") for e in clean_run.events if e.get("role") == "hedge"}
    assert any(parent in hedges for parent in hedges.values()), "no hedge of a hedge"


def test_every_label_points_at_an_event_that_exists(faulty_run):
    by_seq = {e["seq"]: e for e in faulty_run.events}
    assert faulty_run.labels
    for label in faulty_run.labels:
        assert set(label) == set(COLUMNS)
        event = by_seq[label["seq"]]
        assert event.get("event_id") == label["event_id"]
        if label["order_id"] is not None:
            assert event["order_id"] == label["order_id"]


def test_every_fault_kind_is_injected_and_counted(faulty_run):
    counts = Counter(label["fault"] for label in faulty_run.labels)
    assert set(counts) == set(NAMES)
    assert {k: v for k, v in faulty_run.summary.faults.items() if v} == dict(counts)


def test_no_faults_means_no_labels(clean_run):
    assert clean_run.labels == []


def test_parquet_holds_the_same_events_typed(tmp_path):
    summary, labels = simulate_to(tmp_path / "s.parquet", SimOptions(seed=3, groups=100))
    frame = pl.read_parquet(tmp_path / "s.parquet")
    assert frame.height == summary.events
    assert frame["seq"].to_list() == list(range(1, summary.events + 1))
    assert frame.schema["broker_ts"] == pl.Datetime("ns", "UTC")
    assert labels.name == "s.labels.parquet" and pl.read_parquet(labels).height == sum(summary.faults.values())
