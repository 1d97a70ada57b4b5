"""Shared helpers for backtest and notebook tests: small simulated logs and the reference policies."""

from __future__ import annotations

from pathlib import Path

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
