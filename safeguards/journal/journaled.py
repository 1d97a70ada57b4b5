"""An engine whose every input is durable before it is answered, and that resumes after `kill -9`.

The journal is the engine's input, in arrival order: events as received (with
the arrival `seq` the engine gave them), malformed lines kept verbatim
(quarantined), and time advances. The engine is deterministic, so replaying
the journal rebuilds exactly the state it had: orders and groups, dedup keys,
trading states, the clock estimate. An event re-delivered after a restart is
therefore a `duplicate`, and an intent acknowledged before the crash is there.

Order of work for a batch: append every record and fdatasync (group commit),
then decide, then answer. After answering, an `answered` marker is appended
without its own fsync (the next commit makes it durable): on recovery, the
decisions and alerts of events after the last marker are handed back, flagged
`replayed`, because the caller may never have seen them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from .._core import seal_lines
from ..core import Engine
from ..errors import EngineError, EventError, JournalError
from ..events import parse_timestamp
from ..policy import CompiledPolicy, load_policy
from .files import (
    HISTORY, JOURNAL_FORMAT, JournalLock, SegmentWriter, checkpoint_name, checkpoint_numbers, fsync_folder,
    read_checkpoint, read_segment, segment_name, segment_numbers, write_checkpoint,
)
from . import disk
from .committed import CommitMark, Committed, read_mark, refuse_if_short
from .records import CONTROL, encode, encode_raw
from ..swap import Follower, Incompatible, carry

Answer = tuple[dict[str, Any], list[dict[str, Any]]]
CHECKPOINT_FORMAT = "safeguards-core/1"  #: the engine state inside a checkpoint: the core's (see docs/ARCHITECTURE.md)
LEGACY_SEED_FILE = "hash-seed.json"  #: where an older release kept its PYTHONHASHSEED; removed on recovery


class Line(NamedTuple):
    """An input line's event, parsed by the caller, and its bytes (no newline): journaled as received."""

    event: dict[str, Any]
    raw: bytes


@dataclass
class Recovery:
    """What start-up found in the journal."""

    fresh: bool
    segments: int = 0
    records: int = 0
    torn_tail_dropped: bool = False
    seconds: float = 0.0
    unanswered: list[Answer] = field(default_factory=list)
    checkpoint: str = ""  #: the checkpoint recovery started from ("" for a full replay)
    checkpoint_seq: int | None = None  #: arrivals already in that checkpoint
    checkpoint_note: str = ""  #: why a checkpoint there was not used
    notes: list[str] = field(default_factory=list)  #: what recovery did about an older release's files

    def describe(self) -> str:
        notes = "".join(f"; {note}" for note in self.notes)
        if self.fresh:
            return f"new journal{notes}"
        torn = "; dropped a torn final record (written, never answered)" if self.torn_tail_dropped else ""
        if self.checkpoint:
            start = f"from checkpoint at seq {self.checkpoint_seq:,} ({self.checkpoint}) then"
        else:
            start = f"by full replay ({self.checkpoint_note}) of" if self.checkpoint_note else "by full replay of"
        return (f"recovered {start} {self.records:,} records from {self.segments} segment(s) in {self.seconds:.2f}s; "
                f"{len(self.unanswered)} decision(s) re-sent{torn}{notes}")


class JournaledEngine:
    """An :class:`Engine` behind a journal folder; one live process per folder."""

    def __init__(self, policy: CompiledPolicy | str | Path, folder: str | Path, *, checkpoint_every: int | None = None,
                 follower: Follower | None = None):
        """`follower`: the registry the journal's policy follows (``--follow``), where recovery finds the versions
        the journal switched between; without one, the journal must be `policy`'s."""
        self.checkpoint_every = checkpoint_every
        self.since_checkpoint = 0
        self.policy = policy if isinstance(policy, CompiledPolicy) else load_policy(policy)
        self.requested = self.policy  #: the policy the caller asked for (the journal's own may differ, with a follower)
        self.follower = follower
        self._known = {self.policy.hash: self.policy}
        self._started = False  # recovery has begun replaying (the journal's first version is set)
        self.engine = Engine(self.policy)
        self.folder = Path(folder)
        with disk.refusing(self.folder, "create the journal folder"):
            self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = JournalLock(self.folder)
        try:
            disk.ensure_room(self.folder)
            self._mark = CommitMark(self.folder)
        except BaseException:
            self._lock.release()
            raise
        try:
            self.recovery = self._recover()
            self._forget_hash_seed(self.recovery)
        except BaseException:
            if hasattr(self, "_writer"):
                self._writer.close()
            self._mark.close()
            self._lock.release()
            raise

    # --- start-up -------------------------------------------------------------------

    def _header(self) -> dict[str, Any]:
        return {
            "source": CONTROL, "type": "journal_header", "journal_format": JOURNAL_FORMAT,
            "policy": self.policy.identity, "policy_hash": self.policy.hash,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "arrivals": self.engine.arrivals,  # inputs journaled before this segment: recovery checks the link
        }

    def _recover(self) -> Recovery:
        """Newest usable checkpoint + the segments after it; else every segment (history included)."""
        numbers = segment_numbers(self.folder)
        checkpoints = checkpoint_numbers(self.folder)
        mark = read_mark(self.folder)
        if not numbers and not checkpoints:
            self._writer = SegmentWriter(self.folder / segment_name(1), self._header())
            refuse_if_short(self.folder, mark, self._committed())
            self._mark.record(self._committed())
            return Recovery(fresh=True)
        started = time.perf_counter()
        report = Recovery(fresh=False)
        self._started = False
        first = self._load_checkpoint(checkpoints[-1], report) if checkpoints else None
        self._started = first is not None
        if first is None:  # no usable checkpoint: replay everything, finished segments first
            history = self.folder / HISTORY
            paths = [history / segment_name(n) for n in segment_numbers(history) if not numbers or n < numbers[0]]
            paths += [self.folder / segment_name(n) for n in numbers]
            if paths and _number_of(paths[0]) != 1:
                raise JournalError(f"{self.folder}: segments before {paths[0].name} are missing and no checkpoint is "
                                   "usable; restore them from backup into history/")
        else:
            paths = [self.folder / segment_name(n) for n in numbers if n >= first]
        _refuse_gaps(paths, first)
        pending: list[Answer] = []
        for path in paths:
            reading = read_segment(path, last=path == paths[-1] and path.parent == self.folder)
            self._check_owner(reading.path, reading.header)
            self._check_link(reading.path, reading.header)
            report.segments += 1
            report.torn_tail_dropped = reading.torn_tail
            self._started = True
            for record in reading.records:
                report.records += 1
                self._replay(record, pending, reading.path, report)
        if self.policy.hash != self.requested.hash and self.follower is None:
            raise JournalError(f"{self.folder}: journal belongs to {self.policy.identity}, not "
                               f"{self.requested.identity}; run with that policy, with --follow "
                               f"runtime/{self.requested.name} to carry it across, or start a new journal for this one")
        current = max([*numbers, first or 0])
        self._writer = SegmentWriter(self.folder / segment_name(current), self._header())
        refuse_if_short(self.folder, mark, self._committed())
        self._mark.record(self._committed())
        self._archive_before(current)
        report.unanswered = [(decision, alerts) for decision, alerts in pending if decision or alerts]
        report.seconds = time.perf_counter() - started
        self.since_checkpoint = report.records  # replayed past the last usable checkpoint: due for a new one
        return report

    def _check_owner(self, path: Path, header: dict[str, Any]) -> None:
        """A segment or checkpoint is the running policy's; the first one read sets it (a journal that switched
        versions began under another: found in the follower's registry)."""
        made_by = header.get("policy_hash")
        if made_by == self.policy.hash:
            return
        policy = self._policy_for(path, header)
        if self.engine.arrivals or self._started:
            raise JournalError(f"{path}: written under {policy.identity}, but the journal before it runs "
                               f"{self.policy.identity} and records no switch: restore the journal folder from a "
                               "complete copy")
        self.policy, self.engine = policy, Engine(policy)

    def _policy_for(self, path: Path, record: dict[str, Any]) -> CompiledPolicy:
        """The policy a journal record names by hash: the caller's, one met before, or one the follower verifies."""
        made_by = record.get("policy_hash")
        known = self._known.get(str(made_by))
        if known is None and self.follower is not None and isinstance(made_by, str):
            known = self.follower.policy_with_hash(made_by)
            if known is not None:
                self._known[made_by] = known
        if known is None:
            identity = record.get("policy") or record.get("to") or str(made_by)[:12]
            follow = (f"run with --follow runtime/{self.requested.name} to carry it across promotions and "
                      "rollbacks, " if self.follower is None else
                      f"({identity} is not promoted in {self.follower.registry.folder}) ")
            raise JournalError(f"{path}: journal belongs to {identity}, not {self.requested.identity}; run with that "
                               f"policy, {follow}or start a new journal for this one")
        return known

    def _check_link(self, path: Path, header: dict[str, Any]) -> None:
        """A segment begins where the journal before it ended (headers from before the link say nothing)."""
        begins = header.get("arrivals")
        if begins is not None and begins != self.engine.arrivals:
            raise JournalError(
                f"{path}: this segment begins after input {begins:,}, but the journal before it ends at input "
                f"{self.engine.arrivals:,}: the segment before it was cut short or replaced. Restore the journal "
                "folder (history/ included) from a complete copy"
            )

    def _committed(self, arrivals: int | None = None) -> Committed:
        """Where the journal is durable now: the current segment's size, the inputs journaled (the engine's by default)."""
        return Committed(_number_of(self._writer.path), self._writer.size,
                         self.engine.arrivals if arrivals is None else arrivals)

    def _load_checkpoint(self, number: int, report: Recovery) -> int | None:
        """The segment number a usable checkpoint starts at, with the engine restored; None to replay instead."""
        path = self.folder / checkpoint_name(number)
        content = read_checkpoint(path)
        self._check_owner(path, content)  # the checkpoint's version runs from here (switch records move it on)
        state = content.get("state")
        made = state.get("format") if type(state) is dict else None
        if made != CHECKPOINT_FORMAT:  # an older release's: the Python engine's state, salted str hashes in it
            report.checkpoint_note = (f"{path.name} not used: an older release wrote it in the Python engine's format, "
                                      f"not {CHECKPOINT_FORMAT}; its records are replayed instead, same result")
            return None
        try:
            self.engine = Engine.from_state(self.policy, state)
        except EngineError as error:
            self.engine = Engine(self.policy)
            report.checkpoint_note = f"{path.name} not used: {error}"
            return None
        report.checkpoint, report.checkpoint_seq = path.name, self.engine.arrivals
        return number

    def _forget_hash_seed(self, report: Recovery) -> None:
        """An older release kept the str hash seed its checkpoints were made under; checkpoints need none now."""
        path = self.folder / LEGACY_SEED_FILE
        if not path.exists():
            return
        with disk.refusing(path, "remove an older release's hash seed file"):
            path.unlink()
        fsync_folder(self.folder)
        report.notes.append(f"removed {LEGACY_SEED_FILE} of an older release (checkpoints no longer depend on "
                            "PYTHONHASHSEED)")

    def _replay(self, record: dict[str, Any], pending: list[Answer], path: Path, report: Recovery) -> None:
        if record.get("source") != CONTROL:
            pending.append((self.engine.process(record), self.engine.pop_alerts()))
            return
        kind = record.get("type")
        if kind == "answered":
            pending.clear()
        elif kind == "advance":
            pending.append(({}, self.engine.advance(record["now"])))
        elif kind == "reconcile":
            pending.append(({}, self.engine.reconcile(record["orders"])))
        elif kind == "new_session":
            self.engine.new_session()
        elif kind == "unreadable":
            pending.append((self._invalid(record), []))
        elif kind == "policy_switch":
            policy = self._policy_for(path, record)
            try:
                self.engine = carry(self.engine, policy)
            except Incompatible as error:
                raise JournalError(f"{path}: the journal switched to {policy.identity}, which cannot carry its "
                                   f"state: {error}") from None
            self.policy = policy
            report.notes.append(f"replayed the switch to {policy.identity}")

    # --- checkpoints ----------------------------------------------------------------

    def checkpoint(self) -> Path:
        """Save the engine's state, start a new segment, move finished segments to history/.

        Call only when every answer has been written (after :meth:`answered`):
        recovery from a checkpoint owes no answers from before it.
        """
        self._writer.sync()
        number = _number_of(self._writer.path) + 1
        content = {"journal_format": JOURNAL_FORMAT, "policy": self.policy.identity, "policy_hash": self.policy.hash,
                   "segment": number}
        path = self.folder / checkpoint_name(number)
        write_checkpoint(path, content, {"state": self.engine.state_text()})
        self._writer.close()
        self._writer = SegmentWriter(self.folder / segment_name(number), self._header())
        self._mark.record(self._committed())
        self._archive_before(number)
        self.since_checkpoint = 0
        return path

    def _archive_before(self, number: int) -> None:
        """Segments before `number` to history/ (kept as the day's broker log); older checkpoints deleted."""
        older = [n for n in segment_numbers(self.folder) if n < number]
        history = self.folder / HISTORY
        with disk.refusing(history, "move finished segments to history/"):
            if older:
                history.mkdir(exist_ok=True)
                for n in older:
                    os.replace(self.folder / segment_name(n), history / segment_name(n))
                fsync_folder(history)
            for n in checkpoint_numbers(self.folder):
                if n < number:
                    (self.folder / checkpoint_name(n)).unlink()
        fsync_folder(self.folder)

    def maybe_checkpoint(self) -> Path | None:
        """A checkpoint if `checkpoint_every` records were journaled since the last one."""
        if self.checkpoint_every and self.since_checkpoint >= self.checkpoint_every:
            return self.checkpoint()
        return None

    # --- the hot path ---------------------------------------------------------------

    def _invalid(self, record: dict[str, Any]) -> dict[str, Any]:
        decision = self.engine.invalid(None, record["reason"])
        decision["seq"] = record["seq"]
        return decision

    def submit(self, inputs: Iterable[dict[str, Any] | Line | tuple[str, str]]) -> list[Answer]:
        """Journal a batch durably (one fsync), then decide each input.

        An input is an event dict; a :class:`Line` (the event parsed from its
        input bytes, journaled as received: no re-encoding); or ``("unreadable",
        reason)`` for a line that could not be parsed: it is quarantined in the
        journal and answered `invalid`.
        """
        records, quarantined = self._journal(inputs)
        return self._decide(records, quarantined)

    def answer_block(self, block: bytes, line: int) -> tuple[bytes, int]:
        """The sidecar's block of raw lines (the first being line number `line`): journaled durably as
        :meth:`submit` journals it, then answered by the core from the same bytes; the next line's number.

        A block holding a quarantined input (a line that is not an event, or
        one the journal cannot keep as it came) is decided here as
        :meth:`submit` decides it; a line the core leaves to Python is decided
        from its journaled record.
        """
        from ..sidecar import answer_block, answer_text, block_lines, parse_line  # that module imports this one

        engine = self.engine
        after = line + block.count(b"\n") + (not block.endswith(b"\n"))
        sealed = seal_lines(block, engine.arrivals)
        if sealed is not None:  # every line an event kept as received: the core seals them as _journal_form does
            data, count = sealed
            if not count:
                return b"", after
            self._commit([data], engine.arrivals + count)
            self.since_checkpoint += count
            return answer_block(engine, block, line,
                                lambda raw, number: [(engine.process(parse_line(raw)[0]), engine.pop_alerts())])
        inputs, numbers = [], []
        for number, raw in enumerate(block_lines(block), line):
            if raw.strip():
                inputs.append(parse_line(raw))
                numbers.append(number)
        if not inputs:
            return b"", after
        records, quarantined = self._journal(inputs)
        if quarantined:
            answers = self._decide(records, quarantined)
            return answer_text(answers, line_numbers=numbers).encode("ascii"), after
        journaled = dict(zip(numbers, records))
        return answer_block(engine, block, line,
                            lambda raw, number: [(engine.process(journaled[number]), engine.pop_alerts())])

    def _journal(self, inputs: Iterable[dict[str, Any] | Line | tuple[str, str]]) -> tuple[list[dict[str, Any]], bool]:
        """Each input's record, journaled durably (one fsync); whether any was quarantined."""
        lines: list[bytes] = []
        records: list[dict[str, Any]] = []
        quarantined = False
        arrival = self.engine.arrivals
        for item in inputs:
            arrival += 1
            if type(item) is dict and item.get("source") != CONTROL:  # the dict API's events: the hot path
                if item.get("seq") is None:
                    item["seq"] = arrival
                try:
                    lines.append(encode(item))
                    records.append(item)
                    continue
                except (TypeError, ValueError) as error:  # NaN, a lone surrogate, a value JSON has no form for
                    item = _unjournalable(item, error)
            record, line = self._journal_form(item, arrival)
            quarantined = quarantined or record.get("source") == CONTROL
            lines.append(line)
            records.append(record)
        self._commit(lines, arrival)
        self.since_checkpoint += len(records)
        return records, quarantined

    def _decide(self, records: list[dict[str, Any]], quarantined: bool) -> list[Answer]:
        """Each journaled record's decision and alerts (a quarantined one: `invalid`)."""
        process, pop_alerts = self.engine.process, self.engine.pop_alerts
        if not quarantined:
            return [(process(record), pop_alerts()) for record in records]
        return [(self._invalid(record), []) if record.get("source") == CONTROL else (process(record), pop_alerts())
                for record in records]

    def _journal_form(self, item: Any, arrival: int) -> tuple[dict[str, Any], bytes]:
        """The record to decide and its sealed line, for inputs off the dict hot path."""
        kind = type(item)
        if kind is not tuple and _not_an_event(item):
            # Kept whole but quarantined: a "control" source would be mistaken for the journal's own records.
            item = ("unreadable", _quarantine_reason(item), _text(item))
            kind = tuple
        if kind is Line:
            event, raw = item
            sealed = None
            if "seq" not in event:
                event["seq"] = arrival
                sealed = encode_raw(raw, arrival)
            elif event["seq"] is not None:
                sealed = encode_raw(raw, None)
            if sealed is None:  # unusual bytes or a "seq": null to fill in: re-encode the dict
                if event["seq"] is None:
                    event["seq"] = arrival
                try:
                    sealed = encode(event)
                except (TypeError, ValueError) as error:
                    item, kind = _unjournalable(event, error), tuple
            if kind is Line:
                return event, sealed
        if kind is tuple:
            record = {"source": CONTROL, "type": "unreadable", "seq": arrival, "reason": item[1]}
            if len(item) > 2:
                record["raw"] = item[2]
            return record, encode(record)
        return item, encode(item)  # a dict subclass

    def reconcile(self, open_orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Start-up reconciliation with the broker's open orders: journaled (so replay repeats it), then applied."""
        self._commit([encode({"source": CONTROL, "type": "reconcile", "orders": open_orders})])
        return self.engine.reconcile(open_orders)

    def new_session(self) -> None:
        """The broker's numbering starts over (:meth:`Engine.new_session`): journaled, then applied."""
        self._commit([encode({"source": CONTROL, "type": "new_session"})])
        self.engine.new_session()

    def switch(self, policy: CompiledPolicy, entry: dict[str, Any] | None = None) -> None:
        """Carry the engine into another version (:func:`safeguards.swap.carry`): journaled, applied, checkpointed.

        Incompatible before anything is written if it cannot be. Call between
        batches, every answer written. The switch record names the version by
        hash, which recovery finds in the follower's registry (verified again);
        the checkpoint after it lets a restart start on the new version at once.
        """
        engine = carry(self.engine, policy)
        record = {"source": CONTROL, "type": "policy_switch", "seq": self.engine.arrivals,
                  "from": self.policy.identity, "from_hash": self.policy.hash, "to": policy.identity,
                  "policy_hash": policy.hash, "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        if entry is not None:
            record["registry"] = {name: entry.get(name) for name in ("seq", "action", "by", "approved_by", "at")}
        self._commit([encode(record)])
        self.engine, self.policy = engine, policy
        self._known[policy.hash] = policy
        self.checkpoint()

    def _commit(self, lines: list[bytes], arrivals: int | None = None) -> None:
        """Append sealed lines durably, then note how far the journal has committed (`arrivals`: inputs through them)."""
        self._writer.append_lines(lines)
        self._mark.record(self._committed(arrivals))

    def answered(self) -> None:
        """The caller has written the answers out; note it (made durable by the next commit)."""
        self._writer.append_unsynced([{"source": CONTROL, "type": "answered", "seq": self.engine.arrivals}])

    def advance(self, now: int | str) -> list[dict[str, Any]]:
        """Broker time is now `now`: journaled, then timeouts fire."""
        stamp = now if type(now) is int else _broker_time(now)
        self._commit([encode({"source": CONTROL, "type": "advance", "now": stamp})])
        return self.engine.advance(stamp)

    def shutdown(self) -> None:
        """Clean end of a run (every answer written): a checkpoint if anything was journaled since the last."""
        self._writer.sync()
        if self.since_checkpoint:
            self.checkpoint()

    def close(self) -> None:
        self._writer.close()
        self._mark.close()
        self._lock.release()

    def __enter__(self) -> JournaledEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _number_of(path: Path) -> int:
    return int(path.name.split("-")[1].split(".")[0])


def _refuse_gaps(paths: list[Path], first: int | None) -> None:
    """Segments to replay follow one another (from the checkpoint's, if one is used): none missing in between."""
    expected = first if first is not None else 1
    for path in paths:
        if _number_of(path) != expected:
            raise JournalError(f"{path.parent / segment_name(expected)} is missing: the journal has {path.name} after "
                               f"segment {expected - 1}. Restore it from a complete copy of the journal folder")
        expected += 1


def _broker_time(text: str) -> int:
    try:
        return parse_timestamp(text)
    except EventError as error:
        raise EngineError(f"advance: {error}") from None


def _event_of(item: Any) -> Any:
    return item[0] if type(item) is Line else item


def _not_an_event(item: Any) -> bool:
    """Inputs the journal must not store as events: non-objects, and objects claiming the journal's own source."""
    event = _event_of(item)
    return type(event) is not dict or event.get("source") == CONTROL


def _quarantine_reason(item: Any) -> str:
    event = _event_of(item)
    if type(event) is not dict:
        return not_an_event(event) or "not an event"
    return f"field 'source': {CONTROL!r} is reserved for the journal's own records"


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def not_an_event(value: Any) -> str | None:
    """Why a parsed JSON value cannot be a canonical event, in JSON's words; None if it is a non-empty object."""
    if type(value) is dict:
        return None if value else "an empty JSON object is not an event (an event has at least source and type)"
    return f"a canonical event is a JSON object, not {_JSON_KINDS.get(type(value), type(value).__name__)}"


def _unjournalable(event: dict[str, Any], error: Exception) -> tuple[str, str, str]:
    """An event JSON cannot hold (NaN, a lone surrogate...): quarantined whole, as text, and answered invalid."""
    return ("unreadable", f"cannot be journaled as JSON: {error}", _text(event))


def _text(item: Any) -> str:
    try:
        return json.dumps(_event_of(item), default=repr)
    except (TypeError, ValueError):
        return repr(_event_of(item))
