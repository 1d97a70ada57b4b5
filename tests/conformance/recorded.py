"""Recorded transcripts: what the engine said over the real logs and a faulty simulated log, as digests and counts.

The Python engine was the oracle while the core was ported; before it was
retired, its transcripts over these inputs were recorded in ``recorded.json``
(the core gave the same). ``test_recorded.py`` holds the core to them. A
transcript is every decision whole, the alerts after each, in order, and the
final snapshot, serialized canonically; the file keeps its sha256 and readable
counts (verdicts, alert kinds with severities), never the logs themselves.

``python -m tests.conformance.recorded`` says how the current engine differs;
``--write`` re-records from it, for when the semantics change on purpose (the
commit says why: see README.md here).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safeguards.policy import CompiledPolicy
from tests.eventkit import reference_policy
from tests.ingesting import REAL_DATA

RECORDED = Path(__file__).with_name("recorded.json")
SIMULATED = "simulated/seed-5-20000-every-fault"
#: Files beside the real logs that are not logs.
NOT_LOGS = {"SOURCE.txt", "independent-parse.json", "README.md"}

#: An item is ("event", event), ("advance", ns), ("session", (key, traits)) or ("stored", (event, fields)).
Item = tuple[str, Any]
MakeEngine = Callable[[CompiledPolicy], Any]


def canonical(value: Any) -> bytes:
    """One JSON text per value: sorted keys, no spaces; a type JSON cannot say is an error, not a repr."""
    def refuse(thing: Any) -> Any:
        if dataclasses.is_dataclass(thing) and not isinstance(thing, type):
            return dataclasses.asdict(thing)
        raise TypeError(f"not canonical JSON: {type(thing).__name__} {thing!r}")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=refuse).encode()


@dataclass
class Record:
    """One input's transcript, summed up: its digest, and counts a person can read when the digest changes."""

    input_sha256: str = ""
    sha256: str = ""
    decisions: int = 0
    verdicts: dict[str, int] = field(default_factory=dict)
    alerts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def record(make_engine: MakeEngine, policy: CompiledPolicy, items: Iterable[Item]) -> Record:
    """Run ``items`` through a fresh engine and digest everything it says (the policy's identity left out)."""
    engine = make_engine(policy)
    identity = engine.identity.encode()
    said, fed = hashlib.sha256(), hashlib.sha256()
    verdicts: Counter[str] = Counter()
    alerts: Counter[str] = Counter()

    def say(value: Any) -> None:
        said.update(canonical(value).replace(identity, b"<policy>") + b"\n")

    for what, value in items:
        fed.update(canonical([what, value]) + b"\n")
        if what == "session":
            engine.use_session(*value)
            continue
        if what == "advance":
            raised = engine.advance(value)
        else:
            decision = engine.process_stored(*value) if what == "stored" else engine.process(value)
            verdicts[decision["verdict"]] += 1
            say(decision)
            raised = engine.pop_alerts()
        alerts.update(f"{alert['kind']}/{alert['severity']}" for alert in raised)
        say(raised)
    say(engine.snapshot())
    return Record(fed.hexdigest(), said.hexdigest(), sum(verdicts.values()), dict(sorted(verdicts.items())),
                  dict(sorted(alerts.items())))


def simulated_items(folder: Path) -> Iterator[Item]:
    """A simulated log with every fault kind (seed 5, 20,000 events), one event at a time, as the sidecar gets them."""
    from safeguards.simulator import SimOptions, default_rates, simulate_to
    from safeguards.simulator.scoring import read_jsonl

    rates = {**{name: 0.03 for name in default_rates()}, "duplicate": 0.01, "sequence_gap": 0.005,
             "clock_skew": 0.004, "future_timestamp": 0.004}
    path = folder / "faulty.jsonl"
    simulate_to(path, SimOptions(seed=5, events=20_000, rates=rates))
    return (("event", event) for event in read_jsonl(path))


def real_logs() -> dict[str, Path]:
    """Every real log safeguards reads, by its name under ../shared/data/real (empty when the folder is absent)."""
    from safeguards.adapters import guess_format
    from safeguards.errors import IngestError

    logs = {}
    for path in sorted(REAL_DATA.glob("*/*")):
        if path.is_file() and path.name not in NOT_LOGS:
            try:
                guess_format(path)
            except IngestError:
                continue  # not a format safeguards reads yet
            logs[f"real/{path.parent.name}/{path.name}"] = path
    return logs


def real_items(log: Path, folder: Path) -> list[Item]:
    """The log as the backtest replays it: ingested into a store, its batches, each log's session traits, stored events."""
    from safeguards.adapters import AdapterOptions, guess_format, stager
    from safeguards.backtest.source import from_database, log_stretches
    from safeguards.store import ingest_file, open_store

    db = folder / "store.duckdb"
    con = open_store(db)
    try:
        format = guess_format(log)
        options = AdapterOptions()
        ingest_file(con, log, format, stager(format, options), options.describe())
    finally:
        con.close()
    source = from_database(db)
    items: list[Item] = []
    try:
        sessions = source.sessions()
        for batch in source.batches(1000):
            for start, stop, ingest_id in log_stretches(batch):
                items.append(("session", (ingest_id, sessions[ingest_id].traits)))
                items += [("stored", (event, fields)) for event, fields in
                          zip(batch.events[start:stop], batch.fields[start:stop])]
    finally:
        source.close()
    return items


def record_input(name: str, make_engine: MakeEngine) -> Record:
    """The transcript of one named input (``SIMULATED`` or a key of :func:`real_logs`)."""
    with tempfile.TemporaryDirectory(prefix="safeguards-recorded-") as scratch:
        folder = Path(scratch)
        items = simulated_items(folder) if name == SIMULATED else real_items(real_logs()[name], folder)
        return record(make_engine, reference_policy(), items)


def read_recorded() -> dict[str, Record]:
    data = json.loads(RECORDED.read_text("utf-8"))
    return {name: Record(**fields) for name, fields in data["transcripts"].items()}


def write(make_engine: MakeEngine, recorded_with: str) -> dict[str, Record]:
    """Record every input through ``make_engine``'s engines into ``recorded.json``."""
    if not REAL_DATA.is_dir():
        raise SystemExit(f"the real logs are not at {REAL_DATA.resolve()}: a record without them would drop them")
    names = [SIMULATED, *real_logs()]
    records = {name: record_input(name, make_engine) for name in names}
    data = {"about": __doc__.split("\n\n")[0], "recorded_with": recorded_with,
            "policy": "rules/multileg_options.yaml (its identity written as <policy>)",
            "transcripts": {name: value.to_dict() for name, value in records.items()}}
    RECORDED.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    return records


def differences(want: Record, got: Record) -> list[str]:
    """What changed, readably first: the input, each count, then the digest."""
    if want.input_sha256 != got.input_sha256:
        return [f"the input itself changed (ingest, adapters or the simulator): input sha256 recorded "
                f"{want.input_sha256[:16]}, now {got.input_sha256[:16]}"]
    lines = [] if want.decisions == got.decisions else [f"decisions: recorded {want.decisions}, now {got.decisions}"]
    for section in ("verdicts", "alerts"):
        recorded, now = getattr(want, section), getattr(got, section)
        lines += [f"{section}.{key}: recorded {recorded.get(key, 0)}, now {now.get(key, 0)}"
                  for key in sorted(recorded.keys() | now.keys()) if recorded.get(key, 0) != now.get(key, 0)]
    if not lines and want.sha256 != got.sha256:
        lines.append(f"same counts, but the transcript differs (a field, a reason's words, an order, the snapshot): "
                     f"sha256 recorded {want.sha256[:16]}, now {got.sha256[:16]}")
    return lines


def main(argv: list[str] | None = None) -> int:
    from safeguards import Engine

    parser = argparse.ArgumentParser(prog="python -m tests.conformance.recorded", description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="re-record recorded.json from the current engine")
    args = parser.parse_args(argv)
    if args.write:
        for name, value in write(Engine, "safeguards.Engine (the core)").items():
            print(f"{name}: {value.decisions} decisions, {sum(value.alerts.values())} alerts, {value.sha256[:16]}")
        return 0
    changed = 0
    for name, want in read_recorded().items():
        if name != SIMULATED and name not in real_logs():
            print(f"{name}: not here (no real log at that name)")
            continue
        lines = differences(want, record_input(name, Engine))
        changed += bool(lines)
        print(f"{name}: " + ("as recorded" if not lines else "\n  ".join(["differs", *lines])))
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
