"""Times in FIX logs: UTCTimestamp fields (52, 60, 122), and the time a logger wrote before a message.

Engines and log frameworks stamp lines in their own ways: QuickFIX ``20140225-20:24:23.533``,
QuickFIX/Go ``2018/02/23 19:14:25.174454``, log4j ``2020/03/02-06:14:36,393``, Python's
logging ``2020-03-02 06:14:36,393``. The first is UTC by definition; the others are
often local time, with a zone written after them or none. A zone not written is
inferred once per log from SendingTime (52), the sender's UTC clock: the log time
minus SendingTime, when it is within a few minutes of a whole quarter hour other than
zero, is the zone (a clock a few seconds off is not a zone).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

_MINUTE = 60 * 1_000_000_000
#: Zones are whole quarter hours; a log time within this of one (after SendingTime) is taken as in that zone.
ZONE_STEP = 15 * _MINUTE
ZONE_SLACK = 5 * _MINUTE

_LOG_TIME = re.compile(
    r"(?:(?P<compact>\d{8})-\s*|(?P<y>\d{4})[-/](?P<m>\d{2})[-/](?P<d>\d{2})[ T-])"
    r"(?P<clock>\d{2}:\d{2}:\d{2})(?:[.,](?P<fraction>\d{1,9}))?"
    r"(?:\s?(?P<zone>Z|UTC|GMT|[+-]\d{2}:?\d{2})(?![\d:]))?"
)


@lru_cache(maxsize=1 << 16)
def _minute_seconds(prefix: str) -> int:
    """Seconds since the epoch of ``YYYYMMDD-HH:MM`` (cached: a log has few distinct minutes)."""
    if len(prefix) != 14 or prefix[8] != "-" or prefix[11] != ":" or not (
        prefix[:8].isdigit() and prefix[9:11].isdigit() and prefix[12:14].isdigit()
    ):
        raise ValueError(prefix)
    hours, minutes = int(prefix[9:11]), int(prefix[12:14])
    if hours > 23 or minutes > 59:
        raise ValueError(prefix)
    day = date(int(prefix[0:4]), int(prefix[4:6]), int(prefix[6:8]))
    return (day - date(1970, 1, 1)).days * 86400 + hours * 3600 + minutes * 60


@lru_cache(maxsize=1024)
def parse_fix_time(value: str) -> int:
    """FIX UTCTimestamp ``YYYYMMDD-HH:MM:SS[.fraction]`` as nanoseconds since the epoch.

    Cached: SendingTime and TransactTime of a message are often the same string.
    A space after the dash (``20090402- 18:13:13``, NYSE CCG's examples) is read as meant.
    """
    if " " in value:
        value = value.replace(" ", "")
    second = value[15:17]
    if len(value) < 17 or value[14] != ":" or not second.isdigit() or second > "60":
        raise ValueError(value)
    nanos = (_minute_seconds(value[:14]) + int(second)) * 1_000_000_000
    if len(value) == 17:
        return nanos
    fraction = value[18:]
    if value[17] != "." or not fraction.isdigit() or len(fraction) > 9:
        raise ValueError(value)
    return nanos + int(fraction.ljust(9, "0"))


def time_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_fix_time(text)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class LogTime:
    """A logger's time as written (nanoseconds, read as if UTC) and the zone it states, if any."""

    written_ns: int
    zone_ns: int | None  # the stated offset from UTC (UTC itself: 0), None when none is written

    def utc(self, inferred_zone_ns: int = 0) -> int:
        return self.written_ns - (self.zone_ns if self.zone_ns is not None else inferred_zone_ns)


@lru_cache(maxsize=1 << 14)
def read_log_time(prefix: str) -> LogTime | None:
    """The first date and time in the text a logger wrote before a message, or None if it holds none."""
    match = _LOG_TIME.search(prefix)
    if match is None:
        return None
    day = match["compact"] or f"{match['y']}{match['m']}{match['d']}"
    text = f"{day}-{match['clock']}" + (f".{match['fraction']}" if match["fraction"] else "")
    try:
        written = parse_fix_time(text)
    except ValueError:
        return None
    return LogTime(written, _zone(match["zone"]))


def _zone(text: str | None) -> int | None:
    if text is None:
        return None
    if text in ("Z", "UTC", "GMT"):
        return 0
    digits = text[1:].replace(":", "")
    offset = (int(digits[:2]) * 60 + int(digits[2:])) * _MINUTE
    return -offset if text[0] == "-" else offset


def infer_zone(log_ns: int, sending_ns: int) -> int:
    """The zone a log time not stating one is in, judged against SendingTime (52): 0 unless clearly another."""
    offset = log_ns - sending_ns
    zone = round(offset / ZONE_STEP) * ZONE_STEP
    return zone if zone and abs(offset - zone) <= ZONE_SLACK else 0


def zone_text(zone_ns: int) -> str:
    minutes = abs(zone_ns) // _MINUTE
    return f"UTC{'-' if zone_ns < 0 else '+'}{minutes // 60:02d}:{minutes % 60:02d}"
