"""The sidecar loop of `safeguards run`: JSON lines in, one decision per line and its alerts out.

One loop for both ways of running. What differs sits behind :class:`Decider`:
:class:`Plain` decides and commits nothing; :class:`~safeguards.journal.journaled.JournaledEngine`
journals each batch durably (one write, byte count checked, one fdatasync)
before deciding it, and notes afterwards that the answers were written. So the
loop is the same: read every complete line already waiting (a burst is one
batch, one line when a parent talks line by line), hand the batch over, write
the answers in one write and flush, mark them answered, and, while the input is
quiet, move broker time on (:mod:`.idle_clock`) so timeouts fire.

Between batches the loop may also look at the signed registry it follows
(``--follow``: :class:`~safeguards.swap.Follower`, at once on SIGHUP) and
switch the decider to a newly live version (:func:`follow`), and feed the
shadow (``--shadow``: :mod:`safeguards.shadow`) what it answered.

Lines are answered by the core (``Engine.answer_lines``: a block of raw lines in,
the answer lines out, byte for byte what the Python path below writes) unless a
decider cannot (a shadow needs each batch as dicts) or ``SAFEGUARDS_SIDECAR_LINES=python``
asks for the Python path (the benchmark's comparison); a line the core leaves to
Python (bad JSON, NaN, a lone surrogate...) is answered by that path in its place.

A malformed line gets an ``invalid`` decision naming its line number, and the
stream goes on. End of input or SIGTERM ends the run; the caller writes the summary.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import stat
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, Protocol

from ._core import format_timestamp
from .core import Engine
from .errors import JournalNotDurable
from .idle_clock import IdleClock
from .journal.journaled import Answer, Line, not_an_event
from .jsonlines import dumps, loads, lone_surrogate_field, lone_surrogate_reason
from .policy.compiled import CompiledPolicy
from .swap import Change, Follower, Incompatible, carry

if TYPE_CHECKING:
    from .shadow import Shadow

_READ_SIZE = 1 << 16
#: The journaled sidecar reads up to this much at once: a block is one group commit (one fdatasync), so the
#: more of what is waiting it takes, the fewer syncs; the plain sidecar's answers to a block wait for the
#: whole block, so it takes smaller ones.
JOURNAL_READ_SIZE = 1 << 20
#: The pipe buffer asked for on stdin and stdout when they are pipes (Linux's default is 64 KiB, and
#: /proc/sys/fs/pipe-max-size, 1 MiB by default, caps what an unprivileged process gets). A burst then
#: waits in the pipe rather than in the writer, so the two processes hand over less often: on a busy
#: machine each handover can wait for a time slice.
PIPE_SIZE = 1 << 20
Input = Line | tuple[str, str]
#: Whether the core answers lines (the default) or the Python path does: for the benchmark's comparison.
NATIVE_LINES = os.environ.get("SAFEGUARDS_SIDECAR_LINES", "native") != "python"


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

    def switch(self, policy: CompiledPolicy, entry: dict[str, Any] | None) -> None:
        """Carry the engine into another version (journaled first, if there is a journal); Incompatible if not."""


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

    def answer_block(self, block: bytes, line: int) -> tuple[bytes, int]:
        """The answer lines of a block of raw lines, the first being line number `line`; the next line's number.

        The core answers each line; one it leaves to Python is parsed and
        decided here, on the same engine, and the core goes on after it.
        """
        return answer_block(self.engine, block, line, lambda raw, number: self.submit([parse_line(raw)]))

    def advance(self, now: int) -> list[dict[str, Any]]:
        return self.engine.advance(now)

    def answered(self) -> None:
        pass

    def maybe_checkpoint(self) -> None:
        return None

    def switch(self, policy: CompiledPolicy, entry: dict[str, Any] | None) -> None:
        self.engine = carry(self.engine, policy)


class LineReader:
    """Complete lines as they arrive: all those already waiting, or block for the first one."""

    def __init__(self, source: IO[bytes], read_size: int = _READ_SIZE):
        try:
            self._fd: int | None = source.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None
        self._source = source
        self._rest = b""
        self._read_size = read_size
        self._buffer: bytearray | None = None
        self._view: memoryview | None = None
        self.ended = False
        self.wake_fd: int | None = None  #: a signal's wake-up pipe: a wait for input ends when it is written

    def _read(self) -> bytes:
        if self._fd is not None:  # a pipe gives whatever is there, blocking only when empty
            if self._read_size <= _READ_SIZE:
                return os.read(self._fd, self._read_size)
            # Large reads go into one buffer kept for the run: os.read would make (and shrink) an object of
            # the full size every time, which cost a one-line round trip 17 us here at 1 MiB.
            if self._buffer is None:
                self._buffer = bytearray(self._read_size)
                self._view = memoryview(self._buffer)
            return self._view[:os.readv(self._fd, [self._buffer])].tobytes()
        read = getattr(self._source, "read1", None) or self._source.read
        return read(self._read_size)

    def next_lines(self, timeout: float | None = None) -> list[bytes]:
        """The next batch of complete lines: at least one, unless input ended or ``timeout`` seconds passed first."""
        block = self.next_block(timeout)
        return block_lines(block) if block else []

    def next_block(self, timeout: float | None = None) -> bytes:
        """`next_lines` as one block: complete lines, each with its newline (at end of input, the rest without)."""
        while True:
            if timeout is not None and self._fd is not None:
                waits = [self._fd] if self.wake_fd is None else [self._fd, self.wake_fd]
                ready, _, _ = select.select(waits, [], [], timeout)
                if self.wake_fd in ready:
                    _drain(self.wake_fd)
                    return b""
                if not ready:
                    return b""
            chunk = self._read()
            if not chunk:
                self.ended = True
                rest, self._rest = self._rest, b""
                return rest
            data = self._rest + chunk if self._rest else chunk
            cut = data.rfind(b"\n") + 1
            if not cut:
                self._rest = data
                continue
            if cut == len(data):
                self._rest = b""
                return data
            self._rest = data[cut:]
            return data[:cut]


def widen_pipe(descriptor: int | None) -> None:
    """Ask for a :data:`PIPE_SIZE` buffer if `descriptor` is a pipe; anything else, or a refusal, leaves it as it is."""
    setting = getattr(fcntl, "F_SETPIPE_SZ", None)
    if descriptor is None or setting is None:
        return
    try:
        if stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            fcntl.fcntl(descriptor, setting, PIPE_SIZE)
    except OSError:  # over the system's cap, or a pipe holding more than that already: keep what it has
        pass


def _file_descriptor(stream: Any) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _drain(descriptor: int) -> None:
    try:
        while os.read(descriptor, 512):
            pass
    except BlockingIOError:
        pass


def parse_line(raw: bytes) -> Input:
    """The event with its bytes (journaled as received), or ``("unreadable", reason)`` for what cannot be an event."""
    try:
        event = loads(raw)
    except ValueError as error:  # includes bad UTF-8 and NaN/Infinity
        return ("unreadable", f"not valid JSON: {error}")
    reason = not_an_event(event)
    if reason is not None:
        return ("unreadable", reason)
    field = lone_surrogate_field(raw, event)
    if field is not None:
        return ("unreadable", lone_surrogate_reason(field))
    return Line(event, raw)


def answer_block(engine: Engine, block: bytes, line: int,
                 python: Callable[[bytes, int], list[Answer]]) -> tuple[bytes, int]:
    """A block of raw lines answered by the core (``Engine.answer_lines``); the next line's number.

    A line the core leaves to the Python path is answered by `python` (its
    answers, from the line's bytes and number) and written as
    :func:`write_answers` writes them; the core goes on after it.
    """
    parts = []
    offset = 0
    while True:
        text, stop, line = engine.answer_lines(block, offset, line)
        parts.append(text)
        if stop is None:
            return b"".join(parts), line
        end = block.find(b"\n", stop)
        end = len(block) if end < 0 else end
        parts.append(answer_text(python(block[stop:end], line), line_numbers=[line]).encode("ascii"))
        offset, line = end + 1, line + 1


def block_lines(block: bytes) -> list[bytes]:
    """A block's lines without their newlines (its last one may have none: input ended)."""
    return (block[:-1] if block.endswith(b"\n") else block).split(b"\n")


def write_answers(answers: list[Answer], out: IO[str], *, replayed: bool = False,
                  line_numbers: list[int] | None = None) -> None:
    """Each decision line then its alerts, as one write (the caller flushes)."""
    text = answer_text(answers, replayed=replayed, line_numbers=line_numbers)
    if text:
        out.write(text)


def write_bytes(out: IO[str], data: bytes) -> None:
    """Answer lines made by the core (ASCII) as one write, flushed."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(data.decode("ascii"))
        out.flush()
        return
    out.flush()  # nothing is pending in the text layer (every write here is flushed), but keep the order if it were
    buffer.write(data)
    buffer.flush()


def answer_text(answers: list[Answer], *, replayed: bool = False, line_numbers: list[int] | None = None) -> str:
    """Each decision line then its alerts (each line with its newline): the text the loop writes."""
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
    return "\n".join(lines) + "\n" if lines else ""


class _Stop(Exception):
    """SIGTERM arrived while waiting for input."""


def serve(decider: Decider, reader: LineReader, out: IO[str], err: IO[str], clock: IdleClock,
          follower: Follower | None = None, shadow: Shadow | None = None, *, native: bool | None = None) -> str:
    """Answer every line until end of input or SIGTERM; how the run ended.

    `native`: whether the core answers the lines (default :data:`NATIVE_LINES`);
    the Python path does if the decider cannot, or with a shadow.

    With a `follower`, the registry is looked at between batches (every
    ``follower.every`` seconds, and at once on SIGHUP) and a new live version
    is switched to (:func:`follow`). With a `shadow`, each batch is decided
    under the candidate too, once its live answers are written.
    """
    state = {"reading": False, "stop": False}

    def on_sigterm(signum: int, frame: Any) -> None:
        state["stop"] = True
        if state["reading"]:
            raise _Stop

    previous: Callable[..., Any] | int | None = signal.signal(signal.SIGTERM, on_sigterm)
    waking = _WakeOnHangup(follower, reader) if follower is not None else None
    timeout = clock.tick
    if follower is not None:
        timeout = follower.every if timeout is None else min(timeout, follower.every)
    native = (NATIVE_LINES if native is None else native) and shadow is None and hasattr(decider, "answer_block")
    widen_pipe(reader._fd)
    widen_pipe(_file_descriptor(out))
    line_number = 0
    try:
        while not state["stop"]:
            state["reading"] = True
            try:
                block = reader.next_block(timeout)
            finally:
                state["reading"] = False
            if not block and not reader.ended:
                _answer_quiet(decider, clock, out, shadow)
                if follower is not None and follower.due():
                    follow(decider, follower, out, err)
                continue
            if block:
                answer = _answer_block if native else _answer_lines
                line_number, answered = answer(decider, block, line_number, out, err, shadow)
                if answered:
                    clock.heard(decider.engine.now)
            if follower is not None and follower.due():
                follow(decider, follower, out, err)
            if reader.ended:
                return "end of input"
        return "SIGTERM"
    except _Stop:
        return "SIGTERM"
    finally:
        signal.signal(signal.SIGTERM, previous)
        if waking is not None:
            waking.close()


def _answer_block(decider: Decider, block: bytes, line_number: int, out: IO[str], err: IO[str],
                  shadow: Shadow | None) -> tuple[int, bool]:
    """A block answered by the core (the lines that came together, answered together): the last line's number,
    and whether anything was answered (not only blank lines)."""
    try:
        data, after = decider.answer_block(block, line_number + 1)  # type: ignore[attr-defined]
    except JournalNotDurable:
        last = line_number + block.count(b"\n") + (not block.endswith(b"\n"))
        _not_journaled(err, line_number + 1, last)
        raise
    if data:
        write_bytes(out, data)
        decider.answered()
        decider.maybe_checkpoint()
    return after - 1, bool(data)


def _answer_lines(decider: Decider, block: bytes, line_number: int, out: IO[str], err: IO[str],
                  shadow: Shadow | None) -> tuple[int, bool]:
    """A block answered by the Python path, each line parsed and handed over as a dict: as :func:`_answer_block`."""
    inputs, numbers = [], []
    for raw in block_lines(block):
        line_number += 1
        if raw.strip():
            inputs.append(parse_line(raw))
            numbers.append(line_number)
    if inputs:
        try:
            answers = decider.submit(inputs)
        except JournalNotDurable:
            _not_journaled(err, numbers[0], numbers[-1])
            raise
        write_answers(answers, out, line_numbers=numbers)  # the lines that came together, answered together
        out.flush()
        decider.answered()
        if shadow is not None:
            shadow.observe(inputs, answers)
        decider.maybe_checkpoint()
    return line_number, bool(inputs)


def _not_journaled(err: IO[str], first: int, last: int) -> None:
    print(f"safeguards run: stopped answering: lines {first:,} to {last:,} of this run got no decision (they could "
          "not be journaled); send them again after the restart", file=err, flush=True)


class _WakeOnHangup:
    """SIGHUP: look at the registry now. The handler only sets a flag; the wake-up pipe ends the wait for input."""

    def __init__(self, follower: Follower, reader: LineReader) -> None:
        self._read, self._write = os.pipe()
        for descriptor in (self._read, self._write):
            os.set_blocking(descriptor, False)
        self._reader = reader
        reader.wake_fd = self._read
        self._wakeup = signal.set_wakeup_fd(self._write)

        def on_sighup(signum: int, frame: Any) -> None:
            follower.forced = True

        self._previous = signal.signal(signal.SIGHUP, on_sighup)

    def close(self) -> None:
        signal.signal(signal.SIGHUP, self._previous)
        signal.set_wakeup_fd(self._wakeup)
        self._reader.wake_fd = None
        os.close(self._read)
        os.close(self._write)


def follow(decider: Decider, follower: Follower, out: IO[str], err: IO[str]) -> Change | None:
    """Look at the registry; switch to a new live version, or refuse it and keep running: an alert line either way."""
    running = decider.engine.policy
    change = follower.check(running)
    if change is None:
        return None
    refused = change.refused
    if not refused and change.policy is not None:
        try:
            decider.switch(change.policy, change.entry)
        except Incompatible as error:
            refused = str(error)
    engine = decider.engine
    offered = change.policy.identity if change.policy is not None else f"the live version of {follower.registry.name}"
    if refused:
        detail = f"refused {offered} ({change.describe()}): {refused}; still running {running.identity}"
        kind, severity = "policy_switch_refused", "warning"
        print(f"safeguards run: {detail}", file=err, flush=True)
    else:
        orders, keys = engine.held()
        detail = (f"switched from {running.identity} to {engine.identity} ({change.describe()}); carried across: "
                  f"{orders:,} orders, {keys:,} dedup keys, trading states")
        kind, severity = "policy_switched", "info"
        print(f"safeguards run: {detail}", file=err, flush=True)
    alert = {"kind": kind, "severity": severity, "guard": "registry", "seq": engine.arrivals or None,
             "order_id": None, "group_id": None, "broker_ts": _broker_time(engine.now), "detail": detail,
             "policy": engine.identity}
    write_answers([({}, [alert])], out)
    out.flush()
    return change


def _broker_time(now: int) -> str | None:
    return format_timestamp(now) if now else None


def _answer_quiet(decider: Decider, clock: IdleClock, out: IO[str], shadow: Shadow | None) -> None:
    """Input is quiet: if a timeout has fallen due meanwhile, advance broker time and write its alerts (flushed)."""
    now = clock.due(decider.engine.next_deadline())
    if now is None:
        return
    alerts = decider.advance(now)
    write_answers([({}, alerts)], out)
    out.flush()
    decider.answered()
    if shadow is not None:
        shadow.advance(now, alerts)


def summary(engine: Engine, ended_by: str) -> dict[str, Any]:
    """The line on stderr that ends a run: how it ended, and what the engine decided."""
    return {"type": "summary", "ended_by": ended_by, "policy": engine.identity, "events": engine.arrivals,
            "verdicts": engine.counts, "alerts": engine.alert_counts, "trading": engine.escalation.snapshot()}
