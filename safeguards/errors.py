"""One exception hierarchy for the whole package.

Every error a person can cause carries where it happened (file, line, column,
or which event and field) and what to do about it. Policy errors collect every
problem in a file so a risk manager fixes them in one pass, not one per run.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Location:
    """A place in a source file; line and column are 1-based, as editors show them."""

    path: str
    line: int
    col: int
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, with its place and the source line it is on."""

    message: str
    location: Location | None = None
    source_line: str | None = field(default=None, compare=False)

    def render(self, snippet: bool = True) -> str:
        head = f"{self.location}: {self.message}" if self.location else self.message
        if not snippet or self.location is None or self.source_line is None:
            return head
        return head + "\n" + highlight(self.source_line, self.location)


_SHOWN = 120  # characters of a source line shown at most


def highlight(source_line: str, location: Location) -> str:
    """Show the offending line with carets under the offending text, sqlglot style."""
    text = source_line.rstrip("\n").expandtabs(1)
    start = max(location.col - 1, 0)
    end = location.end_col - 1 if location.end_col else len(text)
    if len(text) > _SHOWN:  # a very long line: the part around the place, marked as cut
        left = max(0, start - _SHOWN // 4)
        shown = text[left:left + _SHOWN]
        end, start = min(end, left + _SHOWN) - left, start - left
        text = ("..." if left else "") + shown + ("..." if left + _SHOWN < len(source_line) else "")
        if left:
            start, end = start + 3, end + 3
    width = max(1, min(end, len(text)) - start) if start < len(text) else 1
    gutter = f"{location.line:>5} | "
    return f"{gutter}{text}\n{' ' * (len(gutter) - 2)}| {' ' * start}{'^' * width}"


def _file_order(problem: Problem) -> tuple[str, int, int, str]:
    where = problem.location
    return (where.path, where.line, where.col, problem.message) if where else ("", 0, 0, problem.message)


class SafeguardsError(Exception):
    """Base of every error this package raises on purpose."""


class PolicyError(SafeguardsError):
    """A policy file cannot be used; carries every problem found, in file order."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems), key=_file_order)
        super().__init__(self.render(snippet=False))

    def render(self, snippet: bool = True) -> str:
        return "\n".join(p.render(snippet) for p in self.problems)


class CompiledPolicyError(SafeguardsError):
    """A compiled policy artifact is malformed, of an unknown format, or fails its hash check."""


class UsageError(SafeguardsError):
    """A command was called with arguments it cannot work with (exit code 2)."""


class EventError(SafeguardsError):
    """A value cannot be read as part of a canonical event (e.g. a malformed timestamp)."""


class IngestError(SafeguardsError):
    """A log file cannot be ingested at all (unreadable, unknown format, bad column mapping)."""


class StoreError(SafeguardsError):
    """The event database cannot be used (e.g. written by a newer version of safeguards)."""


class EngineError(SafeguardsError):
    """The engine cannot be built or driven as asked (bad policy object, bad time value)."""


class SimulatorError(SafeguardsError):
    """The simulator was asked for something it cannot do (unknown fault kind, rate out of range, bad size)."""


class EvidenceError(SafeguardsError):
    """A run directory cannot serve as evidence (missing or malformed metrics, wrong policy)."""


class RegistryError(SafeguardsError):
    """The runtime registry or an artifact in it is missing, inconsistent or tampered with."""


class SigningError(RegistryError):
    """A signature is missing, made by an untrusted key, or does not match; or a key cannot be read or made."""


class PromotionRefused(SafeguardsError):
    """Promotion was refused because the evidence does not pass the policy's gates (exit code 1)."""


class JournalError(SafeguardsError):
    """The engine's journal cannot be used: corrupt, from another policy, of an unknown format, or locked."""


class JournalLocked(JournalError):
    """Another live process holds the journal."""


class JournalNotDurable(JournalError):
    """The journal's disk refused a write or a sync (full, read-only, failing): nothing more can be answered.

    Carries the file, what was being done, and the OS error; the message says what to do.
    """

    def __init__(self, message: str, *, path: str, errno: int | None = None):
        super().__init__(message)
        self.path = path
        self.errno = errno


class NotebookError(SafeguardsError):
    """A validation notebook cannot be found or run, or one of its cells failed (names the cell and error)."""
