"""Differential test: every engine implementation decides exactly as the Python engine, the oracle.

Run over the golden stream (every verdict, advances, malformed events), a
simulated log with every fault kind, and every real log in ../shared/data/real
as the backtest replays it (a stored log, its sessions' traits, the bulk path).
Compared: each decision whole (verdict, guard, rule, reason, ids), each alert
whole, in order, and the final snapshot. The conformance suite is the
specification; this test is how a port finds where it differs from the
engine it replaces while both exist.

``--differential-events N`` sets the simulated log's size (default 20,000, CI);
a port is checked locally on millions.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from itertools import zip_longest
from pathlib import Path
from typing import Any

import pytest

from safeguards.events import FIELDS
from safeguards.policy import CompiledPolicy
from safeguards.screening import check_event
from tests.engines import IMPLEMENTATIONS
from tests.eventkit import reference_policy
from tests.golden_stream import golden_items

ORACLE = "python"
PORTS = sorted(name for name in IMPLEMENTATIONS if name != ORACLE)
pytestmark = pytest.mark.skipif(not PORTS, reason="no engine implementation besides the Python oracle yet")

#: An item is ("event", event), ("advance", ns), ("session", (key, traits)) or ("stored", (event, fields)).
Item = tuple[str, Any]


def transcript(make_engine: Callable[[CompiledPolicy], Any], policy: CompiledPolicy, items: Iterable[Item]) -> Iterator[Any]:
    """Everything an engine says over ``items``: each decision and the alerts after it, then its snapshot."""
    engine = make_engine(policy)
    for what, value in items:
        if what == "event":
            yield engine.process(value)
        elif what == "stored":
            yield engine.process_stored(*value)
        elif what == "advance":
            yield ("advanced", engine.advance(value))
            continue
        elif what == "session":
            engine.use_session(*value)
            continue
        yield engine.pop_alerts()
    yield engine.snapshot()


_END = object()


def first_difference(oracle: Iterable[Any], port: Iterable[Any]) -> str | None:
    """The first step at which the two transcripts differ; they are walked in step, so memory stays flat."""
    for index, (want, got) in enumerate(zip_longest(oracle, port, fillvalue=_END)):
        if want is _END or got is _END:
            return f"step {index}: {'python' if want is _END else 'port'} ended first"
        if want != got:
            return (f"step {index}:\n  python: {json.dumps(want, default=str)[:2000]}\n"
                    f"  port:   {json.dumps(got, default=str)[:2000]}")
    return None


def stored(event: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]] | None:
    """The event as the store gives it back (int ns timestamps, canonical fields named), or None if it is invalid."""
    reason, broker_ts, recv_ts, _ = check_event(event)
    if reason is not None:
        return None
    back = {**event, "recv_ts": recv_ts, **({} if broker_ts is None else {"broker_ts": broker_ts})}
    return back, tuple(name for name in FIELDS if back.get(name) is not None)


@pytest.mark.parametrize("port", PORTS)
def test_the_golden_stream_one_event_at_a_time(port: str) -> None:
    policy = reference_policy()
    items = golden_items()
    assert first_difference(transcript(IMPLEMENTATIONS[ORACLE], policy, items),
                            transcript(IMPLEMENTATIONS[port], policy, items)) is None


@pytest.mark.parametrize("port", PORTS)
def test_the_golden_stream_as_stored_events(port: str) -> None:
    policy = reference_policy()
    items: list[Item] = []
    for what, value in golden_items():
        if what == "event":
            back = stored(value)
            items.append(("stored", back) if back is not None else ("event", value))
        else:
            items.append((what, value))
    assert first_difference(transcript(IMPLEMENTATIONS[ORACLE], policy, items),
                            transcript(IMPLEMENTATIONS[port], policy, items)) is None


@pytest.fixture(scope="module")
def faulty_log(tmp_path_factory, request) -> Path:
    from safeguards.simulator import SimOptions, default_rates, simulate_to

    events = request.config.getoption("--differential-events")
    rates = {**{name: 0.03 for name in default_rates()}, "duplicate": 0.01, "sequence_gap": 0.005,
             "clock_skew": 0.004, "future_timestamp": 0.004}
    path = tmp_path_factory.mktemp("differential") / "faulty.jsonl"
    simulate_to(path, SimOptions(seed=5, events=events, rates=rates))
    return path


@pytest.mark.parametrize("port", PORTS)
def test_a_simulated_log_with_every_fault_kind(port: str, faulty_log: Path) -> None:
    """Read twice, once per engine, so that ``--differential-events 10000000`` runs in flat memory."""
    from safeguards.simulator.scoring import read_jsonl

    policy = reference_policy()

    def items() -> Iterator[Item]:
        return (("event", event) for event in read_jsonl(faulty_log))
    assert first_difference(transcript(IMPLEMENTATIONS[ORACLE], policy, items()),
                            transcript(IMPLEMENTATIONS[port], policy, items())) is None


def _real_logs() -> list[Path]:
    from tests.ingesting import REAL_DATA

    skip = {"SOURCE.txt", "independent-parse.json", "README.md"}
    return sorted(path for path in REAL_DATA.glob("*/*") if path.is_file() and path.name not in skip)


@pytest.mark.parametrize("port", PORTS)
@pytest.mark.parametrize("log", _real_logs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_real_log_as_the_backtest_replays_it(port: str, log: Path, tmp_path: Path) -> None:
    from safeguards.adapters import AdapterOptions, guess_format, stager
    from safeguards.backtest.source import from_database, log_stretches
    from safeguards.errors import IngestError
    from safeguards.store import ingest_file, open_store

    db = tmp_path / "store.duckdb"
    con = open_store(db)
    try:
        format = guess_format(log)
    except IngestError as error:
        pytest.skip(f"not a format safeguards reads yet: {error}")
    options = AdapterOptions()
    ingest_file(con, log, format, stager(format, options), options.describe())
    con.close()
    source = from_database(db)
    try:
        sessions = source.sessions()
        items: list[Item] = []
        for batch in source.batches(1000):
            for start, stop, ingest_id in log_stretches(batch):
                items.append(("session", (ingest_id, sessions[ingest_id].traits)))
                items += [("stored", (event, fields)) for event, fields in
                          zip(batch.events[start:stop], batch.fields[start:stop])]
    finally:
        source.close()
    policy = reference_policy()
    assert first_difference(transcript(IMPLEMENTATIONS[ORACLE], policy, items),
                            transcript(IMPLEMENTATIONS[port], policy, items)) is None
