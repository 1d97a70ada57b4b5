"""Every engine implementation the project has, by name: what the conformance suite and the differential test run.

``python`` is the engine of :mod:`safeguards.engine`; a compiled core registers
itself here once it exists (``safeguards._core.Engine`` behind the same API),
and every test that takes ``IMPLEMENTATIONS`` then runs over it too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from safeguards.engine import Engine
from safeguards.policy import CompiledPolicy

#: name -> how to build that implementation's engine from a compiled policy.
IMPLEMENTATIONS: dict[str, Callable[[CompiledPolicy], Any]] = {"python": Engine}


def _rust_engine(policy: CompiledPolicy) -> Any:
    from safeguards._core import Engine as RustEngine

    return RustEngine(policy)


IMPLEMENTATIONS["rust"] = _rust_engine
