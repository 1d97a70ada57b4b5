"""One FIX message's fields, checked as a FIX engine checks them before it reads a message.

A FIX engine refuses a message whose CheckSum (10) or BodyLength (9) is wrong, whose
first three fields are not BeginString (8), BodyLength (9), MsgType (35) in that
order, or that has a field it cannot read. Such a message may have been changed or
cut on the way, so none of its values is trusted: it becomes a rejected row with the
reason (never a crash, never a silent drop), and the rest of the log loads.

``lenient`` reading skips CheckSum and BodyLength (and the reader skips the session's
BeginString and reused MsgSeqNums): hand-written examples (a specification's, such as
NYSE CCG's) rarely get them right. Delimiters other than
SOH (``|``, ``^A``, ``;``) count as the one SOH byte they stand for.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import EventError


def is_number(text: str) -> bool:
    """Whether ``text`` is a FIX number's digits: ASCII only (``str.isdigit`` also takes ``¹``, which ``int`` refuses)."""
    return text.isascii() and text.isdigit()

SOH = "\x01"
#: The field delimiters logs are written with; each stands for one SOH byte on the wire.
DELIMITERS = (SOH, "^A", "|", ";")
#: Tags that appear at most once in any message this adapter reads (header, trailer and the fields it maps).
#: Others may repeat inside a repeating group (NoPartyIDs 453, NoLegs 555...).
SINGULAR_TAGS = frozenset(
    "8 9 35 34 49 56 52 43 97 122 10 11 37 17 39 150 14 151 32 31 38 44 54 55 60 41 45 36 123 20 19 442 141".split()
)


class UnreadableMessage(EventError):
    """A message a FIX engine would refuse; the message says which field and what to do (a rejected row's reason)."""


@dataclass(frozen=True, slots=True)
class Message:
    """A framed message's fields by tag (each read once) and the tags of SINGULAR_TAGS it repeats."""

    fields: dict[str, str]
    repeated: tuple[str, ...]
    pairs: list[list[str]]  # every field in order, [tag, value], for repeating groups (NoLegs 555)


def read_message(text: str, delimiter: str, lenient: bool = False) -> Message:
    """The fields of ``text`` (one message, ``delimiter``-separated), or raise :class:`UnreadableMessage`."""
    items = text.split(delimiter)
    if items and not items[-1]:
        items.pop()
    try:
        pairs = [item.split("=", 1) for item in items]
        fields = dict(pairs)  # type: ignore[arg-type]
    except ValueError:  # a field without '=' (or empty: two delimiters in a row)
        raise _garbled(items) from None
    tags = "".join(fields)
    if not is_number(tags) or "" in fields:
        raise _garbled(items)
    if len(pairs) < 3 or pairs[0][0] != "8" or pairs[1][0] != "9" or pairs[2][0] != "35":
        first = "/".join(tag for tag, _ in pairs[:3])  # type: ignore[misc]
        raise UnreadableMessage(
            f"first fields are {first or 'none'!r}, not BeginString (8), BodyLength (9), MsgType (35) in "
            f"that order: not a whole FIX message (cut short, or two run together)")
    if pairs[-1][0] != "10":
        raise UnreadableMessage("no CheckSum (10) at the end: the message is cut short, or text follows it")
    if not lenient:
        _check_length_and_sum(text, delimiter, pairs)  # type: ignore[arg-type]
    repeated: tuple[str, ...] = ()
    if len(fields) != len(pairs):  # a tag given twice: the first value is the one read
        fields, seen = {}, []
        for tag, value in pairs:  # type: ignore[misc]
            if tag not in fields:
                fields[tag] = value
            elif tag in SINGULAR_TAGS and tag not in seen:
                seen.append(tag)
        repeated = tuple(seen)
    return Message(fields, repeated, pairs)  # type: ignore[arg-type]


def _garbled(items: list[str]) -> UnreadableMessage:
    for number, item in enumerate(items, start=1):
        tag, sep, _ = item.partition("=")
        if not sep or not is_number(tag):
            shown = item[:40] if item else "(empty)"
            return UnreadableMessage(
                f"garbled field {shown!r} (field {number}): expected tag=value with a numeric tag; the message "
                f"cannot be trusted, so it is kept here unread")
    return UnreadableMessage("garbled message")


def _check_length_and_sum(text: str, delimiter: str, pairs: list[tuple[str, str]]) -> None:
    wire = (text if delimiter == SOH else text.replace(delimiter, SOH)).encode("latin-1", "replace")
    body_start = len(f"8={pairs[0][1]}{SOH}9={pairs[1][1]}{SOH}".encode("latin-1", "replace"))
    trailer = wire.rfind(b"\x0110=") + 1
    declared = pairs[1][1]
    if not is_number(declared) or int(declared) != trailer - body_start:
        raise UnreadableMessage(
            f"BodyLength (9) is {declared!r} but the body is {str(trailer - body_start)!r} characters: the message "
            f"was cut or changed on the way (for hand-written examples, ingest with --fix-lenient)")
    declared, total = pairs[-1][1], f"{sum(wire[:trailer]) % 256:03d}"
    if declared != total:
        raise UnreadableMessage(
            f"CheckSum (10) is {declared!r} but the message adds up to {total!r}: it was changed on the way "
            f"(for hand-written examples, ingest with --fix-lenient)")


def encode(fields: list[tuple[str, str]], begin_string: str = "FIX.4.4", delimiter: str = SOH) -> str:
    """A whole message from its fields after BodyLength (MsgType first), with BodyLength and CheckSum computed."""
    return frame("".join(f"{tag}={value}{SOH}" for tag, value in fields), begin_string, delimiter)


def frame(body: str, begin_string: str = "FIX.4.4", delimiter: str = SOH) -> str:
    """A whole message around ``body`` (SOH-delimited fields from MsgType on, each ending with SOH)."""
    head = f"8={begin_string}{SOH}9={len(body.encode('latin-1'))}{SOH}{body}"
    message = f"{head}10={sum(head.encode('latin-1')) % 256:03d}{SOH}"
    return message if delimiter == SOH else message.replace(SOH, delimiter)
