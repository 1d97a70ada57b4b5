"""The canonical event (DESIGN section 4): the one definition every part of the package uses.

An event is a plain ``dict``. This module says which fields exist and of what kind,
which are required for which source and type, how timestamps are read, and how one
event is checked. Ingest builds its SQL checks from these same tables, and the
engine calls :func:`validate_event` on its hot path, so the checks here are table
lookups and ``type()`` tests, with no objects created for a valid event.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Final

from .errors import EventError

# --- field kinds -------------------------------------------------------------------

STR: Final = "str"
INT: Final = "int"
NUM: Final = "number"
TS: Final = "timestamp"
BOOL: Final = "bool"

#: Every canonical field and its kind, in the order of DESIGN section 4 (also the
#: column order of the event store).
FIELDS: Final[dict[str, str]] = {
    "seq": INT,
    "source": STR,
    "type": STR,
    "event_id": STR,
    "account": STR,
    "order_id": STR,
    "broker_order_id": STR,
    "group_id": STR,
    "leg": STR,
    "role": STR,
    "parent_id": STR,
    "symbol": STR,
    "side": STR,
    "qty": NUM,
    "limit_px": NUM,
    "last_qty": NUM,
    "last_px": NUM,
    "cum_qty": NUM,
    "leaves_qty": NUM,
    "bid_px": NUM,
    "bid_qty": NUM,
    "ask_px": NUM,
    "ask_qty": NUM,
    "broker_ts": TS,
    "recv_ts": TS,
    "broker_seq": INT,
    "poss_dup": BOOL,
}

#: Quantities may not be negative; prices may (a credit spread's limit is negative).
QUANTITY_FIELDS: Final = frozenset({"qty", "last_qty", "cum_qty", "leaves_qty", "bid_qty", "ask_qty"})

#: Fields whose value must be one of a closed set (besides source and type).
CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "side": ("buy", "sell"),
    "role": ("leg", "hedge", "stop"),
}

TYPES_BY_SOURCE: Final[dict[str, tuple[str, ...]]] = {
    "local": ("intent", "submit", "cancel_request", "replace_request"),
    "broker": (
        "pending_new", "new", "partial_fill", "fill", "pending_cancel", "canceled",
        "cancel_rejected", "pending_replace", "replaced", "rejected", "expired", "done_for_day",
    ),
    "market": ("quote",),
}

BROKER_TYPES: Final = TYPES_BY_SOURCE["broker"]
LOCAL_TYPES: Final = TYPES_BY_SOURCE["local"]
MARKET_TYPES: Final = TYPES_BY_SOURCE["market"]
#: Trade reports: the broker types that carry a fill (last_qty, last_px).
FILL_TYPES: Final = ("partial_fill", "fill")

DEFAULT_ACCOUNT: Final = "default"


def _required_fields() -> dict[tuple[str, str], tuple[str, ...]]:
    """Required fields per (source, type), derived once from DESIGN section 4's table.

    ``parent_id`` (hedge intents only) depends on the role, not the type: see
    :func:`validate_event`. ``cancel_rejected`` needs no quantities because FIX's
    OrderCancelReject carries none.
    """
    table: dict[tuple[str, str], tuple[str, ...]] = {}
    for source, types in TYPES_BY_SOURCE.items():
        for type_ in types:
            need = ["recv_ts"]
            if type_ != "quote":
                need.append("order_id")
            if source == "broker":
                need += ["event_id", "broker_ts"]
                if type_ != "cancel_rejected":
                    need += ["cum_qty", "leaves_qty"]
                if type_ in FILL_TYPES:
                    need += ["last_qty", "last_px"]
            if type_ == "intent":
                need += ["group_id", "role", "symbol", "side", "qty"]
            if type_ == "replace_request":
                need.append("qty")  # the quantity asked for
            if type_ == "quote":
                need += ["broker_ts", "symbol", "bid_px", "bid_qty", "ask_px", "ask_qty"]
            table[(source, type_)] = tuple(f for f in FIELDS if f in need)
    return table


#: (source, type) -> required fields, in column order.
REQUIRED: Final = _required_fields()

# --- timestamps ---------------------------------------------------------------------

#: RFC 3339 with an explicit offset (``Z`` or ``+hh:mm``), up to nanoseconds. Plain
#: enough for both Python's ``re`` and DuckDB's RE2, which the event store uses.
TIMESTAMP_PATTERN: Final = (
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)
_TIMESTAMP_RE: Final = re.compile(TIMESTAMP_PATTERN)
_EPOCH: Final = datetime(1970, 1, 1)


#: Seconds since the epoch at midnight of each day seen (``YYYY-MM-DD`` -> seconds).
_DAY_SECONDS: dict[str, int] = {}
_DAY_CACHE_LIMIT: Final = 4096
#: 10 ** (9 - digits): scales a fraction of 1 to 9 digits to nanoseconds.
_FRACTION_SCALE: Final = tuple(10 ** (9 - digits) for digits in range(10))


def parse_timestamp(value: Any) -> int:
    """Read an RFC 3339 string or integer nanoseconds; return nanoseconds since the epoch (UTC).

    Raises :class:`EventError` for anything else, including a string with no offset:
    a local time without a zone is ambiguous, so write ``Z`` for UTC.
    """
    if type(value) is int:
        return value
    if not isinstance(value, str):
        raise EventError(f"expected {KIND_WORDS[TS]}, got {type(value).__name__}")
    match = _TIMESTAMP_RE.match(value)
    if match is None:
        raise EventError(
            f"not an RFC 3339 UTC timestamp (e.g. 2026-02-21T14:30:00.123456Z): {value!r}"
        )
    day, clock, fraction, offset = match.groups()
    midnight = _DAY_SECONDS.get(day)
    # Fast path: a day already seen and an ASCII clock in range; anything else takes
    # the datetime route below, which also words the errors.
    if midnight is not None and clock.isascii() and clock < "24" and clock[3] < "6" and clock[6] < "6":
        seconds = midnight + int(clock[:2]) * 3600 + int(clock[3:5]) * 60 + int(clock[6:])
    else:
        try:
            naive = datetime.fromisoformat(f"{day}T{clock}")
        except ValueError as error:
            raise EventError(f"not a valid date and time: {value!r} ({error})") from None
        delta = naive - _EPOCH
        seconds = delta.days * 86400 + delta.seconds
        if len(_DAY_SECONDS) < _DAY_CACHE_LIMIT:
            _DAY_SECONDS[day] = delta.days * 86400
    if offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        seconds -= sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60)
    nanos = int(fraction) * _FRACTION_SCALE[len(fraction)] if fraction else 0
    return seconds * 1_000_000_000 + nanos


def format_timestamp(nanos: int) -> str:
    """Nanoseconds since the epoch as the canonical RFC 3339 UTC string (9 fraction digits)."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:09d}Z"


# --- validation ---------------------------------------------------------------------

INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1  # integers and nanosecond timestamps are stored as BIGINT
#: What a value of each kind must be, in the words every "expected ..., got ..." reason uses.
KIND_WORDS: Final = {
    STR: "a string",
    INT: "an integer",
    NUM: "a number",
    TS: "an RFC 3339 timestamp with its zone (e.g. 2026-02-21T14:30:00.123Z) or integer nanoseconds",
    BOOL: "true or false",
}
_SOURCES_TEXT: Final = ", ".join(sorted(TYPES_BY_SOURCE))
_TYPES_TEXT: Final = {source: ", ".join(types) for source, types in TYPES_BY_SOURCE.items()}


def validate_event(event: Any) -> str | None:
    """Return None if ``event`` is a valid canonical event, else a reason naming the field.

    Never raises, whatever it is given. Unknown fields are allowed (and kept by
    whoever stores the event); ``None`` counts as absent.
    """
    if type(event) is not dict:
        return f"an event must be a JSON object, got {type(event).__name__}"
    source = event.get("source")
    if source is None:
        return "missing field 'source'"
    type_ = event.get("type")
    if type_ is None:
        return "missing field 'type'"
    if type(source) is not str:
        return f"field 'source': expected a string, got {type(source).__name__}"
    if type(type_) is not str:
        return f"field 'type': expected a string, got {type(type_).__name__}"
    required = REQUIRED.get((source, type_))
    if required is None:
        if source not in TYPES_BY_SOURCE:
            return f"field 'source': unknown source {source!r} (expected one of: {_SOURCES_TEXT})"
        return f"field 'type': unknown type {type_!r} for source {source!r} (expected one of: {_TYPES_TEXT[source]})"
    # One pass over the present fields; the valid cases fall through to `continue`
    # after a dict lookup and one or two identity tests (no calls, no allocations).
    kind_of = FIELDS.get
    for name, value in event.items():
        kind = kind_of(name)
        if kind is None or value is None:
            continue
        cls = type(value)
        if kind is STR:
            if cls is str:
                choices = CHOICES.get(name)
                if choices is not None and value not in choices:
                    return f"field {name!r}: {value!r} is not one of {', '.join(choices)}"
                continue
        elif kind is NUM:
            if cls is float or cls is int:
                if cls is float and value - value != 0.0:  # NaN or infinite
                    return f"field {name!r}: {value} is not a finite number"
                if value < 0 and name in QUANTITY_FIELDS:
                    return f"field {name!r}: negative quantity {value}"
                continue
        elif kind is TS:
            if cls is int:
                if not INT64_MIN <= value <= INT64_MAX:
                    return f"field {name!r}: {value} is outside the 64-bit integer range"
                continue
            if cls is str:
                try:
                    nanos = parse_timestamp(value)
                except EventError as error:
                    return f"field {name!r}: {error}"
                if not INT64_MIN <= nanos <= INT64_MAX:
                    return f"field {name!r}: outside the range of nanosecond timestamps (years 1677 to 2262): {value!r}"
                continue
        elif kind is INT:
            if cls is int:
                if not INT64_MIN <= value <= INT64_MAX:
                    return f"field {name!r}: {value} is outside the 64-bit integer range"
                continue
        elif cls is bool:
            continue
        return _wrong_kind(name, kind, value)
    for name in required:
        if event.get(name) is None:
            return f"missing field {name!r} (required for {source} {type_})"
    if type_ == "intent" and event.get("role") == "hedge" and event.get("parent_id") is None:
        return "missing field 'parent_id' (required for hedge intents)"
    return None


def _wrong_kind(name: str, kind: str, value: Any) -> str:
    return f"field {name!r}: expected {KIND_WORDS[kind]}, got {type(value).__name__}"
