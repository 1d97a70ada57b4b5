"""Every conformance case through the engine (the core): the engine's specification (see README.md here)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from safeguards import Engine
from safeguards.policy import CompiledPolicy
from safeguards.session import SessionTraits
from tests.eventkit import policy_with, reference_policy

CASES = Path(__file__).parent / "cases"


@dataclass(frozen=True)
class Step:
    line: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Case:
    path: Path
    about: str
    policy_changes: dict[str, Any]
    steps: list[Step]


def read_case(path: Path) -> Case:
    about: list[str] = []
    steps: list[Step] = []
    changes: dict[str, Any] = {}
    for number, text in enumerate(path.read_text("utf-8").splitlines(), start=1):
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if not steps:
                about.append(stripped.lstrip("# "))
            continue
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise AssertionError(f"{path.name}:{number}: not JSON ({error})") from None
        if "policy" in data:
            if steps or changes:
                raise AssertionError(f"{path.name}:{number}: a policy line must come before every step")
            changes = data["policy"]
            continue
        steps.append(Step(number, data))
    if not about:
        raise AssertionError(f"{path.name}: start with a comment saying what real situation the case stands for")
    return Case(path, " ".join(about), changes, steps)


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.jsonl"))


def _matches(got: dict[str, Any], want: dict[str, Any]) -> bool:
    for key, value in want.items():
        if key.endswith("_contains"):
            field = key.removesuffix("_contains")
            if value not in str(got.get(field)):
                return False
        elif got.get(key) != value:
            return False
    return True


def _check_alerts(where: str, got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    summary = [(a["kind"], a["severity"], a.get("order_id"), a.get("group_id"), a["detail"]) for a in got]
    assert len(got) == len(want) and all(_matches(a, w) for a, w in zip(got, want)), (
        f"{where}: alerts {json.dumps(summary, indent=1)}\nexpected {json.dumps(want, indent=1)}")


def run_case(case: Case, make_engine: Callable[[CompiledPolicy], Any]) -> Iterator[str]:
    """Play the case through an engine; yields each step's location as it passes (for the failure message)."""
    policy = policy_with(**case.policy_changes) if case.policy_changes else reference_policy()
    engine = make_engine(policy)
    for step in case.steps:
        where = f"{case.path.name}:{step.line}"
        data = step.data
        if "session" in data:
            engine.use_session(data["session"], SessionTraits(**data.get("traits", {})))
        elif "event" in data:
            decision = engine.process(data["event"])
            want = data["decision"]
            assert _matches(decision, want), f"{where}: decision {json.dumps(decision, indent=1)}\nexpected {want}"
            _check_alerts(where, engine.pop_alerts(), data.get("alerts", []))
        elif "advance" in data:
            _check_alerts(where, engine.advance(data["advance"]), data.get("alerts", []))
        elif "order" in data:
            held = engine.order(data["order"])
            assert held is not None, f"{where}: the engine holds no order {data['order']!r}"
            assert _matches(held, data["expect"]), f"{where}: order {held}\nexpected {data['expect']}"
        elif "trading" in data:
            assert engine.trading_state(data["trading"]) == data["expect"], (
                f"{where}: trading state {engine.trading_state(data['trading'])!r}, expected {data['expect']!r}")
        else:
            raise AssertionError(f"{where}: a step is an event, an advance, a session, an order or a trading check")
        yield where


@pytest.mark.parametrize("path", case_files(), ids=lambda path: path.stem)
def test_case(path: Path) -> None:
    for _ in run_case(read_case(path), Engine):
        pass


def test_the_suite_covers_the_real_situations_it_is_the_specification_of() -> None:
    names = {path.stem for path in case_files()}
    assert len(names) >= 20, names
