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

from .core import Engine, build_engine  # the compiled core; safeguards.engine keeps the Python oracle
from .errors import EngineError

__version__ = "0.1.0"

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
]
