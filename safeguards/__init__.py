"""safeguards: keeps a live options-trading system safe from its broker's event stream.

The public API is re-exported here; everything else is an implementation detail.
"""

from .errors import (
    CompiledPolicyError,
    Location,
    PolicyError,
    Problem,
    SafeguardsError,
    UsageError,
)
from .policy import (
    CompiledPolicy,
    compile_file,
    compile_text,
    format_duration,
    load_policy,
    parse_duration,
    policy_schema,
)

from .core import Engine, build_engine  # the compiled core (crates/), the one engine
from .errors import EngineError

__version__ = "0.1.0"

#: Re-exported on first use: a sweep brings in the backtest (DuckDB, Arrow), which most commands never need.
_LAZY = {"run_sweep": "sweep", "read_sweep": "sweep", "plan_variants": "sweep", "SweepReport": "sweep",
         "run_partitioned": "sweep", "plan_partitions": "sweep"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Engine",
    "EngineError",
    "build_engine",
    "CompiledPolicy",
    "CompiledPolicyError",
    "Location",
    "PolicyError",
    "Problem",
    "SafeguardsError",
    "UsageError",
    "compile_file",
    "compile_text",
    "format_duration",
    "load_policy",
    "parse_duration",
    "policy_schema",
    "plan_partitions",
    "plan_variants",
    "read_sweep",
    "run_partitioned",
    "run_sweep",
    "SweepReport",
]
