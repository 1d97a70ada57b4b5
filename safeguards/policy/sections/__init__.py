"""The guards' parts of a policy, one module each, declared in one registry (:data:`GUARD_SECTIONS`).

A guard's section is everything the policy language knows about it: its schema
fragment (``<name>.schema.json`` beside its module), how it compiles to the
engine's tables, the checks the schema cannot express, the durations in it, and
how it reads to a reviewer. The schema, the compiler, the checks and
``safeguards explain`` go through the registry, so adding a sixth guard is one
module here, one line below, and its Rust module under
``crates/safeguards-core/src/engine/`` (see docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from . import clock, hedging, idempotency, intents, ordering
from .section import AlertDefault, Check, Section

#: The guards' sections, in the order a policy file and ``safeguards explain`` present them.
GUARD_SECTIONS: tuple[Section, ...] = (
    ordering.SECTION, idempotency.SECTION, intents.SECTION, hedging.SECTION, clock.SECTION,
)

__all__ = ["GUARD_SECTIONS", "AlertDefault", "Check", "Section"]
