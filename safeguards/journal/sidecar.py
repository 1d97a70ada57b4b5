"""`safeguards run --journal PATH`: the sidecar loop with group commit and crash recovery.

Start-up: recover the journal (refusing a foreign, corrupt or locked one), write
the last run's unanswered decisions and alerts again (flagged ``replayed``),
reconcile against the broker's open orders if given, then serve.

Serving is group commit: every complete input line already waiting on stdin is
read in one go, journaled in ONE :meth:`JournaledEngine.submit` (one
fdatasync), decided, written and flushed, and only then marked answered. So a
caller that has read an ``accept`` knows the intent is on disk, and anything it
sent but never saw answered is either re-sent by it (a ``duplicate`` if it was
journaled) or re-sent by us on restart (``replayed``).
"""

from __future__ import annotations

import json
import os
import select
import signal
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..errors import JournalNotDurable, UsageError
from ..idle_clock import IdleClock
from ..jsonlines import dumps, loads
from ..core import Engine
from .journaled import Answer, JournaledEngine, Line, not_an_event

_READ_SIZE = 1 << 16


class _Stop(Exception):
    """SIGTERM arrived while waiting for input."""


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


def parse_line(raw: bytes) -> Line | tuple[str, str]:
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


def answer_quiet(clock: IdleClock, engine: Engine, advance: Callable[[int], list[dict[str, Any]]], out: IO[str]) -> bool:
    """Input is quiet: if a timeout has fallen due meanwhile, ``advance`` broker time and write its alerts (flushed)."""
    now = clock.due(engine.book.next_deadline())
    if now is None:
        return False
    write_answers([({}, advance(now))], out)
    out.flush()
    return True


def serve_journaled(policy: str, journal: str | Path, source: IO[bytes], out: IO[str], err: IO[str], *,
                    broker_open_orders: str | Path | None = None, checkpoint_every: int | None = None,
                    tick: float = 0.0, new_session: bool = False) -> int:
    """Recover, replay unanswered output, reconcile, start a new session if asked, then serve stdin until EOF or SIGTERM."""
    journaled = JournaledEngine(policy, journal, checkpoint_every=checkpoint_every)
    try:
        print(f"safeguards run: journal {journal}: {journaled.recovery.describe()}", file=err, flush=True)
        write_answers(journaled.recovery.unanswered, out, replayed=True)
        out.flush()
        if journaled.recovery.unanswered:
            journaled.answered()
        if broker_open_orders is not None:
            alerts = journaled.reconcile(load_open_orders(broker_open_orders))
            write_answers([({}, alerts)], out)
            out.flush()
            journaled.answered()
            print(f"safeguards run: reconciled with {broker_open_orders}: {len(alerts)} finding(s)", file=err, flush=True)
        if new_session:  # journaled: a replay after a crash knows the numbering restarted here
            journaled.new_session()
            print("safeguards run: new session: broker message numbers start over", file=err, flush=True)
        print(f"safeguards run: {journaled.engine.identity} ready", file=err, flush=True)
        ended_by = _serve(journaled, LineReader(source), out, err, IdleClock(tick))
        journaled.shutdown()
        engine = journaled.engine
        summary = {
            "type": "summary", "ended_by": ended_by, "policy": engine.identity, "events": engine.arrivals,
            "verdicts": engine.counts, "alerts": engine.alert_counts, "trading": engine.escalation.snapshot(),
        }
        print(json.dumps(summary), file=err, flush=True)
        return 0
    finally:
        journaled.close()


def _serve(journaled: JournaledEngine, reader: LineReader, out: IO[str], err: IO[str], clock: IdleClock) -> str:
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
                if answer_quiet(clock, journaled.engine, journaled.advance, out):  # journaled: a replay fires them too
                    journaled.answered()
                continue
            inputs, numbers = [], []
            for raw in raw_lines:
                line_number += 1
                if raw.strip():
                    inputs.append(parse_line(raw))
                    numbers.append(line_number)
            if inputs:
                try:
                    answers = journaled.submit(inputs)
                except JournalNotDurable:
                    print(f"safeguards run: stopped answering: lines {numbers[0]:,} to {numbers[-1]:,} of this run got "
                          "no decision (they could not be journaled); send them again after the restart",
                          file=err, flush=True)
                    raise
                write_answers(answers, out, line_numbers=numbers)
                out.flush()
                journaled.answered()
                journaled.maybe_checkpoint()
                clock.heard(journaled.engine.now)
            if reader.ended:
                return "end of input"
        return "SIGTERM"
    except _Stop:
        return "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)


def load_open_orders(path: str | Path) -> list[dict[str, Any]]:
    """The broker's open orders: JSON lines of order_id, broker_order_id, status, cum_qty."""
    orders = []
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise UsageError(f"{path}: cannot read the broker's open orders: {error.strerror}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            order = json.loads(line)
        except ValueError as error:
            raise UsageError(f"{path}:{number}: not valid JSON: {error}; fix the broker's open-order list") from None
        if type(order) is not dict or not isinstance(order.get("order_id"), str):
            raise UsageError(f"{path}:{number}: each line needs a string order_id; fix the broker's open-order list")
        cum = order.get("cum_qty", 0)
        if type(cum) not in (int, float) or cum < 0:
            raise UsageError(f"{path}:{number}: cum_qty must be a non-negative number; fix the broker's open-order list")
        orders.append(order)
    return orders
