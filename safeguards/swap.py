"""Policy hot swap: a running sidecar moves to another promoted version of its policy, state and all.

Taking a promotion or a rollback mid-day must not throw away what the engine
holds (dedup keys, orders and their intents, trading states, the clock
estimate). The engine's state is data (format ``safeguards-core/1``), so it is
carried across by loading it under the new version's tables, when the two
versions agree on what the state means (:func:`incompatibilities`). Limits,
windows, rules and gates may differ: from the switch on, they are the new
version's. Timers already set (an ack timeout, a trading state's clear) fire
at the deadline they were set with.

:class:`Follower` watches a policy name's signed registry (``runtime/<name>``)
and says when its live version changed; the sidecar loop
(:mod:`safeguards.sidecar`) asks it between batches, and at once on SIGHUP.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .core import Engine
from .errors import EngineError, RegistryError
from .policy.compiled import CompiledPolicy
from .registry import HEAD_FILE, REGISTRY_FILE, Registry

#: Parts of the compiled tables that are not engine sections.
_NOT_SECTIONS = frozenset({"metadata", "hash", "compiled_format", "promotion"})


def incompatibilities(running: CompiledPolicy, candidate: CompiledPolicy) -> list[str]:
    """Why the running version's engine state cannot be carried into `candidate`, in words; empty if it can.

    The one definition of a compatible version, used live and on recovery.
    """
    reasons: list[str] = []
    if candidate.name != running.name:
        reasons.append(f"it is policy {candidate.name!r}, not {running.name!r}: a sidecar follows one policy name")
    old, new = running.tables, candidate.tables
    old_sections, new_sections = set(old) - _NOT_SECTIONS, set(new) - _NOT_SECTIONS
    if old_sections != new_sections:
        reasons.append(f"its sections differ ({_change(old_sections, new_sections)}): the state has a part per "
                       "section, and a part without its section has no meaning")
    old_order, new_order = old.get("ordering", {}), new.get("ordering", {})
    states = set(old_order.get("states", [])), set(new_order.get("states", []))
    if states[0] != states[1]:
        reasons.append(f"its order states differ ({_change(*states)}): orders held in a state the new version does "
                       "not declare could not be judged")
    terminal = set(old_order.get("terminal", [])), set(new_order.get("terminal", []))
    if terminal[0] != terminal[1]:
        reasons.append(f"its terminal states differ ({_change(*terminal)}): orders held as finished (or not) would "
                       "be judged under another life cycle")
    old_keys, new_keys = old.get("idempotency", {}), new.get("idempotency", {})
    if old_keys.get("key") != new_keys.get("key"):
        reasons.append(f"its idempotency key is {new_keys.get('key')}, not {old_keys.get('key')}: the dedup keys held "
                       "are hashes of the old key's fields and would never match a re-delivery")
    if sorted(old_keys.get("ignore_fields", [])) != sorted(new_keys.get("ignore_fields", [])):
        reasons.append(f"its idempotency ignore_fields are {sorted(new_keys.get('ignore_fields', []))}, not "
                       f"{sorted(old_keys.get('ignore_fields', []))}: the content fingerprints held would make every "
                       "re-delivery a conflicting duplicate")
    return reasons


def _change(old: set[str], new: set[str]) -> str:
    parts = []
    if added := sorted(new - old):
        parts.append("adds " + ", ".join(added))
    if dropped := sorted(old - new):
        parts.append("drops " + ", ".join(dropped))
    return "; ".join(parts)


class Incompatible(EngineError):
    """The running engine's state cannot be carried into another version; the message says why."""


def carry(engine: Engine, candidate: CompiledPolicy) -> Engine:
    """A new engine under `candidate` holding exactly `engine`'s state; Incompatible (with the reasons) if it cannot."""
    reasons = incompatibilities(engine.policy, candidate)
    if reasons:
        raise Incompatible("; ".join(reasons))
    state = engine.state()  # the caller has taken every alert (the loop does after each event)
    state["policy_hash"] = candidate.hash
    try:
        return Engine.from_state(candidate, state)
    except EngineError as error:
        raise Incompatible(f"its tables cannot hold the running state ({error})") from None


@dataclass(frozen=True)
class Change:
    """The registry's live version is no longer the one running: switch to `policy`, or say why not."""

    policy: CompiledPolicy | None  #: the verified new version (None: the registry could not be trusted)
    entry: dict[str, Any] | None  #: the registry entry that made it live
    refused: str = ""  #: why the sidecar keeps its version ("" to switch)

    def describe(self) -> str:
        entry = self.entry or {}
        return (f"{entry.get('action', '?')} by {entry.get('by', '?')} at {entry.get('at', '?')}, registry entry "
                f"{entry.get('seq', '?')}")


class Follower:
    """The signed registry of one policy name, looked at when it changes on disk (or when asked)."""

    def __init__(self, folder: str | Path, every: float = 1.0) -> None:
        folder = Path(folder)
        self.registry = Registry(folder.parent, folder.name)
        self.every = every
        self._seen: tuple[Any, ...] | None = None
        self._next = 0.0
        self.forced = False  #: set by SIGHUP: look now, whatever the files say

    def live(self) -> CompiledPolicy:
        """The version production runs now (verified), to start with."""
        self._seen = self._stamp()
        return self._read()[1]

    def _stamp(self) -> tuple[Any, ...]:
        stamps: list[Any] = []
        for name in (REGISTRY_FILE, HEAD_FILE):
            try:
                info = os.stat(self.registry.folder / name)
                stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
            except FileNotFoundError:
                stamps.append(None)
        return tuple(stamps)

    def due(self) -> bool:
        return self.forced or time.monotonic() >= self._next

    def check(self, running: CompiledPolicy) -> Change | None:
        """A change of the live version since the last look, None if there is none."""
        forced, self.forced = self.forced, False
        self._next = time.monotonic() + self.every
        stamp = self._stamp()
        if stamp == self._seen and not forced:
            return None
        self._seen = stamp
        try:
            entry, policy = self._read()
        except RegistryError as error:
            return Change(None, None, f"the registry of {self.registry.name} cannot be trusted: {error}")
        if policy.hash == running.hash:
            return None
        return Change(policy, entry, "; ".join(incompatibilities(running, policy)))

    def _read(self) -> tuple[dict[str, Any], CompiledPolicy]:
        """The live entry and its verified artifact; read twice before a refusal (a promotion may be mid-write)."""
        try:
            return self._read_once()
        except RegistryError:
            time.sleep(0.05)
            return self._read_once()

    def _read_once(self) -> tuple[dict[str, Any], CompiledPolicy]:
        entries = self.registry.entries()
        if not entries:
            raise RegistryError(f"{self.registry.folder}: nothing has been promoted under this name")
        return entries[-1], self.registry.load(entries[-1]["version"])

    def policy_with_hash(self, policy_hash: str) -> CompiledPolicy | None:
        """A version ever promoted under this name with that hash (verified): what a journal switched to."""
        for entry in self.registry.entries():
            if entry["action"] == "promote" and entry["policy_hash"] == policy_hash:
                return self.registry.load(entry["version"])
        return None
