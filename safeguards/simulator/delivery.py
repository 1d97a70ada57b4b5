"""Delivery: number events in arrival order, as the broker session and our log would.

``seq`` is the arrival position in the log. ``broker_seq`` is the broker
session's message number (FIX MsgSeqNum): it rises by one per broker event in
transport order, so a late ack simply carries a later number; a possible-
duplicate re-send carries its original's number, as FIX re-sends do. The
``sequence_gap`` fault skips numbers here, where the numbering happens.

Numbering is the one strictly sequential step of a run (one random stream over
every broker event in log order), so it works on a compact description of a
window's events, one code per event, and runs where the log is assembled; the
numbers then go back to whoever holds the event dicts (:func:`stamp`).
"""

from __future__ import annotations

from random import Random

import numpy as np

#: Codes per event (0: not a broker event).
BROKER, ORIGINAL, RESEND = 1, 2, 3
"""A broker event; one that is re-sent later (remember its number); a re-send (takes its original's)."""


class Delivery:
    """Numbers windows of events in log order; remembers what later windows need."""

    def __init__(self, seed: int, gap_rate: float) -> None:
        self.rng = Random(seed * 7919 + 17)
        self.gap_rate = gap_rate
        self.seq = 0
        self.broker_seq = 0
        #: link of an original that is re-sent -> its broker_seq (a re-send may come windows later)
        self.resent: dict[int, int] = {}

    def number(self, codes: np.ndarray, links: np.ndarray) -> tuple[int, list[int], list[int]]:
        """Number the next ``len(codes)`` events of the log.

        ``links`` identify originals and, for a re-send, its original. Returns the seq
        before the first event, the broker_seq of each broker event in order, and the
        positions of the events a ``sequence_gap`` precedes.
        """
        first_seq = self.seq
        self.seq += len(codes)
        positions = np.flatnonzero(codes)
        broker_seq, resent = self.broker_seq, self.resent
        gap_rate, random, randint = self.gap_rate, self.rng.random, self.rng.randint
        numbers: list[int] = []
        gaps: list[int] = []
        append = numbers.append
        for position, code, link in zip(positions.tolist(), codes[positions].tolist(), links[positions].tolist()):
            if code == RESEND:
                append(resent[link])
                continue
            if gap_rate and random() < gap_rate:
                broker_seq += randint(1, 3)
                gaps.append(position)
            broker_seq += 1
            append(broker_seq)
            if code == ORIGINAL:
                resent[link] = broker_seq
        self.broker_seq = broker_seq
        return first_seq, numbers, gaps


def stamp(events: list[dict], first_seq: int, broker_seqs: list[int]) -> None:
    """Write the numbers :meth:`Delivery.number` gave into the events, in order."""
    seq = first_seq
    numbers = iter(broker_seqs)
    for event in events:
        seq += 1
        event["seq"] = seq
        if event["source"] == "broker":
            event["broker_seq"] = next(numbers)
