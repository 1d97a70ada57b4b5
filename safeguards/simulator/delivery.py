"""Delivery: number events in arrival order, as the broker session and our log would.

``seq`` is the arrival position in the log. ``broker_seq`` is the broker
session's message number (FIX MsgSeqNum): it rises by one per broker event in
transport order, so a late ack simply carries a later number; a possible-
duplicate re-send carries its original's number, as FIX re-sends do. The
``sequence_gap`` fault skips numbers here, where the numbering happens.
"""

from __future__ import annotations

from random import Random

from .labels import Label


class Delivery:
    """Numbers events as they are written and finishes the labels that depend on numbering."""

    def __init__(self, seed: int, gap_rate: float) -> None:
        self.rng = Random(seed * 7919 + 17)
        self.gap_rate = gap_rate
        self.seq = 0
        self.broker_seq = 0
        #: id(re-sent copy) -> original event
        self.resend_of: dict[int, dict] = {}
        #: order_id -> label waiting for that order's first broker event
        self.first_event_of: dict[str, Label] = {}
        self.labels: list[Label] = []

    def number(self, events: list[dict]) -> None:
        seq = self.seq
        broker_seq = self.broker_seq
        resend_of, first_event_of = self.resend_of, self.first_event_of
        gap_rate, random = self.gap_rate, self.rng.random
        for event in events:
            seq += 1
            event["seq"] = seq
            if event["source"] != "broker":
                continue
            original = resend_of.pop(id(event), None) if resend_of else None
            if original is not None:
                event["broker_seq"] = original["broker_seq"]
                continue
            if first_event_of:
                label = first_event_of.pop(event["order_id"], None)
                if label is not None:
                    label.event = event
            if gap_rate and random() < gap_rate:
                broker_seq += self.rng.randint(1, 3)
                order_id = event["order_id"]
                self.labels.append(Label("sequence_gap", event, order_id, order_id.partition("-")[0]))
            broker_seq += 1
            event["broker_seq"] = broker_seq
        self.seq = seq
        self.broker_seq = broker_seq
