"""Pipelines: the guards' steps sorted per event type, and fused into one generated function each.

Each guard contributes steps (:class:`~.guards.base.StepSpec`); for every event
type the engine runs that type's steps in position order (ties: guard order).
A loop over a tuple of steps costs a dozen bytecodes per step on top of the
call, on the hot path of every event; so each type's steps are also *fused*:
one straight-line function is generated that calls them in turn, with the
rule of :mod:`~.guards.base` spelled out once per step (``None``: go on; an
``accept``: remember it and go on; anything else: that is the outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .events import TYPES_BY_SOURCE
from .guards.base import ACCEPT, Decision, Guard, Step

#: ``runner(event) -> outcome``: a type's steps fused; it may raise (the engine turns that into ``invalid``).
Runner = Callable[[dict], Decision]


def build_pipelines(guards: Iterable[Guard]) -> dict[str, tuple[Step, ...]]:
    """Every event type's steps, in pipeline order (position, then the guards' order)."""
    staged: dict[str, list[tuple[int, int, Step]]] = {t: [] for types in TYPES_BY_SOURCE.values() for t in types}
    for index, guard in enumerate(guards):
        for spec in guard.steps():
            for type_ in spec.types:
                staged.setdefault(type_, []).append((spec.position, index, spec.function))
    return {t: tuple(fn for _, _, fn in sorted(steps, key=lambda s: s[:2])) for t, steps in staged.items()}


def fuse(steps: tuple[Step, ...], no_objection: Decision) -> Runner:
    """One generated function running ``steps`` in turn: ``no_objection`` if none decides."""
    lines = ["def run(event):", "    outcome = NO_OBJECTION"]
    for index in range(len(steps)):
        lines += [
            f"    decided = step_{index}(event)",
            "    if decided is not None:",
            "        if decided[0] != ACCEPT:",
            "            return decided",
            "        outcome = decided",
        ]
    lines.append("    return outcome")
    namespace: dict[str, Any] = {"NO_OBJECTION": no_objection, "ACCEPT": ACCEPT}
    namespace.update((f"step_{index}", step) for index, step in enumerate(steps))
    exec(compile("\n".join(lines), f"<pipeline of {len(steps)} steps>", "exec"), namespace)  # noqa: S102
    return namespace["run"]
