"""MsgSeqNum (34) as a FIX engine follows it, one sender at a time, and the holes a log really has.

Each side of a session numbers its messages 1, 2, 3... A number above the one
expected opens a hole; the hole is *recovered* by what the log shows later (a
re-send with PossDupFlag 43=Y, or a SequenceReset-GapFill 35=4/123=Y covering it),
so only numbers never seen count as missing. Messages rejected for their content
were still received: they consume their number and open no hole.

What a FIX engine refuses is a :class:`SequenceProblem` (a rejected row, located):
a number already used without PossDupFlag; a SequenceReset whose NewSeqNo (36) would
move the number back; a re-send without OrigSendingTime (122), or with one later than
its SendingTime (52). (Read leniently, as a collection of examples rather than one
session, a reused number starts the numbering over instead.) A Logon with a lower number, or with ResetSeqNumFlag (141=Y),
starts the sender's numbering over: a new *epoch*, so numbers (and the ids derived
from them) of one logon are never confused with another's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import EventError
from .framing import is_number
from .times import time_or_none


class SequenceProblem(EventError):
    """A message a FIX engine would refuse for its MsgSeqNum; the message says why (a rejected row's reason)."""


@dataclass(frozen=True, slots=True, eq=False)
class Hole:
    """Numbers ``first``..``last`` of one epoch of one sender, not in the log when a later number came."""

    sender: SenderSequence
    epoch: int
    first: int
    last: int

    def missing(self) -> int:
        """How many of the hole's numbers the whole log never delivered (nor gap-filled)."""
        seen = self.sender.received
        return sum((self.epoch, number) not in seen for number in range(self.first, self.last + 1))


@dataclass(slots=True)
class Step:
    """What one message did to its sender's numbering."""

    fresh: bool  # it carried the next number(s), not a re-send of an earlier one
    previous: int | None  # the last number the sender had reached before it
    hole: Hole | None = None


@dataclass(slots=True)
class SenderSequence:
    """One sender's numbering within a session: the next number expected, its epoch, what was received."""

    epoch: int = 0
    expected: int | None = None
    received: set[tuple[int, int]] = field(default_factory=set)
    lenient: bool = False  # a number reused starts the numbering over (a collection of examples, not a session)

    def observe(self, seq: int, msg_type: str, fields: dict[str, str]) -> Step:
        """Follow one message of this sender; raise :class:`SequenceProblem` for one a FIX engine refuses."""
        expected = self.expected
        previous = None if expected is None else expected - 1
        poss_dup = fields.get("43") == "Y"
        if poss_dup:
            _check_original_time(fields)
        if msg_type == "A" and expected is not None and (seq < expected or fields.get("141") == "Y"):
            self.epoch += 1
            expected = self.expected = None
        gap_fill = msg_type == "4" and fields.get("123") == "Y"
        if msg_type == "4" and not gap_fill:  # reset mode: its own MsgSeqNum is ignored
            return self._sequence_reset(seq, fields, poss_dup, previous)
        if expected is not None and seq < expected and not poss_dup and self.lenient:
            self.epoch += 1
            expected = self.expected = None
            previous = None
        if expected is not None and seq < expected and not poss_dup:
            raise SequenceProblem(
                f"MsgSeqNum (34) {str(seq)!r} was already used (next expected: {str(expected)!r}) and "
                f"PossDupFlag (43) is not Y: a FIX engine refuses it and logs out; if this is a re-send, "
                f"its sender failed to mark it")
        if gap_fill:
            return self._sequence_reset(seq, fields, poss_dup, previous)
        if expected is not None and seq < expected:  # a re-send of a number already reached
            self.received.add((self.epoch, seq))
            return Step(False, previous)
        hole = Hole(self, self.epoch, expected, seq - 1) if expected is not None and seq > expected else None
        self.received.add((self.epoch, seq))
        self.expected = seq + 1
        return Step(True, previous, hole)

    def _sequence_reset(self, seq: int, fields: dict[str, str], poss_dup: bool, previous: int | None) -> Step:
        new = fields.get("36", "")
        if not is_number(new):
            raise SequenceProblem(f"SequenceReset (35=4) without a NewSeqNo (36) number (got {new!r})")
        new_seq, expected = int(new), self.expected
        gap_fill = fields.get("123") == "Y"
        start = seq if gap_fill else (expected if expected is not None else new_seq)
        if expected is not None and new_seq < expected and not (gap_fill and poss_dup):
            raise SequenceProblem(
                f"SequenceReset (35=4) NewSeqNo (36) {str(new_seq)!r} would move the number back from "
                f"{str(expected)!r}: a sequence never rewinds, so it is ignored")
        hole = None
        if gap_fill and expected is not None and seq > expected:
            hole = Hole(self, self.epoch, expected, seq - 1)
        self.received.update((self.epoch, number) for number in range(start, new_seq))
        fresh = expected is None or new_seq > expected
        self.expected = new_seq if expected is None else max(expected, new_seq)
        return Step(fresh, previous, hole)


def _check_original_time(fields: dict[str, str]) -> None:
    original = fields.get("122")
    if original is None:
        raise SequenceProblem("a re-send (PossDupFlag 43=Y) without OrigSendingTime (122): a FIX engine refuses it "
                              "(it cannot tell when the message was first sent)")
    sent, first = time_or_none(fields.get("52")), time_or_none(original)
    if first is None:
        raise SequenceProblem(f"OrigSendingTime (122) {original!r} is not a FIX timestamp")
    if sent is not None and first > sent:
        raise SequenceProblem(
            f"OrigSendingTime (122) {original!r} is later than SendingTime (52) {fields['52']!r}: a re-send cannot "
            f"have been first sent after it was sent again; a FIX engine refuses it")
