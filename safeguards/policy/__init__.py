"""The policy language: YAML source, JSON Schema, checks, compiler, diff and explanation."""

from .compiled import CompiledPolicy, canonical_json, content_hash
from .compiler import compile_file, compile_text, load_policy
from .durations import format_duration, parse_duration
from .schema import policy_schema, schema_text

__all__ = [
    "CompiledPolicy",
    "canonical_json",
    "compile_file",
    "compile_text",
    "content_hash",
    "format_duration",
    "load_policy",
    "parse_duration",
    "policy_schema",
    "schema_text",
]
