"""The sidecar loop of `safeguards run`: JSON lines in, one decision per line and its alerts out.

One loop for both ways of running. What differs sits behind :class:`Decider`:
:class:`Plain` decides and commits nothing; :class:`~safeguards.journal.journaled.JournaledEngine`
journals each batch durably (one write, byte count checked, one fdatasync)
before deciding it, and notes afterwards that the answers were written. So the
loop is the same: read every complete line already waiting (a burst is one
batch, one line when a parent talks line by line), hand the batch over, write
the answers in one write and flush, mark them answered, and, while the input is
quiet, move broker time on (:mod:`.idle_clock`) so timeouts fire.

A malformed line gets an ``invalid`` decision naming its line number, and the
stream goes on. End of input or SIGTERM ends the run; the caller writes the summary.
"""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Callable, Iterable
from typing import IO, Any, Protocol

from .core import Engine
from .errors import JournalNotDurable
from .idle_clock import IdleClock
from .journal.journaled import Answer, Line, not_an_event
from .jsonlines import dumps, loads

_READ_SIZE = 1 << 16
Input = Line | tuple[str, str]


class Decider(Protocol):
    """What the loop hands batches to: plain, or behind a journal."""

    engine: Engine

    def submit(self, inputs: Iterable[Input]) -> list[Answer]:
        """Decide a batch (journaled first, if there is a journal): a decision and alerts per input."""

    def advance(self, now: int) -> list[dict[str, Any]]:
        """Broker time is now `now` (journaled first, if there is a journal): the alerts of timeouts due."""

    def answered(self) -> None:
        """The answers of what was submitted are written out."""

    def maybe_checkpoint(self) -> object:
        """Between batches: a journal may save the engine's state."""


class Plain:
    """No journal: decide each input at once; nothing to commit, nothing to checkpoint."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, inputs: Iterable[Input]) -> list[Answer]:
        engine = self.engine
        process, pop_alerts = engine.process, engine.pop_alerts
        # An event without a seq gets its arrival position from the engine, as the journal numbers it:
        # the same input gets the same answers with or without --journal.
        return [(process(item[0]), pop_alerts()) if type(item) is Line else (engine.invalid(None, item[1]), [])
                for item in inputs]

    def advance(self, now: int) -> list[dict[str, Any]]:
        return self.engine.advance(now)

    def answered(self) -> None:
        pass

    def maybe_checkpoint(self) -> None:
        return None


class LineReader:
    """Complete lines as they arrive: all those already waiting, or block for the first one."""

    def __init__(self, source: IO[bytes]):
        try:
            self._fd: int | None = source.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None
        self._source = source
        self._rest = b""
        self.ended = False

    def _read(self) -> bytes:
        if self._fd is not None:
            return os.read(self._fd, _READ_SIZE)  # a pipe gives whatever is there, blocking only when empty
        read = getattr(self._source, "read1", None) or self._source.read
        return read(_READ_SIZE)

    def next_lines(self, timeout: float | None = None) -> list[bytes]:
        """The next batch of complete lines: at least one, unless input ended or ``timeout`` seconds passed first."""
        while True:
            if timeout is not None and self._fd is not None:
                ready, _, _ = select.select([self._fd], [], [], timeout)
                if not ready:
                    return []
            chunk = self._read()
            if not chunk:
                self.ended = True
                rest, self._rest = self._rest, b""
                return [rest] if rest else []
            data = self._rest + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                self._rest = data
                continue
            self._rest = data[cut + 1:]
            return data[:cut].split(b"\n")


def parse_line(raw: bytes) -> Input:
    """The event with its bytes (journaled as received), or ``("unreadable", reason)`` for what cannot be an event."""
    try:
        event = loads(raw)
    except ValueError as error:  # includes bad UTF-8 and NaN/Infinity
        return ("unreadable", f"not valid JSON: {error}")
    reason = not_an_event(event)
    if reason is not None:
        return ("unreadable", reason)
    return Line(event, raw)


def write_answers(answers: list[Answer], out: IO[str], *, replayed: bool = False,
                  line_numbers: list[int] | None = None) -> None:
    """Each decision line then its alerts, as one write (the caller flushes)."""
    lines: list[str] = []
    extra = {"replayed": True} if replayed else {}
    for index, (decision, alerts) in enumerate(answers):
        if decision:
            if decision["verdict"] == "invalid" and line_numbers is not None:
                number = line_numbers[index]
                decision["line"] = number
                decision["reason"] = f"line {number}: {decision['reason']}"
            lines.append(dumps({"type": "decision", **decision, **extra}))
        for alert in alerts:
            lines.append(dumps({"type": "alert", **alert, **extra}))
    if lines:
        out.write("\n".join(lines) + "\n")


class _Stop(Exception):
    """SIGTERM arrived while waiting for input."""


def serve(decider: Decider, reader: LineReader, out: IO[str], err: IO[str], clock: IdleClock) -> str:
    """Answer every line until end of input or SIGTERM; how the run ended."""
    state = {"reading": False, "stop": False}

    def on_sigterm(signum: int, frame: Any) -> None:
        state["stop"] = True
        if state["reading"]:
            raise _Stop

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, on_sigterm)
    line_number = 0
    try:
        while not state["stop"]:
            state["reading"] = True
            try:
                raw_lines = reader.next_lines(clock.tick)
            finally:
                state["reading"] = False
            if not raw_lines and not reader.ended:
                _answer_quiet(decider, clock, out)
                continue
            inputs, numbers = [], []
            for raw in raw_lines:
                line_number += 1
                if raw.strip():
                    inputs.append(parse_line(raw))
                    numbers.append(line_number)
            if inputs:
                try:
                    answers = decider.submit(inputs)
                except JournalNotDurable:
                    print(f"safeguards run: stopped answering: lines {numbers[0]:,} to {numbers[-1]:,} of this run got "
                          "no decision (they could not be journaled); send them again after the restart",
                          file=err, flush=True)
                    raise
                write_answers(answers, out, line_numbers=numbers)  # the lines that came together, answered together
                out.flush()
                decider.answered()
                decider.maybe_checkpoint()
                clock.heard(decider.engine.now)
            if reader.ended:
                return "end of input"
        return "SIGTERM"
    except _Stop:
        return "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)


def _answer_quiet(decider: Decider, clock: IdleClock, out: IO[str]) -> None:
    """Input is quiet: if a timeout has fallen due meanwhile, advance broker time and write its alerts (flushed)."""
    now = clock.due(decider.engine.next_deadline())
    if now is None:
        return
    write_answers([({}, decider.advance(now))], out)
    out.flush()
    decider.answered()


def summary(engine: Engine, ended_by: str) -> dict[str, Any]:
    """The line on stderr that ends a run: how it ended, and what the engine decided."""
    return {"type": "summary", "ended_by": ended_by, "policy": engine.identity, "events": engine.arrivals,
            "verdicts": engine.counts, "alerts": engine.alert_counts, "trading": engine.escalation.snapshot()}
