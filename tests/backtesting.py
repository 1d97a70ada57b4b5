"""Shared helpers for backtest and notebook tests: small simulated logs and the reference policies."""

from __future__ import annotations

import json
from pathlib import Path

from safeguards.events import format_timestamp, parse_timestamp
from safeguards.simulator import SimOptions, parse_rates, simulate_to

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "rules" / "multileg_options.yaml"
CANDIDATE = ROOT / "notebooks" / "policies" / "multileg_options_candidate.yaml"
SAMPLE = ROOT / "data" / "sample.jsonl"
CLEAN = ROOT / "data" / "clean.jsonl"


def simulated(folder: Path, name: str, seed: int, groups: int, faults: str = "default",
              rates: tuple[str, ...] = ()) -> Path:
    """A small simulated log with its labels beside it (made once per folder and name)."""
    path = folder / f"{name}.jsonl"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        simulate_to(path, SimOptions(seed=seed, groups=groups, rates=parse_rates(list(rates), faults)))
    return path


def as_account(log: Path, out: Path, account: str, shift_ns: int = 0) -> Path:
    """``log`` as the log of ``account``, its times moved by ``shift_ns`` (a later session of another desk)."""
    with log.open() as source, out.open("w") as sink:
        for line in source:
            event = json.loads(line)
            event["account"] = account
            for key in ("recv_ts", "broker_ts"):
                if key in event:
                    event[key] = format_timestamp(parse_timestamp(event[key]) + shift_ns)
            sink.write(json.dumps(event) + "\n")
    return out
