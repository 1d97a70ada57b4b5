"""Reading a FIX log into staged rows: framing, dialect, session, sequence and mapping put together.

Identity
    ClOrdID (11) is unique only within one FIX session and day, so every order id is
    scoped by the session as ``CLIENT@BROKER/ClOrdID`` (client = our CompID, broker =
    theirs, whichever direction the message went). Cancel and replace requests and the
    reports answering them carry a new ClOrdID and the previous one in OrigClOrdID (41);
    both are followed back to the first ClOrdID of the chain, so every event of an order
    carries the same ``order_id`` (the ClOrdID actually sent stays in
    ``extra.fix_clordid``). A NewOrderSingle whose ClOrdLinkID (583) names a multileg
    order's leg (``ClOrdID/LegRefID``) or another hedge is a hedge of that group (its
    intent: role ``hedge``, ``parent_id`` the order it hedges). A report with no ClOrdID is keyed by its OrderID (37): the
    order it was seen with, else ``CLIENT@BROKER/37=OrderID``. A NewOrderMultileg (AB) is
    a group (``group_id`` ``CLIENT@BROKER/ClOrdID``) of one order per leg (``.../ClOrdID/
    LegRefID``); reports naming a leg (MultiLegReportingType 442=2, NoLegs 555) reach that
    leg, reports of the whole (442=3) reach every leg, except fills, which do not say each
    leg's quantity (rejected rows). ``event_id`` is ``CLIENT@BROKER/ExecID`` for
    execution reports; ids we derive (``D:ClOrdID@2``, a session Reject's ``3:34@2``...)
    carry the session's logon epoch, so they never recur across logons and resets.

Times and sequence numbers
    ``broker_ts`` is TransactTime (60), else SendingTime (52). ``recv_ts`` is the log
    line's own time when it has one (in UTC: see :mod:`.times`), else SendingTime
    (``extra.recv_ts_from`` says which). ``broker_seq`` is what a gap check needs (see
    :mod:`.sequence`): the broker's fresh events numbered in log order, starting at the
    first one's MsgSeqNum, each one more than the last plus the numbers really missing
    before it; re-sends get none. A session whose log holds no session message at all
    (an application-only trace: heartbeats and logons filtered out) has holes by design,
    and they are not counted (the summary says so). ``extra.fix_seq`` is the MsgSeqNum and
    ``extra.fix_prev_seq`` the number the sender had reached before it.

Quirks handled
    * A trade report with CumQty 0 but LastQty > 0 (NYSE CCG examples) gets CumQty
      derived as OrderQty - LeavesQty (``extra.cum_qty_derived``, the reported 0 in
      ``extra.cum_qty_reported``).
    * Prices are kept exactly as sent (``109.479999999981``), not rounded.
    * Nothing is lost: every event keeps its whole message, ``|``-delimited, in
      ``extra.fix_message``.

Intents
    FIX logs record what went over the wire, not our intents. By default
    (``intents="from-submits"``) each of our NewOrderSingles (and each leg of a
    NewOrderMultileg) is also recorded as an ``intent`` just before its ``submit``
    (``extra.synthesized_from`` names the message), and the backtest summary says so.
    Orders the broker reports without one in the log (a broker-side store) get no
    intent: an order at the broker that we never sent is never hidden. ``"none"``
    invents none (then each order is an ``orphan_order``, the truth about the log).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ...errors import IngestError
from . import dialects
from .framing import Message, UnreadableMessage, is_number, read_message
from .mapping import (FILL_TYPES, MESSAGE_NAMES, NUMBER_TAGS, OUTBOUND, READ, SESSION_TYPES, SIDES, execution_type,
                      legs, quote_sides)
from .sequence import Hole, SenderSequence, SequenceProblem, Step
from .times import LogTime, infer_zone, time_or_none, zone_text

if TYPE_CHECKING:
    import polars as pl

INTENTS_NONE = "none"
INTENTS_FROM_SUBMITS = "from-submits"
INTENT_MODES = (INTENTS_FROM_SUBMITS, INTENTS_NONE)

#: Called with the fraction of a file read so far (for a progress bar).
Progress = Callable[[float], None]
_PROGRESS_EVERY = 20_000  # messages

_NUMBERS = ("qty", "limit_px", "last_qty", "last_px", "cum_qty", "leaves_qty", "bid_px", "bid_qty", "ask_px",
            "ask_qty", "cum_qty_reported")
#: Staged columns. The ``fix_session`` and following columns become the JSON ``extra`` in SQL.
COLUMNS = ("row_number", "location", "raw", "pre_reason", "type_error", "source", "type", "event_id",
           "order_id", "broker_order_id", "group_id", "leg", "role", "parent_id", "symbol", "side", "qty", "limit_px", "last_qty",
           "last_px", "cum_qty", "leaves_qty", "bid_px", "bid_qty", "ask_px", "ask_qty", "broker_ts", "recv_ts",
           "broker_seq", "poss_dup", "fix_session", "fix_msg_type", "fix_clordid", "fix_seq", "fix_prev_seq",
           "fix_epoch", "recv_ts_from", "cum_qty_derived", "cum_qty_reported", "fix_reject_text", "synthesized_from")
EXTRA_COLUMNS = COLUMNS[COLUMNS.index("fix_session"):]
_POSS_DUP = {"Y": True, "N": False}


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The staged frame's column types (polars is imported on first use: other formats never pay for it)."""
    import polars as pl

    return {name: pl.Utf8 for name in COLUMNS} | {name: pl.Float64 for name in _NUMBERS} | {
        "row_number": pl.Int64, "broker_ts": pl.Int64, "recv_ts": pl.Int64, "broker_seq": pl.Int64,
        "poss_dup": pl.Boolean, "fix_seq": pl.Int64, "fix_prev_seq": pl.Int64, "fix_epoch": pl.Int64,
        "cum_qty_derived": pl.Boolean,
    }


@dataclass
class _Session:
    """One FIX session (a pair of CompIDs): who is the client, ClOrdID chains, orders, each side's numbering."""

    client: str | None = None
    begin_string: str | None = None
    epoch: int = 0  # logons seen (a Logon answered by a Logon counts once)
    last_type: str | None = None
    roots: dict[str, str] = field(default_factory=dict)
    by_order_id: dict[str, str] = field(default_factory=dict)  # OrderID (37) -> root ClOrdID
    multileg: dict[str, list[tuple[str, float]]] = field(default_factory=dict)  # root -> (leg, ratio)
    hedges: dict[str, str] = field(default_factory=dict)  # a hedge's ClOrdID -> the group (root) it hedges
    has_session_messages: bool = False  # none at all: an application-only trace, whose holes are not losses
    outbound_orders: dict[tuple[int, int], str] = field(default_factory=dict)  # (epoch, our MsgSeqNum) -> ClOrdID
    senders: dict[str, SenderSequence] = field(default_factory=dict)
    pending_holes: dict[str, list[Hole]] = field(default_factory=dict)

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


class FixReader:
    """Turns FIX messages into staged rows, keeping session state across messages."""

    def __init__(self, intents: str = INTENTS_FROM_SUBMITS, lenient: bool = False):
        if intents not in INTENT_MODES:
            raise IngestError(f"unknown FIX intents mode {intents!r} (known: {', '.join(INTENT_MODES)})")
        self.intents = intents
        self.lenient = lenient
        self.sessions: dict[frozenset[str], _Session] = {}
        self.rows: list[dict[str, Any]] = []
        self.skipped = 0
        self.passed_over = 0  # lines that hold no message by design (a QuickFIX/J screen log's events)
        self.dialects: Counter[str] = Counter()
        self.zone: int | None = None  # the zone of log times that state none, once inferred
        self.synthesized = 0
        self.untraced_holes = 0  # MsgSeqNums absent from an application-only trace (not counted as lost)

    # --- lines -------------------------------------------------------------------

    def read_text(self, text: str, progress: Progress | None = None) -> None:
        """Read a whole log; ``progress`` is called now and then with the fraction of the text read."""
        ordinal = 0
        line_mode = text.count("\n") > 1
        position = 0
        for line_number, raw_line in enumerate(text.split("\n"), start=1):
            position += len(raw_line) + 1
            line = raw_line.rstrip("\r")
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            found = dialects.read_line(line, whole_file=not line_mode)
            if found is None:
                self.passed_over += 1
                continue
            if not found.body.startswith(dialects.MESSAGE_START):
                ordinal += 1
                self._reject(f"line {line_number}", line, "no FIX message on this line (expected 8=FIX...)")
                continue
            self.dialects[found.dialect] += 1
            delimiter = dialects.delimiter_of(found.body)
            pieces = dialects.messages(found.body, delimiter)
            for index, message in enumerate(pieces):
                ordinal += 1
                if progress is not None and ordinal % _PROGRESS_EVERY == 0:
                    progress(min(position / max(len(text), 1), 1.0))
                if line_mode:
                    location = f"line {line_number}" if len(pieces) == 1 else f"line {line_number}, message {index + 1}"
                else:
                    location = f"message {ordinal}"
                if delimiter is None:
                    self._reject(location, message, f"BeginString (8) {message[:12]!r} is not followed by a field "
                                                    f"delimiter (SOH, '|', '^A' or ';'): not a FIX message")
                    continue
                self.read_message(message, delimiter, location, found.log_time)
        self._number_broker_events()

    # --- one message ---------------------------------------------------------------

    def read_message(self, text: str, delimiter: str, location: str, log_time: LogTime | None) -> None:
        raw = text.replace(delimiter, "|") if delimiter != "|" else text
        try:
            message = read_message(text, delimiter, self.lenient)
        except UnreadableMessage as problem:
            self._reject(location, raw, str(problem))
            return
        tags = message.fields
        msg_type = tags["35"]
        sender, target = tags.get("49", "?"), tags.get("56", "?")
        session = self.sessions.setdefault(frozenset((sender, target)), _Session())
        if msg_type in OUTBOUND:
            session.client = sender
        elif msg_type in ("8", "9", "j") or session.client is None and msg_type not in SESSION_TYPES:
            session.client = target
        client = session.client or target
        broker = sender if client == target else target
        session_id = f"{client}@{broker}"
        if session.begin_string is None:
            session.begin_string = tags["8"]
        elif tags["8"] != session.begin_string and not self.lenient:
            self._reject(location, raw, f"BeginString (8) {tags['8']!r} differs from the session's "
                                        f"{session.begin_string!r}: a FIX engine refuses it; a log that mixes "
                                        f"versions in one session was written by more than one engine")
            return
        if message.repeated and msg_type in READ:
            tag = message.repeated[0]
            self._reject(location, raw, f"tag {tag} repeated in one message (field {tag!r} has two values): a FIX "
                                        f"engine refuses it, and which value is meant cannot be told")
            return
        if msg_type == "A" and session.last_type != "A":
            session.epoch += 1
        session.last_type = msg_type
        session.has_session_messages = session.has_session_messages or msg_type in SESSION_TYPES
        step = self._follow(session, sender, msg_type, tags, location, raw)
        if step is False:
            return
        self._map(session, session_id, sender, target, msg_type, message, raw, location, log_time, step)

    def _follow(self, session: _Session, sender: str, msg_type: str, tags: dict[str, str], location: str,
                raw: str) -> Step | None | bool:
        """The message's step in its sender's numbering (None without a MsgSeqNum; False: rejected)."""
        seq_text = tags.get("34", "")
        if not is_number(seq_text):
            return None
        numbering = session.senders.get(sender)
        if numbering is None:
            numbering = session.senders[sender] = SenderSequence(lenient=self.lenient)
        try:
            step = numbering.observe(int(seq_text), msg_type, tags)
        except SequenceProblem as problem:
            self._reject(location, raw, str(problem))
            return False
        if step.hole is not None:
            session.pending_holes.setdefault(sender, []).append(step.hole)
        return step

    def _map(self, session: _Session, session_id: str, sender: str, target: str, msg_type: str, message: Message,
             raw: str, location: str, log_time: LogTime | None, step: Step | None) -> None:
        tags = message.fields
        epoch = session.epoch
        seq = int(tags["34"]) if is_number(tags.get("34", "")) else None
        outbound = msg_type in OUTBOUND
        if msg_type == "3":
            ref, ours = tags.get("45", ""), session.senders.get(target)
            clordid = session.outbound_orders.get((ours.epoch if ours else 0, int(ref))) if is_number(ref) else None
            if clordid is None:
                self.skipped += 1
                return
            event_type: str | None = "rejected"
        elif msg_type in SESSION_TYPES:
            self.skipped += 1
            return
        elif msg_type == "8":
            event_type, why = execution_type(tags)
            if event_type is None:
                session.link(tags.get("11"), tags.get("41"))
                self._reject(location, raw, why)
                return
        elif msg_type == "9":
            event_type = "cancel_rejected"
        elif msg_type == "W":
            event_type = "quote"
        elif outbound:
            event_type = OUTBOUND[msg_type]
        else:
            name = MESSAGE_NAMES.get(msg_type, f"type {msg_type}")
            self._reject(location, raw, f"FIX message {name} (35={msg_type}) has no canonical event type")
            return

        if msg_type == "3":
            root: str | None = session.root(clordid)
        else:
            clordid = tags.get("11")
            root = session.link(clordid, tags.get("41"))
        order_id_tag = tags.get("37")
        if root is None and order_id_tag:
            root = session.by_order_id.get(order_id_tag, f"37={order_id_tag}")
        elif root is not None and order_id_tag:
            session.by_order_id.setdefault(order_id_tag, root)
        if msg_type in ("D", "AB") and clordid and seq is not None:
            numbering = session.senders.get(sender)
            session.outbound_orders[(numbering.epoch if numbering else 0, seq)] = clordid

        numbers, type_error = _numbers(tags)
        if msg_type == "W":
            sides = quote_sides(message.pairs)
            for name in ("bid_px", "bid_qty", "ask_px", "ask_qty"):
                numbers[name] = _float(sides.get(name))
        derived = None
        if msg_type == "3":
            numbers["cum_qty"] = numbers["leaves_qty"] = 0.0
        if event_type in FILL_TYPES and numbers["cum_qty"] == 0 and (numbers["last_qty"] or 0) > 0:
            qty, leaves = numbers["qty"], numbers["leaves_qty"]
            numbers["cum_qty"] = qty - leaves if qty is not None and leaves is not None else None
            if numbers["cum_qty"] is not None:
                derived, numbers["cum_qty_reported"] = True, 0.0
        sending = time_or_none(tags.get("52"))
        transact = time_or_none(tags.get("60"))
        if sending is None and "52" in tags:
            type_error = type_error or f"field 'recv_ts': SendingTime (52) {tags['52']!r} is not a FIX timestamp"
        if transact is None and "60" in tags:
            type_error = type_error or f"field 'broker_ts': TransactTime (60) {tags['60']!r} is not a FIX timestamp"
        recv_ts = self._receive_time(log_time, sending)
        broker_side = not outbound
        row: dict[str, Any] = {
            "location": location, "raw": raw, "type_error": type_error,
            "source": "local" if outbound else "market" if msg_type == "W" else "broker", "type": event_type,
            "broker_order_id": order_id_tag, "symbol": tags.get("55"), "side": SIDES.get(tags.get("54", "")),
            **numbers,
            "broker_ts": (transact if transact is not None else sending) if broker_side else None,
            "recv_ts": recv_ts, "poss_dup": _POSS_DUP.get(tags.get("43", "")),
            "fix_session": session_id, "fix_msg_type": msg_type, "fix_clordid": clordid, "fix_seq": seq,
            "fix_prev_seq": step.previous if step is not None and broker_side else None, "fix_epoch": epoch,
            "recv_ts_from": "log" if log_time is not None else "SendingTime", "cum_qty_derived": derived,
            "fix_reject_text": tags.get("58") if msg_type == "3" else None,
        }
        if msg_type == "8":
            event_id = f"{session_id}/{tags['17']}" if tags.get("17") else None
        elif msg_type == "W":
            event_id = None
        else:
            event_id = f"{session_id}/{msg_type}:{tags.get('34') if msg_type == '3' else clordid}@{epoch}"
        holes = session.pending_holes.pop(sender, []) if broker_side and msg_type != "W" else []
        if broker_side and msg_type != "W":
            row["_numbering"] = (step, holes, session)
        order_id = f"{session_id}/{root}" if root else None
        if msg_type == "AB":
            session.multileg[root or ""] = [(leg.get("leg") or str(n), _float(leg.get("ratio")) or 1.0)
                                            for n, leg in enumerate(legs(message.pairs), start=1)]
            self._add_legs(row, order_id, event_id, legs(message.pairs), numbers["qty"])
            return
        if root is not None and root in session.multileg and msg_type != "W":
            named = legs(message.pairs)
            self._reach_legs(row, order_id, event_id, session.multileg[root], named, location, raw)
            return
        if msg_type == "D" and tags.get("583"):
            group, parent = self._hedged(session, session_id, tags["583"])
            if group is not None and clordid:
                session.hedges[clordid] = group
                self._add(row, event_type, event_id, order_id, group_id=f"{session_id}/{group}", parent_id=parent)
                return
        self._add(row, event_type, event_id, order_id)

    @staticmethod
    def _hedged(session: _Session, session_id: str, link: str) -> tuple[str | None, str | None]:
        """The group and the order a NewOrderSingle hedges, from its ClOrdLinkID (583): a multileg order's
        ``ClOrdID/LegRefID``, or another hedge's ClOrdID; (None, None) when it names neither."""
        root, _, leg = link.partition("/")
        if root in session.multileg and (not leg or leg in dict(session.multileg[root])):
            return root, f"{session_id}/{link}" if leg else f"{session_id}/{root}"
        if link in session.hedges:
            return session.hedges[link], f"{session_id}/{link}"
        return None, None

    def _add(self, row: dict[str, Any], event_type: str | None, event_id: str | None, order_id: str | None,
             group_id: str | None = None, leg: str | None = None, parent_id: str | None = None) -> None:
        row.update(type=event_type, event_id=event_id, order_id=order_id, leg=leg)  # each caller's row is its own
        if event_type == "submit" and self.intents == INTENTS_FROM_SUBMITS:
            name = MESSAGE_NAMES[row["fix_msg_type"]]
            intent = {**row, "type": "intent", "event_id": event_id.replace(f"/{row['fix_msg_type']}:", "/intent:", 1)
                      if event_id else None, "group_id": group_id or order_id,
                      "role": "hedge" if parent_id else "leg", "parent_id": parent_id, "synthesized_from": name}
            self.rows.append(intent)
            self.synthesized += 1
        if event_type == "submit" and group_id is not None:
            row["group_id"] = group_id
        self.rows.append(row)

    def _add_legs(self, row: dict[str, Any], group_id: str | None, event_id: str | None,
                  entries: list[dict[str, str]], qty: float | None) -> None:
        """A NewOrderMultileg: one submit per leg, in one group."""
        for number, entry in enumerate(entries, start=1):
            leg = entry.get("leg") or str(number)
            ratio = _float(entry.get("ratio")) or 1.0
            leg_qty = _float(entry.get("qty"))
            leg_row = {**row, "symbol": entry.get("symbol"), "side": SIDES.get(entry.get("side", "")),
                       "qty": leg_qty if leg_qty is not None else (qty * ratio if qty is not None else None),
                       "limit_px": _float(entry.get("limit_px"))}
            self._add(leg_row, "submit", f"{event_id}/{leg}", f"{group_id}/{leg}", group_id=group_id, leg=leg)
        if not entries:
            self._reject(row["location"], row["raw"], "NewOrderMultileg (35=AB) without legs (NoLegs 555)")

    def _reach_legs(self, row: dict[str, Any], group_id: str | None, event_id: str | None,
                    known: list[tuple[str, float]], named: list[dict[str, str]], location: str, raw: str) -> None:
        """A message about a multileg order: to the leg it names, else to every leg (fills only to one)."""
        names = {leg for leg, _ in known}
        chosen = [entry.get("leg") for entry in named if entry.get("leg") in names]
        if not chosen and named:
            by_symbol = {entry.get("symbol") for entry in named}
            chosen = [leg for leg, _ in known if leg in by_symbol]
        event_type = row["type"]
        if not chosen and event_type in FILL_TYPES:
            self._reject(location, raw, "a fill of a multileg order as a whole (MultiLegReportingType 442=3): the "
                                        "legs' quantities are not reported, so no leg's fill can be applied; "
                                        "ask the venue for leg reports (442=2)")
            return
        ratios = dict(known)
        for index, leg in enumerate(chosen or list(ratios)):
            leg_row = dict(row)
            if index and "_numbering" in row:  # one message: its holes counted once
                leg_row["_numbering"] = (row["_numbering"][0], [], row["_numbering"][2])
            if not chosen:  # the whole order's quantities, in each leg's units
                for name in ("qty", "cum_qty", "leaves_qty"):
                    if leg_row.get(name) is not None:
                        leg_row[name] = leg_row[name] * ratios[leg]
            if row["type"] == "replace_request":
                entry = next((e for e in named if e.get("leg") == leg), {})
                leg_qty = _float(entry.get("qty"))
                if leg_qty is not None:
                    leg_row["qty"] = leg_qty
            self._add(leg_row, event_type, f"{event_id}/{leg}" if event_id else None, f"{group_id}/{leg}", leg=leg)

    def _receive_time(self, log_time: LogTime | None, sending: int | None) -> int | None:
        if log_time is None:
            return sending
        if log_time.zone_ns is None and self.zone is None and sending is not None:
            self.zone = infer_zone(log_time.written_ns, sending)
        return log_time.utc(self.zone or 0)

    def _number_broker_events(self) -> None:
        """``broker_seq`` once the whole log is read: holes count only the numbers never delivered."""
        last: int | None = None
        for row in self.rows:
            numbering = row.pop("_numbering", None)
            if numbering is None:
                continue
            step, holes, session = numbering
            if step is None or not step.fresh or row["type"] == "intent":
                continue
            if not session.has_session_messages:
                self.untraced_holes += sum(hole.missing() for hole in holes)
                holes = []
            seq = row["fix_seq"]
            last = seq if last is None else last + 1 + sum(hole.missing() for hole in holes)
            row["broker_seq"] = last

    # --- output ---------------------------------------------------------------------

    def _reject(self, location: str, raw: str, reason: str) -> None:
        self.rows.append({"location": location, "raw": raw.replace("\x01", "|"), "pre_reason": reason})

    def notes(self) -> list[str]:
        """What the summary says once about this log: how it was read."""
        notes = []
        if self.dialects:
            notes.append("read as " + ", ".join(f"{name} ({count:,} lines)" if count > 1 else name
                                                 for name, count in self.dialects.most_common()))
        if self.dialects[dialects.UNTIMED]:
            notes.append(f"{self.dialects[dialects.UNTIMED]:,} lines have text before the message that is not a "
                         f"time: their recv_ts is the message's SendingTime (52)")
        if self.zone:
            notes.append(f"log times state no zone: read as {zone_text(self.zone)} (inferred from SendingTime (52))")
        if self.passed_over:
            notes.append(f"{self.passed_over:,} log lines without a message (engine events) were passed over")
        if self.untraced_holes:
            notes.append(f"no session messages in the log (an application-only trace): the {self.untraced_holes:,} "
                         f"MsgSeqNums between its messages are taken as filtered out, not lost (no sequence gap)")
        if self.lenient:
            notes.append("read with --fix-lenient, as examples rather than one session: CheckSum (10), BodyLength (9), "
                         "BeginString (8) and reused MsgSeqNum (34) were not checked")
        if self.synthesized:
            notes.append(f"{self.synthesized:,} intents taken from our own order messages (NewOrderSingle, "
                         f"NewOrderMultileg): a historical log records no write-ahead intents "
                         f"(--fix-intents none to take none)")
        return notes

    def frame(self) -> pl.DataFrame:
        import polars as pl

        names = COLUMNS[1:]
        rows = [tuple(map(row.get, names)) for row in self.rows]
        frame = pl.DataFrame(rows, schema={k: v for k, v in _schema().items() if k != "row_number"}, orient="row")
        return frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))


def _numbers(tags: dict[str, str]) -> tuple[dict[str, float | None], str | None]:
    numbers: dict[str, float | None] = {}
    type_error = None
    for name, (tag, tag_name) in NUMBER_TAGS.items():
        text = tags.get(tag)
        if not text:
            numbers[name] = None
            continue
        try:
            numbers[name] = float(text)
        except ValueError:
            numbers[name] = None
            type_error = type_error or f"field {name!r}: {tag_name} ({tag}) {text!r} is not a number"
    return numbers, type_error


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None
