"""Idempotency: a repeated broker event (same key inside the window) is not applied twice.

Memory is the constraint (a million keys must fit in well under 150 MB), so a
key is held as one 64-bit hash of its fields and its content as a 30-bit
fingerprint. Keys are listed in *buckets* of 1/64 of the window of broker time,
in arrival order; expiry drops a whole bucket once broker time is a window past
its end (so a key is remembered for at least the window and at most 1/64 more)
and the ``max_keys`` bound drops the oldest keys first. Expiry follows the
engine's trusted broker time, never the stamp of the event at hand, so one
event from the far future cannot wipe the memory of duplicates. A 64-bit key
hash collides with odds of about 1 in 10^13 for a million keys. Python's
``hash`` of strings is salted per process: a journal replay rehashes the raw
events, and a checkpoint of these hashes (:meth:`IdempotencyGuard.state`) is
only taken back by a process with the same salt (same ``PYTHONHASHSEED``);
otherwise recovery replays the journal.
"""

from __future__ import annotations

from collections import deque
from operator import itemgetter
from collections.abc import Iterable
from typing import Any

from ..errors import EngineError
from ..events import FIELDS
from .base import AT_DEDUP, BROKER_TYPES, DUPLICATE, LOCAL_TYPES, REJECT, Guard, StepSpec

_FINGERPRINT_MASK = (1 << 30) - 1  # small enough to be a compact int object
_READER_LIMIT = 1024  # field sets remembered at most (a live stream has a handful)
_BUCKETS_PER_WINDOW = 64  # keys expire a bucket at a time: at most 1/64 of the window late
_NEVER_BEFORE = -(1 << 64)  # before any broker time
_NO_EXPIRY = 1 << 64  # after any broker time


def present_fields(event: dict) -> tuple[str, ...]:
    """The event's canonical fields that are present and not None, in canonical order."""
    return tuple(name for name in FIELDS if event.get(name) is not None)


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
        #: Keys are dropped a bucket at a time, never before the window has passed for all of
        #: them: a key lives between ``window`` and ``window + bucket_ns`` of broker time.
        self.bucket_ns = max(1, self.window_ns // _BUCKETS_PER_WINDOW)
        self._bucket_life_ns = self.bucket_ns + self.window_ns  # from a bucket's start to its expiry
        self.seen: dict[int, int] = {}
        self._buckets: deque[tuple[int, list[int]]] = deque()
        self._bucket_keys: list[int] = []
        self._bucket_end = _NEVER_BEFORE
        self._expire_at = _NO_EXPIRY
        self._oldest_done = 0  # keys of the oldest bucket already evicted by the max_keys bound
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
        reader = self._readers.get(fields)  # type: ignore[arg-type]
        salt, values_of = reader if reader is not None else self._reader(fields, event)
        try:
            return hash((salt, values_of(event))) & _FINGERPRINT_MASK
        except TypeError:  # an unhashable value in a canonical field cannot pass validation, but be safe
            return hash(repr(values_of(event))) & _FINGERPRINT_MASK

    def _reader(self, fields: tuple[str, ...] | None, event: dict) -> tuple[int, Any]:
        """The reader of events with these fields (None: an event of unknown shape, its fields worked out)."""
        if fields is None:
            fields = present_fields(event)
            reader = self._readers.get(fields)
            if reader is not None:
                return reader
        return self._reader_for(fields)

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
        if book.now >= self._expire_at:
            self._expire(book.now)
        seen = self.seen
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
        if stamp >= self._bucket_end:
            self._open_bucket(stamp)
        self._bucket_keys.append(key)
        if len(seen) > self.max_keys:
            self._evict_oldest()
        return None

    def _open_bucket(self, stamp: int) -> None:
        """Start a new bucket of keys at ``stamp``: the keys of the next ``bucket_ns`` of broker time go in it."""
        self._bucket_keys = []
        self._bucket_end = stamp + self.bucket_ns
        self._buckets.append((stamp, self._bucket_keys))
        if len(self._buckets) == 1:
            self._expire_at = stamp + self._bucket_life_ns

    def _expire(self, now: int) -> None:
        """Drop the buckets whose every key is older than the window (broker time ``now``, trusted)."""
        buckets, seen = self._buckets, self.seen
        last_start = now - self._bucket_life_ns  # a bucket's keys are stamped before start + bucket_ns
        while buckets and buckets[0][0] <= last_start:
            _, keys = buckets.popleft()
            for index in range(self._oldest_done, len(keys)):
                if seen.pop(keys[index], None) is not None:
                    self.expired += 1
            self._oldest_done = 0
        if not buckets:  # the newest went too: the next key opens a bucket
            self._bucket_end = _NEVER_BEFORE
        self._expire_at = buckets[0][0] + self._bucket_life_ns if buckets else _NO_EXPIRY

    def _evict_oldest(self) -> None:
        """More than ``max_keys`` held: forget the oldest key (memory is bounded whatever the window)."""
        buckets, seen = self._buckets, self.seen
        while len(seen) > self.max_keys and buckets:
            keys = buckets[0][1]
            if self._oldest_done < len(keys):
                if seen.pop(keys[self._oldest_done], None) is not None:
                    self.evicted += 1
                self._oldest_done += 1
                continue
            if len(buckets) == 1:
                break
            buckets.popleft()
            self._oldest_done = 0
            self._expire_at = buckets[0][0] + self._bucket_life_ns
        if self._oldest_done > 65536 and self._oldest_done * 2 > len(buckets[0][1]):  # give the memory back
            del buckets[0][1][:self._oldest_done]
            self._oldest_done = 0

    def _held(self) -> list[tuple[int, list[int]]]:
        """The buckets, oldest first, without the keys already evicted from the oldest."""
        held = [(start, list(keys)) for start, keys in self._buckets]
        if held:
            held[0] = (held[0][0], held[0][1][self._oldest_done:])
        return held

    def state(self) -> dict[str, Any]:
        """Keys and fingerprints are this process's str hashes: the probe says which hash function made them."""
        return {
            "hash_probe": hash_probe(), "seen": list(self.seen.items()),
            "buckets": [[start, keys] for start, keys in self._held()],
            "evicted": self.evicted, "expired": self.expired,
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state["hash_probe"] != hash_probe():
            raise EngineError(
                "idempotency keys in this state were made under another str hash seed; replay the journal instead "
                "(or run with the same PYTHONHASHSEED)"
            )
        self.seen = {key: value for key, value in state["seen"]}
        self._buckets = deque()
        self._oldest_done = 0
        self._bucket_end = _NEVER_BEFORE
        self._expire_at = _NO_EXPIRY
        if "buckets" in state:
            for start, keys in state["buckets"]:
                self._open_bucket(start)
                self._bucket_keys.extend(keys)
        else:  # a checkpoint from before buckets: one (key, time) ring
            for key, stamp in zip(state["ring_keys"], state["ring_times"], strict=True):
                if stamp >= self._bucket_end:
                    self._open_bucket(stamp)
                self._bucket_keys.append(key)
        self.evicted, self.expired = state["evicted"], state["expired"]

    def snapshot(self) -> dict[str, Any]:
        return {"keys": len(self.seen), "expired": self.expired, "evicted": self.evicted}
