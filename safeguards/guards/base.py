"""What every guard has in common: the small interface the engine composes.

A guard is built from the compiled policy tables and the shared :class:`Book`
(orders, broker time, timers, alerts). It contributes *steps*: plain functions
``step(event) -> Decision | None`` registered for some event types at a
position in the pipeline. The engine runs, for each event, the steps of its
type in position order:

* ``None`` means "no objection, go on";
* a decision whose verdict is ``accept`` is remembered and the pipeline goes on
  (so a later step may still act on an accepted event);
* any other verdict ends the pipeline: that is the event's one decision.

A step that returns a non-accept verdict must not have changed order state.
Steps that must record something whatever the verdict (the idempotency key,
a clock sample) run early. Adding a sixth safeguard is writing one subclass in
one new module and naming it in :data:`safeguards.guards.GUARD_CLASSES`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, ClassVar, NamedTuple

from ..book import Book
from ..session import LIVE, SessionTraits
from ..events import BROKER_TYPES, FILL_TYPES, LOCAL_TYPES, MARKET_TYPES  # noqa: F401  (the guards' vocabulary)

#: (verdict, guard, rule, reason): built once per outcome kind, never per event where avoidable.
Decision = tuple[str, str, "str | None", str]
Step = Callable[[dict], "Decision | None"]

ACCEPT = "accept"
DUPLICATE = "duplicate"
STALE = "stale"
REJECT = "reject"
BLOCK = "block"
INVALID = "invalid"
VERDICTS = (ACCEPT, DUPLICATE, STALE, REJECT, BLOCK, INVALID)

# Pipeline positions: small numbers run first.
AT_DEDUP = 10
AT_GATE = 15
AT_CLOCK = 20
AT_PRECHECK = 25
AT_CHECK = 30
AT_RECORD = 40
AT_STATE = 50
AT_AFTER = 60



class StepSpec(NamedTuple):
    """One step of a guard: which event types, where in the pipeline, what to call."""

    types: tuple[str, ...]
    position: int
    function: Step


class Guard:
    """Base of the safeguards. Subclasses set ``name`` and ``section`` and define ``steps``."""

    #: The guard's name as it appears in decisions and alerts.
    name: ClassVar[str] = "guard"
    #: The policy section (key of the compiled tables) the guard is built from.
    section: ClassVar[str] = ""

    def __init__(self, tables: Mapping[str, Any], book: Book) -> None:
        self.tables = tables
        self.config: Mapping[str, Any] = tables.get(self.section, {}) if self.section else {}
        #: Alert kind -> severity, as the policy says (the compiler fills in defaults).
        self.severity: Mapping[str, str] = tables["severities"]
        self.book = book

    def steps(self) -> Iterable[StepSpec]:
        """The steps this guard adds to the engine's pipelines."""
        return ()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready picture of what the guard holds (for operators and tests)."""
        return {}

    def state(self) -> dict[str, Any]:
        """Everything the guard holds, JSON-ready, for a checkpoint: :meth:`restore` continues exactly."""
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`state` gave (the book's orders are already restored)."""

    def new_session(self) -> None:
        """The broker's message numbering starts over (see :meth:`~safeguards.engine.Engine.new_session`)."""

    def use_session(self, key: Hashable, traits: SessionTraits = LIVE) -> None:
        """Events from here on belong to the broker's session ``key`` (see :meth:`~safeguards.engine.Engine.use_session`)."""
