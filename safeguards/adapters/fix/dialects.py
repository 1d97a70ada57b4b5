"""Where the FIX messages are on a log's lines, told from the content (no flag): the dialects engines write.

* QuickFIX message logs: one message a line, bare or after the log time and `` : ``
  (``20140225-20:24:23.533 : 8=FIX.4.2...``), UTC;
* QuickFIX ``.body`` stores: messages back to back, no newline;
* QuickFIX/Go: ``2018/02/23 19:14:25.174454 8=FIX.4.2...`` (Go's log package: local time);
* QuickFIX/J screen logs: ``<20200713-17:51:24, FIX.4.4:A->B, outgoing> (8=FIX...)``;
  its ``event`` lines (``(Received logon)``), and the lines of a QuickFIX event log
  (``20200713-17:51:24.109 : Received logon``), hold no message: passed over, counted;
* log frameworks (log4j, logback, Python logging): any text before ``8=FIX``, with
  the log time read where the text holds one, and without a time where it does not
  (the message's own times then stand, and the summary says so once).

A message's delimiter is whatever follows its BeginString (``8=FIX.4.4`` or
``8=FIXT.1.1``): SOH, ``|``, ``^A`` or ``;``. Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .times import LogTime, parse_fix_time, read_log_time

MESSAGE_START = "8=FIX"
QUICKFIX, BODY_STORE, QUICKFIX_GO, QUICKFIX_J_SCREEN, LOG_FRAMEWORK, UNTIMED = (
    "QuickFIX message log", "QuickFIX .body store", "QuickFIX/Go log", "QuickFIX/J screen log",
    "log-framework lines", "lines with other text before the message")

_BEGIN_STRING = re.compile(r"8=(FIXT?\.\d\.\d(?:SP\d)?)(\x01|\^A|\||;)")
_QUICKFIX_PREFIX = re.compile(r"^\s*\d{8}-\s*\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\s*:\s*$")
_GO_PREFIX = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\s+$")
_SCREEN = re.compile(r"^<(?P<time>[^,>]*),\s*(?P<session>[^,]*),\s*(?P<direction>[a-z]+)>\s*\((?P<body>.*)\)\s*$")
#: A QuickFIX event-log line (``20200713-17:51:24.109 : Initiated logon request``): an engine event, no message.
_EVENT_LINE = re.compile(r"^\d{8}-\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?\s*:\s*(?!8=FIX)\S")
_LOOKS_LIKE = re.compile(r"(?m)^(?:[^\n]{0,200}?[\s:(\]>])?8=FIXT?\.\d\.\d(?:SP\d)?(?:\x01|\^A|\||;)")


@dataclass(frozen=True, slots=True)
class Line:
    """One log line's messages (text from the first ``8=FIX`` on), the logger's time, and the dialect."""

    body: str
    log_time: LogTime | None
    dialect: str


def looks_like(head: bytes) -> bool:
    """FIX if a line starts with a message, or with a logger's text and then one."""
    return _LOOKS_LIKE.search(head.decode("latin-1")) is not None


def read_line(line: str, whole_file: bool) -> Line | None:
    """Where the messages of ``line`` are; None for a line that holds none by design (a screen log's event)."""
    screen = _SCREEN.match(line) if line.startswith("<") else None
    if screen is not None:
        if not screen["body"].startswith(MESSAGE_START):
            return None
        return Line(screen["body"], read_log_time(screen["time"]), QUICKFIX_J_SCREEN)
    head, sep, rest = line.partition(MESSAGE_START)
    if not sep:
        if _EVENT_LINE.match(line):
            return None
        return Line(line, None, UNTIMED)  # no message at all: the reader rejects it
    body = MESSAGE_START + rest
    if not head.strip():
        return Line(body, None, BODY_STORE if whole_file else QUICKFIX)
    if head.endswith(" : ") and len(head) > 20 and head[8] == "-":  # QuickFIX's own prefix, read without a search
        try:
            return Line(body, LogTime(parse_fix_time(head[:-3].strip()), 0), QUICKFIX)
        except ValueError:
            pass
    log_time = read_log_time(head)
    if log_time is None:
        return Line(body, None, UNTIMED)
    if _QUICKFIX_PREFIX.match(head):
        return Line(body, LogTime(log_time.written_ns, 0), QUICKFIX)
    return Line(body, log_time, QUICKFIX_GO if _GO_PREFIX.match(head) else LOG_FRAMEWORK)


def delimiter_of(message: str) -> str | None:
    """The delimiter after the message's BeginString, or None when it has none we know."""
    match = _BEGIN_STRING.match(message)
    return match[2] if match else None


_SPLITTERS = {d: re.compile(re.escape(d) + r"(?=8=FIX)") for d in ("\x01", "^A", "|", ";")}


def messages(body: str, delimiter: str | None) -> list[str]:
    """The messages of a line (a ``.body`` store's are back to back), each ending with its delimiter."""
    if delimiter is None or body.count(MESSAGE_START) == 1:
        return [body]
    parts = _SPLITTERS[delimiter].split(body)
    return [part + delimiter for part in parts[:-1]] + [parts[-1]]
