"""Fault labels: which event or order carries an injected fault, and what a correct engine answers.

One label per injected fault, written beside the events as ``OUT.labels.jsonl``
(or ``OUT.labels.parquet`` when OUT is Parquet), in the order of the labelled
event. Schema (every field present, null when it does not apply):

==========  =======  ==================================================================
field       type     meaning
==========  =======  ==================================================================
fault       str      the fault kind (see ``safeguards.simulator.faults.KINDS``)
seq         int      the labelled event's ``seq`` in the log (order faults: see anchor)
event_id    str      that event's ``event_id`` (null for quotes, which carry none)
order_id    str      the order the fault concerns (null for quote-only clock faults)
group_id    str      the multi-leg group (null for clock faults)
anchor      str      ``event``: seq is the faulty event itself; ``first_broker_event``: the
                     first broker event of an order we never recorded; ``submit``: seq is the
                     order's submit (``ack_timeout`` fires later, as broker time passes)
verdict     str      the decision a correct engine gives the event at ``seq``, or null
alert       str      the alert kind a correct engine raises for it, or null
escalates   str      the trading state the policy's escalation must move the scope to
                     (``halted`` for the group, ``reducing`` for all), or null
==========  =======  ==================================================================

A label is matched against an engine run by: ``verdict`` = the decision of event
``seq``; ``alert`` = an alert of that kind whose ``seq`` equals the label's or
whose ``order_id`` equals the label's.
"""

from __future__ import annotations

from typing import Any

from .faults import BY_NAME

COLUMNS = ("fault", "seq", "event_id", "order_id", "group_id", "anchor", "verdict", "alert", "escalates")


class Label:
    """One injected fault; its ``event`` is the event object, numbered only when written."""

    __slots__ = ("fault", "event", "order_id", "group_id", "anchor")

    def __init__(self, fault: str, event: dict | None, order_id: str | None, group_id: str | None,
                 anchor: str = "event") -> None:
        self.fault = fault
        self.event = event
        self.order_id = order_id
        self.group_id = group_id
        self.anchor = anchor

    def numbered(self) -> Label:
        """This label with only what its row needs of its event, once numbered: small to send and to keep."""
        event = self.event
        kept = None if event is None else {"seq": event["seq"], "event_id": event.get("event_id")}
        return Label(self.fault, kept, self.order_id, self.group_id, self.anchor)

    def row(self) -> dict[str, Any]:
        kind = BY_NAME[self.fault]
        event = self.event or {}
        return {
            "fault": self.fault,
            "seq": event.get("seq"),
            "event_id": event.get("event_id"),
            "order_id": self.order_id,
            "group_id": self.group_id,
            "anchor": self.anchor,
            "verdict": kind.verdict if self.anchor != "submit" else None,
            "alert": kind.alert,
            "escalates": kind.escalates,
        }
