"""A simulated session as a FIX message log (QuickFIX layout), both sides of it, to test the FIX path end to end.

The canonical events are turned into what went over the wire, in arrival order,
each line stamped with its ``recv_ts`` (``20260221-14:30:00.001000 : 8=FIX.4.4...``):

* our side (``US`` -> ``BRK``): a group's legs as one NewOrderMultileg (35=AB, one
  NoLegs 555 entry per leg, LegRefID 654 the leg's name), sent at its first leg's
  submit; a hedge as a NewOrderSingle (35=D) whose ClOrdLinkID (583) names what it
  hedges (``group/leg``, or the hedge it hedges);
  cancel and replace requests (35=F, 35=G) naming the leg they are for;
* the broker's side (``BRK`` -> ``US``): ExecutionReports (35=8), MsgSeqNum the event's
  ``broker_seq``, TransactTime its ``broker_ts``; a leg's report names its leg
  (MultiLegReportingType 442=2); a re-send carries PossDupFlag and OrigSendingTime;
* market data (``MD`` -> ``US``): MarketDataSnapshotFullRefresh (35=W), bid and offer;
* Logon and Logout around it all.

Intents are not written (a FIX log has none): ingest takes them from our submits.
Read back by :mod:`safeguards.adapters.fix`, the log gives the same orders, states
and quantities as the canonical log, under FIX's ids (``US@BRK/<ClOrdID>/<leg>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from ..adapters.fix.framing import encode

US, BROKER, MARKET = "US", "BRK", "MD"
BEGIN_STRING = "FIX.4.4"
EXEC_TYPES = {"pending_new": ("A", "A"), "new": ("0", "0"), "partial_fill": ("F", "1"), "fill": ("F", "2"),
              "pending_cancel": ("6", "6"), "canceled": ("4", "4"), "pending_replace": ("E", "E"),
              "replaced": ("5", "0"), "rejected": ("8", "8"), "expired": ("C", "C"), "done_for_day": ("3", "3")}
SIDES = {"buy": "1", "sell": "2"}


def fix_time(nanos: int) -> str:
    """UTCTimestamp with microseconds: ``20260221-14:30:00.001000``."""
    seconds, rest = divmod(nanos, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y%m%d-%H:%M:%S")
    return f"{stamp}.{rest // 1000:06d}"


def _number(value: float) -> str:
    return repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))


class FixSession:
    """Writes one simulated session's events as FIX lines, keeping what FIX needs that an event lacks."""

    def __init__(self, events: list[dict]) -> None:
        self.intents = {e["order_id"]: e for e in events if e["type"] == "intent"}
        self.legs: dict[str, list[dict]] = {}  # group -> its legs' intents, in order
        for intent in self.intents.values():
            if intent.get("role") == "leg":
                self.legs.setdefault(intent["group_id"], []).append(intent)
        self.sent_groups: set[str] = set()
        self.next_seq = {US: 1, MARKET: 1}
        self.requests = 0
        self.rows = 0  # the rows ingest makes of the lines so far (an intent and a submit per order sent)
        self.fix_seq: dict[int, int] = {}  # canonical seq -> the seq ingest gives the event read back

    def fix_order_id(self, order_id: str | None) -> str | None:
        """The id ingest gives ``order_id``: ``US@BRK/<ClOrdID>``, a leg's ``US@BRK/<group>/<leg>``."""
        if order_id is None:
            return None
        clordid, leg = self._clordid(order_id, self.intents.get(order_id))
        return f"{US}@{BROKER}/{clordid}" + (f"/{leg}" if leg else "")

    def _row(self, event: dict) -> None:
        self.rows += 1
        self.fix_seq[event["seq"]] = self.rows

    def lines(self, events: Iterable[dict]) -> Iterator[str]:
        first = last = None
        for event in events:
            if first is None:
                first = event["recv_ts"]
                yield from self._logon(first)
            last = event["recv_ts"]
            for fields, sender in self._messages(event):
                if sender == BROKER:  # its MsgSeqNum: broker_seq, after the Logon's 1
                    yield self._line(event["recv_ts"], sender, fields, seq=event["broker_seq"] + 1,
                                     sent=event["broker_ts"])
                elif sender == MARKET:  # a quote's time is its SendingTime
                    yield self._line(event["recv_ts"], sender, fields, sent=event["broker_ts"])
                else:
                    yield self._line(event["recv_ts"], sender, fields)
        if last is not None:
            yield self._line(last, US, [("35", "5")])

    def _logon(self, at: int) -> Iterator[str]:
        logon = [("35", "A"), ("98", "0"), ("108", "30")]
        yield self._line(at, US, logon)
        yield self._line(at, BROKER, logon, seq=1)

    def _line(self, at: int, sender: str, fields: list[tuple[str, str]], seq: int | None = None,
              sent: int | None = None) -> str:
        if seq is None:
            seq = self.next_seq[sender]
            self.next_seq[sender] = seq + 1
        target = BROKER if sender == US else US
        head = [fields[0], ("34", str(seq)), ("49", sender), ("52", fix_time(sent if sent is not None else at)),
                ("56", target)]
        return f"{fix_time(at)} : {encode([*head, *fields[1:]], BEGIN_STRING)}\n"

    def _messages(self, event: dict) -> Iterator[tuple[list[tuple[str, str]], str]]:
        kind, order_id = event["type"], event.get("order_id")
        intent = self.intents.get(order_id or "")
        if kind == "quote":
            yield [("35", "W"), ("55", event["symbol"]), ("268", "2"),
                   ("269", "0"), ("270", _number(event["bid_px"])), ("271", _number(event["bid_qty"])),
                   ("269", "1"), ("270", _number(event["ask_px"])), ("271", _number(event["ask_qty"]))], MARKET
        elif kind == "submit":
            yield from self._submit(event, intent)
            return
        elif kind in ("cancel_request", "replace_request"):
            self.requests += 1
            clordid, leg = self._clordid(order_id, intent)
            fields = [("35", "F" if kind == "cancel_request" else "G"), ("11", f"R{self.requests}"),
                      ("41", clordid)]
            if kind == "replace_request":
                fields.append(("38", _number(event["qty"])))
            yield fields + self._leg_group(leg), US
        elif event["source"] == "broker":
            yield self._report(event, intent), BROKER
        else:
            return
        self._row(event)

    def _submit(self, event: dict, intent: dict | None) -> Iterator[tuple[list[tuple[str, str]], str]]:
        if intent is None or intent.get("role") != "leg":
            if intent is not None:
                self._row(intent)
            else:
                self.rows += 1  # ingest takes an intent from every NewOrderSingle (here without a symbol: rejected)
            self._row(event)
            fields = [("35", "D"), ("11", event["order_id"])]
            if intent is not None:
                fields += [("55", intent["symbol"]), ("54", SIDES[intent["side"]]), ("38", _number(intent["qty"])),
                           ("40", "2"), ("44", _number(intent["limit_px"]))]
                if intent.get("parent_id"):  # a hedge: ClOrdLinkID names what it hedges
                    parent, leg = self._clordid(intent["parent_id"], self.intents.get(intent["parent_id"]))
                    fields.append(("583", f"{parent}/{leg}" if leg else parent))
            yield fields, US
            return
        group = intent["group_id"]
        if group in self.sent_groups:
            self.fix_seq[event["seq"]] = self.fix_seq.pop(-intent["seq"])
            return
        self.sent_groups.add(group)
        legs = self.legs[group]
        for leg in legs:
            self._row(leg)
            self.rows += 1  # the leg's submit: numbered when the leg's own submit event comes
            self.fix_seq[-leg["seq"]] = self.rows
        self.fix_seq[event["seq"]] = self.fix_seq.pop(-intent["seq"])
        fields = [("35", "AB"), ("11", group), ("38", _number(legs[0]["qty"])), ("555", str(len(legs)))]
        for leg in legs:
            fields += [("600", leg["symbol"]), ("624", SIDES[leg["side"]]), ("623", "1"),
                       ("654", leg["leg"]), ("687", _number(leg["qty"])), ("566", _number(leg["limit_px"]))]
        yield fields, US

    def _clordid(self, order_id: str | None, intent: dict | None) -> tuple[str, str | None]:
        """The ClOrdID an order was sent under, and its leg name if it went in a NewOrderMultileg."""
        if intent is not None and intent.get("role") == "leg":
            return intent["group_id"], intent["leg"]
        return order_id or "", None

    @staticmethod
    def _leg_group(leg: str | None) -> list[tuple[str, str]]:
        return [("442", "2"), ("555", "1"), ("654", leg)] if leg is not None else []

    def _report(self, event: dict, intent: dict | None) -> list[tuple[str, str]]:
        exec_type, status = EXEC_TYPES[event["type"]]
        clordid, leg = self._clordid(event["order_id"], intent)
        fields = [("35", "8"), ("11", clordid), ("17", event["event_id"]), ("150", exec_type), ("39", status)]
        if intent is not None:
            fields.append(("38", _number(intent["qty"])))
        if "last_qty" in event:
            fields += [("32", _number(event["last_qty"])), ("31", _number(event["last_px"]))]
        fields += [("14", _number(event["cum_qty"])), ("151", _number(event["leaves_qty"])),
                   ("60", fix_time(event["broker_ts"]))]
        if event.get("poss_dup"):
            fields += [("43", "Y"), ("122", fix_time(event["broker_ts"]))]
        return fields + self._leg_group(leg)


#: Faults a FIX log cannot carry: ingest takes an intent from every NewOrderSingle, so a
#: submit without an intent is not one once read back; a hedge the engine blocks (too deep,
#: too large for the book, on a stale quote) is an intent that never went over the wire.
NOT_IN_FIX = frozenset({"submit_without_intent", "hedge_depth", "insufficient_liquidity", "stale_quote"})


def write_fix_log(events: list[dict], path: Path) -> FixSession:
    """Write ``events`` (canonical, in arrival order, times in integer nanoseconds) as a FIX message log."""
    session = FixSession(events)
    with open(path, "w", encoding="latin-1", newline="\n") as out:
        for line in session.lines(events):
            out.write(line)
    return session


def fix_labels(labels: list[dict], session: FixSession) -> list[dict]:
    """The labels of the canonical log, for the FIX log read back: its seqs, order and event ids."""
    translated = []
    for label in labels:
        if label["fault"] in NOT_IN_FIX:
            continue
        event_id = label["event_id"]
        if event_id is not None and label["seq"] in session.fix_seq:
            event_id = f"{US}@{BROKER}/{event_id}"
        translated.append({**label, "seq": session.fix_seq.get(label["seq"], label["seq"]),
                           "event_id": event_id, "order_id": session.fix_order_id(label["order_id"]),
                           "group_id": f"{US}@{BROKER}/{label['group_id']}" if label["group_id"] else None})
    return translated
