"""What changed between two policies, in policy terms (transitions, limits), not text lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .compiled import CompiledPolicy
from .direction import Direction, judge
from .durations import Span, format_duration

# Tables derived from others, or held only for explanation: diffing them would say the same thing twice.
_SKIP = {("ordering", "rules"), ("compiled_format",), ("hash",)}


@dataclass(frozen=True)
class Change:
    """One change: where (a dotted policy path), what it was and what it is (None = absent)."""

    where: str
    old: Any
    new: Any

    def render(self) -> str:
        if self.where.startswith("ordering.transitions "):
            pair = self.where.removeprefix("ordering.transitions ")
            if self.old is None:
                return f"transition added: {pair} (rule {self.new})"
            if self.new is None:
                return f"transition removed: {pair} (was rule {self.old})"
            return f"transition {pair}: rule {self.old} -> {self.new}"
        if self.old is None:
            return f"{self.where}: added {_show(self.new)}"
        if self.new is None:
            return f"{self.where}: removed {_show(self.old)}"
        return f"{self.where}: {_show(self.old)} -> {_show(self.new)}"


def _show(value: Any) -> str:
    if isinstance(value, Span):
        return format_duration(value.nanos) if value.nanos is not None else "none"
    if isinstance(value, str):
        return value if value else "(empty)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int):
        return f"{value:,}"
    if value is None:
        return "none"
    return str(value)


_MEMBER = object()  # a name listed in a set-like list
_RULE = object()  # a rule (escalation, gate) that exists, whatever its fields


def _leaves(value: Any, path: tuple[str, ...]) -> dict[str, Any]:
    """Flatten tables into `dotted.path -> scalar`; lists of ids become keyed, lists of names become members."""
    if path in _SKIP:
        return {}
    if path == ("ordering", "transitions"):
        return {f"ordering.transitions {a} -> {b}": rule for a, targets in value.items() for b, rule in targets.items()}
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key == "timeouts_ns":  # a table of durations, not one: flattened below
                continue
            if key.endswith("_ns"):
                out[".".join(path + (key.removesuffix("_ns"),))] = Span(item)
            else:
                out.update(_leaves(item, path + (key,)))
        if "timeouts_ns" in value:
            for name, nanos in value["timeouts_ns"].items():
                out[".".join(path + ("timeouts", name))] = Span(nanos)
        return out
    if isinstance(value, list) and value and all(isinstance(item, dict) and "id" in item for item in value):
        out = {}
        for item in value:
            out.update(_leaves({k: v for k, v in item.items() if k != "id"}, path + (f"[{item['id']}]",)))
            out[".".join(path + (f"[{item['id']}]",))] = _RULE
        return out
    if isinstance(value, list):
        return {".".join(path) + f" {member}": _MEMBER for member in value} or {".".join(path): "(none)"}
    return {".".join(path): value}


def diff_policies(old: CompiledPolicy, new: CompiledPolicy) -> list[Change]:
    """Every change of meaning from `old` to `new`, in a stable order."""
    before, after = _leaves(old.tables, ()), _leaves(new.tables, ())
    changes: list[Change] = []
    for where in sorted(before.keys() | after.keys()):
        a, b = before.get(where), after.get(where)
        if a == b:
            continue
        if _MEMBER in (a, b):
            list_path, member = where.rsplit(" ", 1)
            changes.append(Change(list_path, None if a is None else member, None if b is None else member))
        elif _RULE in (a, b):
            changes.append(Change(where, None if a is None else "rule", None if b is None else "rule"))
        else:
            changes.append(Change(where, a, b))
    return [Change(c.where.replace(".[", "["), c.old, c.new) for c in changes]


def render_diff(old: CompiledPolicy, new: CompiledPolicy) -> str:
    """Each change with its direction, loosenings first: what a reviewer must look at leads."""
    changes = diff_policies(old, new)
    head = f"{old.identity} -> {new.identity}"
    if not changes:
        return f"{head}\nno change of meaning"
    judged = sorted(((judge(change), change) for change in changes), key=lambda pair: _ORDER.index(pair[0]))
    counts = {direction: sum(1 for d, _ in judged if d is direction) for direction in _ORDER}
    summary = ", ".join(f"{n} {direction.value}" for direction, n in counts.items() if n)
    width = max(len(direction.value) for direction in _ORDER)
    lines = [f"  {direction.value:<{width}}  {change.render()}" for direction, change in judged]
    return "\n".join([head, f"{len(changes)} change{'s' if len(changes) != 1 else ''}: {summary}", *lines])


_ORDER = (Direction.LOOSENING, Direction.TIGHTENING, Direction.NEUTRAL)
