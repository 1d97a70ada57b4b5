"""The backtest's columnar path decides exactly as the per-event path of the same core.

:meth:`safeguards.core.Engine.decide_columns` takes the store reader's Arrow
batches as they are; here every batch is also decoded into the dicts the
reader makes of it and replayed one event at a time (``process``, each log's
stretch after ``use_session`` with its traits) through a second core.
Compared: every decision (seq, ids, group, verdict, guard, rule, reason) and
every alert (all fields, with its log), batch by batch. Over the sample, a
simulated log with every fault kind, two logs in one store, and every real log
in ../shared/data/real ingested through its adapter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from safeguards.adapters import AdapterOptions, guess_format, stager
from safeguards.backtest.source import from_database, log_stretches
from safeguards.core import Engine as CoreEngine
from safeguards.errors import IngestError
from safeguards.store import ingest_file, open_store
from safeguards.store.reader import arrow_batches, decode
from tests.backtesting import REFERENCE, SAMPLE

DECISION = ("seq", "event_id", "order_id", "group_id", "verdict", "guard", "rule", "reason")
#: One batch's decisions and alerts, as rows.
Said = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def columnar(db: Path, size: int) -> Iterator[Said]:
    source = from_database(db)
    try:
        logs = {ingest_id: session.traits for ingest_id, session in source.sessions().items()}
        engine = CoreEngine(REFERENCE)
        for batch in source.record_batches(size):
            decided, alerts = engine.decide_columns(batch, logs)
            yield decided.select(list(DECISION)).to_pylist(), alerts.to_pylist()
    finally:
        source.close()


def one_at_a_time(db: Path, size: int) -> Iterator[Said]:
    source = from_database(db)
    try:
        sessions = source.sessions()
        engine = CoreEngine(REFERENCE)
        for batch in source.batches(size):
            decisions, alerts = [], []
            for start, stop, log in log_stretches(batch):
                engine.use_session(log, sessions[log].traits)
                for event in batch.events[start:stop]:
                    decision = engine.process(event)
                    decisions.append({name: decision[name] for name in DECISION})
                alerts += [{**alert, "ingest_id": log} for alert in engine.pop_alerts()]
            yield decisions, alerts
    finally:
        source.close()


def same_everywhere(db: Path, size: int = 4096) -> int:
    """Assert the two paths say the same, batch by batch; the number of decisions compared."""
    compared = 0
    for index, (got, want) in enumerate(zip(columnar(db, size), one_at_a_time(db, size), strict=True)):
        for row, (a, b) in enumerate(zip(got[0], want[0], strict=True)):
            assert a == b, f"batch {index}, row {row}: columnar {a} but one at a time {b}"
        assert got[1] == want[1], f"batch {index}: the alerts differ from those one at a time"
        compared += len(got[0])
    return compared


def store(tmp_path: Path, *logs: Path) -> Path:
    db = tmp_path / "store.duckdb"
    con = open_store(db)
    try:
        for log in logs:
            options = AdapterOptions()
            format = guess_format(log)
            ingest_file(con, log, format, stager(format, options), options.describe())
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def faulty_log(tmp_path_factory) -> Path:
    from safeguards.simulator import SimOptions, default_rates, simulate_to

    rates = {**{name: 0.03 for name in default_rates()}, "duplicate": 0.01, "sequence_gap": 0.005,
             "clock_skew": 0.004, "future_timestamp": 0.004}
    path = tmp_path_factory.mktemp("columnar") / "faulty.jsonl"
    simulate_to(path, SimOptions(seed=5, events=20_000, rates=rates))
    return path


def test_the_sample(tmp_path):
    assert same_everywhere(store(tmp_path, SAMPLE)) == 20_100


def test_a_simulated_log_with_every_fault_kind(tmp_path, faulty_log):
    assert same_everywhere(store(tmp_path, faulty_log), size=1000) > 0


def test_two_logs_in_one_store_each_its_own_session(tmp_path, faulty_log):
    """Batches cut across the logs' stretches: each stretch is its log's session, its alerts its log's."""
    lines = SAMPLE.read_text().splitlines()
    head = tmp_path / "head.jsonl"
    head.write_text("\n".join(lines[:3000]) + "\n")
    assert same_everywhere(store(tmp_path, head, faulty_log), size=777) > 3000


def _real_logs() -> list[Path]:
    from tests.ingesting import REAL_DATA

    skip = {"SOURCE.txt", "independent-parse.json", "README.md"}
    return sorted(path for path in REAL_DATA.glob("*/*") if path.is_file() and path.name not in skip)


@pytest.mark.parametrize("log", _real_logs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_real_log(log: Path, tmp_path: Path) -> None:
    try:
        guess_format(log)
    except IngestError as error:
        pytest.skip(f"not a format safeguards reads yet: {error}")
    same_everywhere(store(tmp_path, log), size=500)


def _sample_batch(tmp_path: Path, rows: int = 300) -> pa.RecordBatch:
    log = tmp_path / "head.jsonl"
    log.write_text("\n".join(SAMPLE.read_text().splitlines()[:rows]) + "\n")
    con = open_store(tmp_path / "events.duckdb")
    ingest_file(con, log, "jsonl", stager("jsonl", AdapterOptions()), AdapterOptions().describe())
    batch = pa.Table.from_batches(list(arrow_batches(con))).combine_chunks().to_batches()[0]
    con.close()
    return batch


def test_rows_the_store_should_never_hold_are_decided_as_the_dict_path_decides_them(tmp_path):
    """Values the screen refuses, canonical fields kept in ``extra`` (of any JSON type): decide_stored's answers."""
    batch = _sample_batch(tmp_path)
    rows = batch.num_rows
    column = batch.column

    def with_column(batch: pa.RecordBatch, name: str, values: list) -> pa.RecordBatch:
        kind = batch.schema.field(name).type
        kind = kind.value_type if pa.types.is_dictionary(kind) else kind
        return batch.set_column(batch.schema.get_field_index(name), name, pa.array(values, kind))

    qty = column("qty").to_pylist()
    side = column("side").cast(pa.string()).to_pylist()
    event_ids = column("event_id").to_pylist()
    seqs = column("seq").to_pylist()
    extra: list[str | None] = [None] * rows
    for i in range(0, rows, 7):
        if qty[i] is not None:
            qty[i] = -qty[i] - 1  # a negative quantity: refused by the screen
    for i in range(3, rows, 11):
        if side[i] is not None:
            side[i] = "short"  # not a side
    odd_ids = [5, 2.5, True, [1, "a"], {"k": None}, None, "moved"]
    for n, i in enumerate(range(5, rows, 13)):
        event_ids[i] = None
        extra[i] = json.dumps({"venue": "X", "event_id": odd_ids[n % len(odd_ids)]})
    for i in range(9, rows, 17):
        seqs[i] = None
        extra[i] = json.dumps({"seq": [True, 12, "12", 1.5][i % 4], "qty": "7"})
    batch = with_column(batch, "qty", qty)
    batch = with_column(batch, "side", side)
    batch = with_column(batch, "event_id", event_ids)
    batch = with_column(batch, "seq", seqs)
    batch = batch.set_column(batch.schema.get_field_index("extra"), "extra", pa.array(extra, pa.string()))

    from safeguards.backtest.sink import decisions_batch

    decided, alerts = CoreEngine(REFERENCE).decide_columns(batch, {})
    written = decisions_batch(batch, decided, "p").select(list(DECISION)).to_pylist()
    dicts = decode(batch)
    engine = CoreEngine(REFERENCE)
    engine.use_session(1)
    outcomes, groups = engine.decide_stored(dicts.events, dicts.fields)
    assert [(d["verdict"], d["guard"], d["rule"], d["reason"]) for d in written] == [tuple(o) for o in outcomes]
    assert [d["group_id"] for d in written] == groups
    assert alerts.to_pylist() == [{**alert, "ingest_id": 1} for alert in engine.pop_alerts()]
    # The ids and seq as the dict path's writer took them: the dict's value as text, seq only if an int.
    want_ids = [None if e.get("event_id") is None else e["event_id"] if isinstance(e["event_id"], str)
                else str(e["event_id"]) for e in dicts.events]
    assert [d["event_id"] for d in written] == want_ids
    assert [d["seq"] for d in written] == [e["seq"] if type(e.get("seq")) is int else i + 1
                                           for i, e in enumerate(dicts.events)]
    verdicts = {d["verdict"] for d in written}
    assert "invalid" in verdicts and "accept" in verdicts
    assert {d["event_id"] for d in written} >= {"5", "2.5", "True", "[1, 'a']", "{'k': None}", "moved"}


@pytest.mark.parametrize("name, kind", [
    ("seq", pa.float64()), ("seq", pa.int32()), ("broker_ts", pa.float64()), ("qty", pa.int64()),
    ("qty", pa.string()), ("account", pa.large_string()), ("order_id", pa.large_string()),
    ("side", pa.string()), ("poss_dup", pa.int64()), ("event_id", pa.int64()),
])
def test_a_column_of_another_type_is_read_as_the_dict_path_reads_its_values(tmp_path, name, kind):
    """The typed path reads a column only when its type fits the field; any other column's rows go to the screen."""
    batch = _sample_batch(tmp_path)
    index = batch.schema.get_field_index(name)
    values = batch.column(index)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if name == "event_id":
        values = pa.array([None if v is None else n for n, v in enumerate(values.to_pylist())], kind)
    elif name == "poss_dup":
        values = pa.array([n % 3 if n % 5 else None for n in range(batch.num_rows)], kind)
    elif pa.types.is_string(kind) and not pa.types.is_string(values.type):
        values = pa.array([None if v is None else str(v) for v in values.to_pylist()], kind)
    else:
        values = values.cast(kind, safe=False)
    batch = batch.set_column(index, name, values)

    decided, alerts = CoreEngine(REFERENCE).decide_columns(batch, {})
    dicts = decode(batch)
    engine = CoreEngine(REFERENCE)
    engine.use_session(1)
    outcomes, groups = engine.decide_stored(dicts.events, dicts.fields)
    got = decided.select(["verdict", "guard", "rule", "reason"]).to_pylist()
    assert [tuple(row.values()) for row in got] == [tuple(o) for o in outcomes]
    assert decided.column("group_id").to_pylist() == groups
    assert alerts.to_pylist() == [{**alert, "ingest_id": 1} for alert in engine.pop_alerts()]


def test_a_batch_it_cannot_read_is_an_engine_error_naming_the_column(tmp_path):
    from safeguards.errors import EngineError

    batch = _sample_batch(tmp_path, rows=20)
    stamps = pa.array(batch.column("recv_ts").to_pylist(), pa.timestamp("ns"))
    odd = batch.set_column(batch.schema.get_field_index("recv_ts"), "recv_ts", stamps)
    with pytest.raises(EngineError, match="column 'recv_ts': Arrow type Timestamp"):
        CoreEngine(REFERENCE).decide_columns(odd, {})
    with pytest.raises(TypeError, match="__arrow_c_array__"):
        CoreEngine(REFERENCE).decide_columns([{"source": "market"}], {})
    bad = batch.set_column(batch.schema.get_field_index("extra"), "extra", pa.array(["{nope"] * 20, pa.string()))
    with pytest.raises(EngineError, match="row 0 of the batch: column 'extra' is not a JSON object"):
        CoreEngine(REFERENCE).decide_columns(bad, {})
