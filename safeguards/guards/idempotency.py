"""Idempotency: a repeated broker event (same key inside the window) is not applied twice.

Memory is the constraint (a million keys must fit in well under 150 MB), so a
key is held as one 64-bit hash of its fields, its content as a 30-bit
fingerprint, and its broker time and hash in two flat ``array('q')`` rings in
arrival order, which is also (near enough) broker-time order: expiry and the
``max_keys`` bound both pop from the oldest end. A 64-bit key hash collides
with odds of about 1 in 10^13 for a million keys. Python's ``hash`` of strings
is salted per process: a journal replay rehashes the raw events, and a
checkpoint of these hashes (:meth:`IdempotencyGuard.state`) is only taken back
by a process with the same salt (same ``PYTHONHASHSEED``); otherwise recovery
replays the journal.
"""

from __future__ import annotations

from array import array
from operator import itemgetter
from collections.abc import Iterable
from typing import Any

from ..errors import EngineError
from ..events import FIELDS
from .base import AT_DEDUP, BROKER_TYPES, DUPLICATE, LOCAL_TYPES, REJECT, Guard, StepSpec

_FINGERPRINT_MASK = (1 << 30) - 1  # small enough to be a compact int object
_READER_LIMIT = 1024  # field sets remembered at most (a live stream has a handful)


def hash_probe() -> int:
    """This process's hash of a fixed string: equal in two processes iff their str hashes agree."""
    return hash("safeguards idempotency hash probe")


class IdempotencyGuard(Guard):
    name = "idempotency"
    section = "idempotency"

    def __init__(self, tables, book) -> None:
        super().__init__(tables, book)
        config = self.config
        self.key_fields: tuple[str, ...] = tuple(config["key"])
        self.window_ns: int = int(config["window_ns"])
        self.max_keys: int = int(config["max_keys"])
        self.conflict_severity: str = self.severity["conflicting_duplicate"]
        ignored = set(config.get("ignore_fields", ()))
        #: The fields whose values make up an event's content (canonical fields only:
        #: extra fields a broker adds may legitimately differ on a re-send).
        self.content_fields: tuple[str, ...] = tuple(f for f in FIELDS if f not in ignored)
        self._content_set = frozenset(self.content_fields)
        #: Present fields -> (salt, getter of the content values): built once per field set.
        self._readers: dict[tuple[str, ...], tuple[int, Any]] = {}
        self._default_key = self.key_fields == ("account", "event_id")
        self.seen: dict[int, int] = {}
        self._ring_keys = array("q")
        self._ring_times = array("q")
        self._head = 0
        self.evicted = 0
        self.expired = 0
        self._duplicate = (DUPLICATE, self.name, "dedup_window", "this broker event was already seen; not applied again")
        self._key = self._make_key_function()

    def _make_key_function(self):
        fields = self.key_fields
        if fields == ("account", "event_id"):
            def key(event: dict) -> int | None:
                event_id = event.get("event_id")
                if event_id is None:
                    return None
                account = event.get("account")
                if account is None or account == "default":
                    return hash(event_id)
                return hash((account, event_id))
        else:
            def key(event: dict) -> int | None:
                values = tuple(event.get(f) for f in fields)
                if values[-1] is None and all(v is None for v in values):
                    return None
                try:
                    return hash(values)
                except TypeError:
                    return hash(repr(values))
        return key

    def steps(self) -> Iterable[StepSpec]:
        return (StepSpec(BROKER_TYPES + LOCAL_TYPES, AT_DEDUP, self.check),)

    def fingerprint(self, event: dict) -> int:
        """A 30-bit digest of the event's content: its non-None content fields and their values."""
        fields = self.book.fields  # known from the event's shape; else worked out here
        if fields is None:
            fields = tuple(name for name in FIELDS if event.get(name) is not None)
        reader = self._readers.get(fields)
        if reader is None:
            reader = self._reader_for(fields)
        salt, values_of = reader
        try:
            return hash((salt, values_of(event))) & _FINGERPRINT_MASK
        except TypeError:  # an unhashable value in a canonical field cannot pass validation, but be safe
            return hash(repr(values_of(event))) & _FINGERPRINT_MASK

    def _reader_for(self, fields: tuple[str, ...]) -> tuple[int, Any]:
        """For events with these fields: (a salt naming the content fields, a getter of their values)."""
        content = [name for name in fields if name in self._content_set]
        if len(self._readers) >= _READER_LIMIT:
            self._readers.clear()
        reader = self._readers[fields] = (hash(tuple(content)), lambda event: tuple(map(event.get, content)))
        if len(content) >= 2:
            reader = self._readers[fields] = (reader[0], itemgetter(*content))  # a tuple, at C speed
        return reader

    def check(self, event: dict):
        if self._default_key:  # (account, event_id), the usual key: inlined
            event_id = event.get("event_id")
            if event_id is None:
                return None
            account = event.get("account")
            key = hash(event_id) if account is None or account == "default" else hash((account, event_id))
        else:
            key = self._key(event)
            if key is None:
                return None
        book = self.book
        seen = self.seen
        times = self._ring_times
        if self._head < len(times) and times[self._head] < book.now - self.window_ns:
            self._forget_old(book.now)
        known = seen.get(key)
        if known is not None:
            if known == self.fingerprint(event):
                return self._duplicate
            order_id = event.get("order_id")
            group = book.group_of(event)
            book.alert(
                "conflicting_duplicate", self.conflict_severity, self.name, order_id, group,
                f"event_id {event.get('event_id')!r} seen before with different content; not applied",
            )
            return (REJECT, self.name, "conflicting_duplicate",
                    f"event_id {event.get('event_id')!r} was already seen with different content")
        stamp = book.bts
        if stamp is None:  # a local event: its broker-time estimate (the clock guard runs later)
            stamp = max(book.now, book.rts - (book.offset or 0))
        seen[key] = self.fingerprint(event)
        self._ring_keys.append(key)
        times.append(stamp)
        if len(seen) > self.max_keys or times[self._head] < stamp - self.window_ns:
            self._forget_old(stamp)
        return None

    def _forget_old(self, stamp: int) -> None:
        """Drop keys older than the window, and the oldest beyond max_keys."""
        times, keys, seen = self._ring_times, self._ring_keys, self.seen
        head = self._head
        horizon = max(stamp, self.book.now) - self.window_ns
        end = len(times)
        while head < end and times[head] < horizon:
            seen.pop(keys[head], None)
            head += 1
            self.expired += 1
        while len(seen) > self.max_keys and head < end:
            if seen.pop(keys[head], None) is not None:
                self.evicted += 1
            head += 1
        if head > 65536 and head * 2 > len(keys):
            del keys[:head]
            del times[:head]
            head = 0
        self._head = head

    def state(self) -> dict[str, Any]:
        """Keys and fingerprints are this process's str hashes: the probe says which hash function made them."""
        head = self._head
        return {
            "hash_probe": hash_probe(), "seen": list(self.seen.items()),
            "ring_keys": self._ring_keys[head:].tolist(), "ring_times": self._ring_times[head:].tolist(),
            "evicted": self.evicted, "expired": self.expired,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state["hash_probe"] != hash_probe():
            raise EngineError(
                "idempotency keys in this state were made under another str hash seed; replay the journal instead "
                "(or run with the same PYTHONHASHSEED)"
            )
        self.seen = {key: value for key, value in state["seen"]}
        self._ring_keys, self._ring_times = array("q", state["ring_keys"]), array("q", state["ring_times"])
        self._head = 0
        self.evicted, self.expired = state["evicted"], state["expired"]

    def snapshot(self) -> dict[str, Any]:
        return {"keys": len(self.seen), "expired": self.expired, "evicted": self.evicted}
