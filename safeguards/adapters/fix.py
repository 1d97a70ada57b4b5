"""FIX 4.2 and 4.4 logs: QuickFIX message logs and ``.body`` stores, SOH or ``|`` delimited.

Input shapes
    * message logs: one message per line, optionally prefixed by the log's own time,
      ``20140225-20:24:23.533 : 8=FIX.4.2|9=...``; ``#`` lines are comments;
    * ``.body`` stores: messages back to back with no newline.
    A message starts at ``8=FIX`` at the start of a line or right after a delimiter.

Mapping (one canonical event per business message)
    * ExecutionReport (35=8) -> broker event from ExecType (150): 0 new, A pending_new,
      6 pending_cancel, 4 canceled, E pending_replace, 5 replaced, 8 rejected,
      C expired; trades are 1/2 in the 4.2 style and F in the 4.4 style (F is ``fill``
      when OrdStatus 39=2, else ``partial_fill``). Without 150 (FIX 4.0/4.1), or for a
      trade ExecType with no LastQty (32) above zero, OrdStatus decides (5 replaced,
      E pending_replace, and so on). Status reports (20=3, 150=I), done-for-day,
      stopped, suspended, restated and calculated reports have no canonical type: they
      are rejected rows with that reason, never dropped.
    * Trade busts and corrections (4.2: ExecTransType 20=1/2; 4.4: ExecType 150=H/G)
      are rejected rows too, with a reason that says what is then wrong. There is no
      canonical type for them, and none of the broker types is faithful: a bust takes
      quantity back (``cum_qty`` would go down, which the engine reads as a stale
      report), a correction rewrites an earlier fill's quantity or price. Mapped as
      fills they would be silently misread; as rejected rows (reason, whole message,
      ExecRefID 19 inside) a person sees that the fill they amend is still counted.
    * NewOrderSingle (35=D, ours) -> local ``submit``; OrderCancelRequest (35=F) ->
      local ``cancel_request``; OrderCancelReject (35=9) -> broker ``cancel_rejected``
      (also for a refused replace, 434=2: the engine reverts the pending request).
    * OrderCancelReplaceRequest (35=G, ours) is linked exactly like 35=F: its new
      ClOrdID joins the chain of OrigClOrdID (41), so the broker's ``pending_replace``
      (150=E) and ``replaced`` (150=5) reports, and every later fill under the new
      ClOrdID, reach the original order. The request itself is a rejected row: the
      canonical local types are ``intent``, ``submit`` and ``cancel_request``, and a
      replace is none of them (as a ``cancel_request`` it would start a cancel timeout
      that a ``replaced`` order never meets, a false ``cancel_timeout``). A local
      ``replace_request`` type would need DESIGN section 4 and the engine to know it.
    * A session Reject (35=3) whose RefSeqNum (45) is one of our NewOrderSingles is a
      broker ``rejected`` for that order (the order never reached the book); other
      session messages (0, 1, 2, 3, 4, 5, A) are skipped and counted. Any other
      message type (BusinessMessageReject j, venue-specific types) is a rejected row.

Identity
    ClOrdID (11) is unique only within one FIX session and day, so every order id is
    scoped by the session as ``CLIENT@BROKER/ClOrdID`` (client = our CompID, broker =
    theirs, whichever direction the message went). Cancel and replace requests and the
    reports answering them carry a new ClOrdID and the previous one in OrigClOrdID
    (41); both are followed back to the first ClOrdID of the chain, so every event of
    an order carries the same ``order_id`` (the ClOrdID actually sent stays in
    ``extra.fix_clordid``). ``event_id`` is ``CLIENT@BROKER/ExecID`` for execution
    reports. ``account`` stays ``default`` (orders are already scoped by session; a
    tag 1 Account that only some messages of an order carry would split it), and the
    Account tag is kept in the message in ``extra.fix_message``.

Times and sequence numbers
    ``broker_ts`` is TransactTime (60), else SendingTime (52). ``recv_ts`` is the log
    line's own time when the log has one, else SendingTime (``extra.recv_ts_from``
    says which). PossDupFlag (43) is ``poss_dup``.

    ``broker_seq`` is what a sequence-gap check needs, not MsgSeqNum (34) itself: the
    broker's events numbered in log order, starting at the first one's MsgSeqNum,
    each one more than the last, plus the number of messages missing before it. So a
    log with nothing missing has no holes, even though session messages (heartbeats,
    gap fills...) and messages rejected on ingest are not events, and even with several
    sessions in one log (all in account ``default``); a real loss still leaves a hole
    of its size. Missing means: a session's MsgSeqNum above the one expected after its
    previous message of any type; a re-send (43=Y) never moves that expectation back,
    a SequenceReset (35=4) moves it to NewSeqNo (36), and a lower number without 43=Y
    (a Logon that resets the session) restarts it. The raw numbers stay in ``extra``:
    ``fix_seq`` is the message's MsgSeqNum (either direction) and ``fix_prev_seq`` the
    number the broker's session had reached before it (its previous message, moved by
    gap fills and re-sends as above), so ``fix_seq - fix_prev_seq - 1`` messages are
    missing just before a broker event.

Quirks handled
    * A trade report with CumQty 0 but LastQty > 0 (NYSE CCG examples) does not say
      the cumulative quantity; it is derived as OrderQty - LeavesQty, with
      ``extra.cum_qty_derived`` true and the reported 0 in ``extra.cum_qty_reported``.
    * SendingTime written with a space (``20090402- 18:13:13``) is read as meant.
    * Prices are kept exactly as sent (``109.479999999981``), not rounded.
    * Nothing is lost: every event keeps its whole message, ``|``-delimited, in
      ``extra.fix_message`` (query a tag with e.g. ``regexp_extract(extra->>'fix_message',
      '[|]58=([^|]*)', 1)``), plus ``fix_session``, ``fix_msg_type``, ``fix_clordid``,
      ``fix_seq`` and ``fix_prev_seq``.

Backtesting logs that hold no intents
    FIX logs record what went over the wire, not our intents. By default
    (``intents="none"``) none are invented: every order then lacks an intent and a
    correct engine reports each as ``orphan_order``, which is the truth about the log.
    With ``intents="from-submits"`` each of our NewOrderSingles is also recorded as an
    ``intent`` (a single-leg group named after the order, role ``leg``) just before its
    ``submit``, so the intent guard checks everything else. Orders the broker reports
    without a NewOrderSingle in the log (as in a broker-side store, where every order
    is one we never saw being sent) get no intent either way: they stay orphans, so an
    order at the broker that we never sent is never hidden.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from ..errors import IngestError

if TYPE_CHECKING:
    import polars as pl

FORMAT = "fix"
INTENTS_NONE = "none"
INTENTS_FROM_SUBMITS = "from-submits"
INTENT_MODES = (INTENTS_NONE, INTENTS_FROM_SUBMITS)

SESSION_TYPES = {"0": "Heartbeat", "1": "TestRequest", "2": "ResendRequest", "3": "Reject",
                 "4": "SequenceReset", "5": "Logout", "A": "Logon"}
MESSAGE_NAMES = {"8": "ExecutionReport", "9": "OrderCancelReject", "D": "NewOrderSingle",
                 "F": "OrderCancelRequest", "G": "OrderCancelReplaceRequest", "j": "BusinessMessageReject",
                 "AE": "TradeCaptureReport", "AR": "TradeCaptureReportAck", **SESSION_TYPES}

EXEC_TYPES = {"0": "new", "A": "pending_new", "6": "pending_cancel", "4": "canceled", "E": "pending_replace",
              "5": "replaced", "8": "rejected", "C": "expired", "1": "partial_fill", "2": "fill"}
UNMAPPED_EXEC_TYPES = {"3": "done for day", "7": "stopped", "9": "suspended", "B": "calculated",
                       "D": "restated", "I": "order status"}  # trade busts and corrections: _trade_amendment_reason
ORD_STATUS_TYPES = {"0": "new", "1": "partial_fill", "2": "fill", "4": "canceled", "5": "replaced",
                    "6": "pending_cancel", "8": "rejected", "A": "pending_new", "C": "expired",
                    "E": "pending_replace"}
EXEC_TRANS_TYPES = {"3": "status"}  # 1 and 2, bust and correction: _trade_amendment_reason
SIDES = {"1": "buy", "2": "sell", "3": "buy", "4": "sell", "5": "sell", "6": "sell"}

#: canonical numeric field <- (tag, tag name)
NUMBER_TAGS = {"qty": ("38", "OrderQty"), "limit_px": ("44", "Price"), "last_qty": ("32", "LastQty"),
               "last_px": ("31", "LastPx"), "cum_qty": ("14", "CumQty"), "leaves_qty": ("151", "LeavesQty")}

#: Called with the fraction of a file read so far (for a progress bar).
Progress = Callable[[float], None]
_PROGRESS_EVERY = 20_000  # messages

_MESSAGE_START = "8=FIX"
_MESSAGE_STARTS = {d: re.compile(re.escape(d) + r"(?=8=FIX)") for d in ("\x01", "|")}
_LOG_TIME = re.compile(r"^\s*(\d{8}-\s*\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)\s*:\s*$")

#: Staged columns, in the order of each row tuple. The ``fix_*`` and following columns
#: become the JSON ``extra`` in SQL (one vectorized step instead of a json.dumps per row).
COLUMNS = ("row_number", "location", "raw", "pre_reason", "type_error", "source", "type", "event_id",
           "order_id", "broker_order_id", "group_id", "role", "symbol", "side", "qty", "limit_px", "last_qty",
           "last_px", "cum_qty", "leaves_qty", "broker_ts", "recv_ts", "broker_seq", "poss_dup",
           "fix_session", "fix_msg_type", "fix_clordid", "fix_seq", "fix_prev_seq", "recv_ts_from",
           "cum_qty_derived", "cum_qty_reported", "fix_reject_text", "synthesized_from")
EXTRA_COLUMNS = COLUMNS[COLUMNS.index("fix_session"):]


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The staged frame's column types (polars is imported on first use: other formats never pay for it)."""
    import polars as pl

    return {name: pl.Utf8 for name in COLUMNS} | {
        "row_number": pl.Int64, "broker_ts": pl.Int64, "recv_ts": pl.Int64, "broker_seq": pl.Int64,
        "poss_dup": pl.Boolean, **{name: pl.Float64 for name in NUMBER_TAGS},
        "fix_seq": pl.Int64, "fix_prev_seq": pl.Int64, "cum_qty_derived": pl.Boolean, "cum_qty_reported": pl.Float64,
    }
_POSS_DUP = {"Y": True, "N": False}


def looks_like(head: bytes) -> bool:
    """FIX if a message starts at the beginning of the file or of a line."""
    text = head.decode("latin-1")
    return text.startswith(_MESSAGE_START) or re.search(r"(?m)^(?:[^\n]*? : )?8=FIX", text) is not None


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


class _Session:
    """Per-session state: the ClOrdID chains, our outbound NewOrderSingles, the broker's sequence numbers."""

    __slots__ = ("roots", "outbound_orders", "last_inbound_seq", "missing")

    def __init__(self) -> None:
        self.roots: dict[str, str] = {}
        self.outbound_orders: dict[str, str] = {}
        self.last_inbound_seq: int | None = None
        self.missing = 0  # broker messages missing from the log, not yet charged to an event

    def root(self, clordid: str) -> str:
        return self.roots.get(clordid, clordid)

    def link(self, clordid: str | None, orig: str | None) -> str | None:
        """The chain's first ClOrdID, recording ``clordid`` as a member of ``orig``'s chain."""
        if orig:
            root = self.root(orig)
            if clordid:
                self.roots[clordid] = root
            return root
        if clordid:
            return self.root(clordid)
        return None

    def observe_inbound(self, seq: int | None, msg_type: str, tags: dict[str, str]) -> int | None:
        """Note one message the broker sent (any type); return the number the session had reached before it.

        A MsgSeqNum above the expected next one means messages are missing from the log:
        they are counted in ``missing``. Re-sends (PossDupFlag 43=Y) never move the
        expectation back, a SequenceReset (35=4) moves it to NewSeqNo (36), and any other
        lower number (a Logon resetting the session) restarts it.
        """
        last = self.last_inbound_seq
        if seq is None:
            return last
        if last is not None and seq > last + 1:
            self.missing += seq - last - 1
        new_seq = _int_or_none(tags.get("36")) if msg_type == "4" else None
        if new_seq is not None:
            gap_fill = tags.get("123") == "Y"
            self.last_inbound_seq = max(last, new_seq - 1) if gap_fill and last is not None else new_seq - 1
        elif last is not None and seq <= last and tags.get("43") == "Y":
            pass  # a re-send of a message already counted
        else:
            self.last_inbound_seq = seq
        return last


class FixReader:
    """Turns FIX messages into staged rows, keeping session state across messages."""

    def __init__(self, intents: str = INTENTS_NONE):
        if intents not in INTENT_MODES:
            raise IngestError(f"unknown FIX intents mode {intents!r} (known: {', '.join(INTENT_MODES)})")
        self.intents = intents
        self.sessions: dict[str, _Session] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.skipped = 0
        self.last_broker_seq: int | None = None

    # --- splitting ---------------------------------------------------------------

    def read_text(self, text: str, progress: Progress | None = None) -> None:
        """Read a whole log; each line picks its own delimiter (SOH if it has one, else ``|``).

        ``progress`` is called now and then with the fraction of the text read.
        """
        ordinal = 0
        line_mode = text.count("\n") > 1
        position = 0
        for line_number, line in enumerate(text.split("\n"), start=1):
            line_start, position = position, position + len(line) + 1
            line = line.rstrip("\r")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            head, sep, body = line.partition(_MESSAGE_START)
            log_time: int | None = None
            pre_reason = None
            if not sep:
                body = line
                pre_reason = "no FIX message on this line (expected 8=FIX...)"
            elif head.strip():
                match = _LOG_TIME.match(head)
                if match is None:
                    pre_reason = f"text before the message is not a log time: {head.strip()[:40]!r}"
                else:
                    try:
                        log_time = parse_fix_time(match.group(1))
                    except ValueError:
                        pre_reason = f"log time {match.group(1)!r} is not a valid date and time"
            body = _MESSAGE_START + body if sep else body
            delimiter = "\x01" if "\x01" in body else "|"
            pieces = _MESSAGE_STARTS[delimiter].split(body)
            offset = line_start
            for index, message in enumerate(pieces):
                ordinal += 1
                offset += len(message) + 1
                if progress is not None and ordinal % _PROGRESS_EVERY == 0:
                    progress(offset / len(text))
                if line_mode:
                    location = f"line {line_number}" if len(pieces) == 1 else f"line {line_number}, message {index + 1}"
                else:
                    location = f"message {ordinal}"
                if pre_reason is not None:
                    self._reject(location, message, pre_reason)
                else:
                    self.read_message(message, delimiter, location, log_time)

    # --- one message ---------------------------------------------------------------

    def read_message(self, message: str, delimiter: str, location: str, log_time: int | None) -> None:
        tags = _tags(message, delimiter)
        if isinstance(tags, str):
            self._reject(location, message, tags)
            return
        msg_type = tags.get("35")
        if msg_type is None:
            self._reject(location, message, "no MsgType (35)")
            return
        raw = message.replace("\x01", "|")
        outbound = msg_type in ("D", "F", "G")
        client, broker = (tags.get("49", "?"), tags.get("56", "?")) if outbound else (tags.get("56", "?"), tags.get("49", "?"))
        session_id = f"{client}@{broker}"
        session = self.sessions.setdefault(session_id, _Session())
        seq = _int_or_none(tags.get("34"))
        prev_seq = None if outbound else session.observe_inbound(seq, msg_type, tags)
        name = MESSAGE_NAMES.get(msg_type, f"type {msg_type}")

        if msg_type == "3" and tags.get("45") in session.outbound_orders:
            event_type: str | None = "rejected"
        elif msg_type in SESSION_TYPES:
            self.skipped += 1
            return
        elif msg_type == "8":
            event_type, why = _execution_type(tags)
            if event_type is None:
                session.link(tags.get("11"), tags.get("41"))
                self._reject(location, raw, why)
                return
        elif msg_type == "9":
            event_type = "cancel_rejected"
        elif msg_type in ("D", "F"):
            event_type = "submit" if msg_type == "D" else "cancel_request"
        elif msg_type == "G":
            session.link(tags.get("11"), tags.get("41"))
            self._reject(location, raw, "OrderCancelReplaceRequest (35=G) has no canonical local event type "
                                        "(its new ClOrdID is linked to the order it replaces)")
            return
        else:
            self._reject(location, raw, f"FIX message {name} (35={msg_type}) has no canonical event type")
            return

        clordid: str | None
        root: str | None
        if msg_type == "3":
            clordid = session.outbound_orders[tags["45"]]
            root = session.root(clordid)
        else:
            clordid = tags.get("11")
            root = session.link(clordid, tags.get("41"))
        if msg_type == "D" and clordid and seq is not None:
            session.outbound_orders[str(seq)] = clordid
        order_id = f"{session_id}/{root}" if root else None

        numbers: dict[str, float | None] = {}
        type_error = None
        for field, (tag, tag_name) in NUMBER_TAGS.items():
            text = tags.get(tag)
            if not text:
                numbers[field] = None
                continue
            try:
                numbers[field] = float(text)
            except ValueError:
                numbers[field] = None
                type_error = type_error or f"field {field!r}: {tag_name} ({tag}) {text!r} is not a number"
        reject_text = derived = reported = None
        if msg_type == "3":
            numbers["cum_qty"] = numbers["leaves_qty"] = 0.0
            reject_text = tags.get("58")
        if event_type in ("fill", "partial_fill") and numbers["cum_qty"] == 0 and (numbers["last_qty"] or 0) > 0:
            qty, leaves = numbers["qty"], numbers["leaves_qty"]
            numbers["cum_qty"] = qty - leaves if qty is not None and leaves is not None else None
            derived, reported = numbers["cum_qty"] is not None, 0.0

        sending = _time_or_none(tags.get("52"))
        transact = _time_or_none(tags.get("60"))
        if sending is None and "52" in tags:
            type_error = type_error or f"field 'recv_ts': SendingTime (52) {tags['52']!r} is not a FIX timestamp"
        if transact is None and "60" in tags:
            type_error = type_error or f"field 'broker_ts': TransactTime (60) {tags['60']!r} is not a FIX timestamp"
        event_id_tail = {"8": tags.get("17"), "9": f"9:{clordid}", "3": f"3:{tags.get('34')}",
                         "D": f"D:{clordid}", "F": f"F:{clordid}"}[msg_type]
        event_id = f"{session_id}/{event_id_tail}" if event_id_tail else None
        head = (location, raw, None, type_error, "local" if outbound else "broker")
        middle = (order_id, tags.get("37"))
        tail = (
            tags.get("55"), SIDES.get(tags.get("54", "")), numbers["qty"], numbers["limit_px"], numbers["last_qty"],
            numbers["last_px"], numbers["cum_qty"], numbers["leaves_qty"],
            None if outbound else (transact if transact is not None else sending),
            log_time if log_time is not None else sending,
            None if outbound else self._broker_seq(session, seq), _POSS_DUP.get(tags.get("43", "")),
            session_id, msg_type, clordid, seq, prev_seq,
            "SendingTime" if log_time is None else "log", derived, reported, reject_text,
        )
        rows = self.rows
        if msg_type == "D" and self.intents == INTENTS_FROM_SUBMITS:
            rows.append((len(rows) + 1, *head, "intent", f"{session_id}/intent:{clordid}", order_id, None,
                         order_id, "leg", *tail, "NewOrderSingle"))
        rows.append((len(rows) + 1, *head, event_type, event_id, *middle, None, None, *tail, None))

    def _broker_seq(self, session: _Session, seq: int | None) -> int | None:
        """The next number of the log's broker-event sequence: +1, plus the messages missing before it.

        Session messages and messages that are not events leave no hole, so a gap check on
        ``broker_seq`` fires only where the log really lacks messages. The sequence starts
        at the first broker event's MsgSeqNum and runs across sessions in log order.
        """
        if seq is None:
            return None
        last = self.last_broker_seq
        value = seq if last is None else last + 1 + session.missing
        session.missing = 0
        self.last_broker_seq = value
        return value

    # --- output ---------------------------------------------------------------------

    def _reject(self, location: str, raw: str, reason: str) -> None:
        blank = (None,) * (len(COLUMNS) - 4)
        self.rows.append((len(self.rows) + 1, location, raw.replace("\x01", "|"), reason, *blank))

    def frame(self) -> pl.DataFrame:
        import polars as pl

        return pl.DataFrame(self.rows, schema=_schema(), orient="row")


def _tags(message: str, delimiter: str) -> dict[str, str] | str:
    """The message's fields by tag (the first occurrence wins), or why it cannot be read."""
    items = message.split(delimiter)
    if items and not items[-1]:
        items.pop()
    try:
        return dict(reversed([item.split("=", 1) for item in items]))
    except ValueError:  # an empty field (two delimiters in a row) or one without '='
        tags: dict[str, str] = {}
        for item in items:
            if item:
                tag, sep, value = item.partition("=")
                if not sep:
                    return f"malformed FIX field {item[:40]!r} (expected tag=value)"
                tags.setdefault(tag, value)
        return tags


def _execution_type(tags: dict[str, str]) -> tuple[str | None, str]:
    """The canonical broker type of an ExecutionReport, or None and the reason to reject it."""
    trans = tags.get("20")
    exec_type = tags.get("150")
    status = tags.get("39")
    if trans in ("1", "2") or exec_type in ("H", "G"):
        return None, _trade_amendment_reason(trans, exec_type)
    if trans in EXEC_TRANS_TYPES:
        return None, f"ExecutionReport with ExecTransType 20={trans} ({EXEC_TRANS_TYPES[trans]}) has no canonical event type"
    if exec_type in ("1", "2", "F") and _float_or_zero(tags.get("32")) <= 0 and status in ORD_STATUS_TYPES:
        return ORD_STATUS_TYPES[status], ""  # a "trade" that traded nothing: OrdStatus says what it is
    if exec_type == "F":
        return ("fill" if status == "2" else "partial_fill"), ""
    if exec_type in EXEC_TYPES:
        return EXEC_TYPES[exec_type], ""
    if exec_type in UNMAPPED_EXEC_TYPES:
        return None, (f"ExecutionReport with ExecType 150={exec_type} ({UNMAPPED_EXEC_TYPES[exec_type]}) "
                      f"has no canonical event type")
    if exec_type is None and status in ORD_STATUS_TYPES:
        return ORD_STATUS_TYPES[status], ""
    return None, f"ExecutionReport with ExecType 150={exec_type} and OrdStatus 39={status} has no canonical event type"


def _trade_amendment_reason(trans: str | None, exec_type: str | None) -> str:
    """Why a trade bust or correction is rejected, and what that leaves wrong in the events."""
    tag = f"ExecTransType 20={trans}" if trans in ("1", "2") else f"ExecType 150={exec_type}"
    if trans == "1" or (trans != "2" and exec_type == "H"):
        return (f"trade bust ({tag}) has no canonical event type: the fill it cancels (ExecRefID 19) "
                f"still counts in the order's cum_qty")
    return (f"trade correction ({tag}) has no canonical event type: the fill it corrects (ExecRefID 19) "
            f"keeps its first quantity and price")


def _float_or_zero(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _int_or_none(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _time_or_none(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_fix_time(text)
    except ValueError:
        return None


def read_fix(
    path: Path, intents: str = INTENTS_NONE, progress: Progress | None = None
) -> tuple[pl.DataFrame, int]:
    """Parse a FIX log into staged rows; return them and the number of session messages skipped."""
    try:
        text = path.read_bytes().decode("latin-1")
    except OSError as error:
        raise IngestError(f"{path}: cannot read ({error.strerror})") from None
    reader = FixReader(intents)
    reader.read_text(text, progress)
    return reader.frame(), reader.skipped


def stage(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, intents: str = INTENTS_NONE,
    progress: Progress | None = None,
) -> int:
    """Create the staged table ``name`` from a FIX log; ``extra`` is assembled here, in SQL."""
    frame, skipped = read_fix(path, intents, progress)
    pairs = ", ".join(f"'{column}', {column}" for column in EXTRA_COLUMNS)
    con.register(f"{name}_frame", frame)
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * EXCLUDE ({', '.join(EXTRA_COLUMNS)}), "
            f"CASE WHEN pre_reason IS NULL THEN json_merge_patch('{{}}', json_object({pairs}, 'fix_message', raw)) "
            f"END AS extra FROM {name}_frame"
        )
    finally:
        con.unregister(f"{name}_frame")
    return skipped
