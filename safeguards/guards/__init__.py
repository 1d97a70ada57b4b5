"""The safeguards, one module each, all with the interface of :class:`~.base.Guard`.

Adding a sixth safeguard: write ``guards/<name>.py`` with one ``Guard`` subclass
reading its own policy section, and add the class here.
"""

from __future__ import annotations

from .base import Guard, StepSpec
from .clock import ClockGuard
from .hedging import HedgingGuard
from .idempotency import IdempotencyGuard
from .intents import IntentsGuard
from .ordering import OrderingGuard

#: The guards every engine runs, built from the compiled tables in this order.
GUARD_CLASSES: tuple[type[Guard], ...] = (
    IdempotencyGuard,
    ClockGuard,
    HedgingGuard,
    IntentsGuard,
    OrderingGuard,
)

__all__ = [
    "GUARD_CLASSES",
    "ClockGuard",
    "Guard",
    "HedgingGuard",
    "IdempotencyGuard",
    "IntentsGuard",
    "OrderingGuard",
    "StepSpec",
]
