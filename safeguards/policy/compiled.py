"""The compiled policy: plain tables the engine runs, as canonical JSON with a content hash.

Canonical means sorted keys, no insignificant whitespace, UTF-8: the same
policy always gives the same bytes, so the sha256 of those bytes (the policy
hash) names exactly what was reviewed, backtested and promoted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CompiledPolicyError

COMPILED_FORMAT = 1


def canonical_json(value: Any) -> str:
    """Sorted keys, compact separators, no NaN: one text per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(tables: dict[str, Any]) -> str:
    """sha256 of the canonical form of everything but the hash itself."""
    body = {key: value for key, value in tables.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CompiledPolicy:
    """A compiled policy: `tables` is the whole artifact, `hash` its verified content hash."""

    tables: dict[str, Any]

    @classmethod
    def from_tables(cls, body: dict[str, Any]) -> CompiledPolicy:
        """Seal freshly compiled tables with their hash."""
        tables = {key: value for key, value in body.items() if key != "hash"}
        tables["compiled_format"] = COMPILED_FORMAT
        tables["hash"] = content_hash(tables)
        return cls(tables)

    @classmethod
    def from_json(cls, text: str, origin: str = "<compiled policy>") -> CompiledPolicy:
        """Read an artifact, refusing unknown formats and any content that does not match its hash."""
        try:
            tables = json.loads(text)
        except json.JSONDecodeError as error:
            raise CompiledPolicyError(f"{origin}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
        if not isinstance(tables, dict) or "hash" not in tables or "compiled_format" not in tables:
            raise CompiledPolicyError(f"{origin}: not a compiled policy (no compiled_format and hash); compile it with `safeguards compile`")
        if tables["compiled_format"] != COMPILED_FORMAT:
            raise CompiledPolicyError(
                f"{origin}: compiled format {tables['compiled_format']!r} is not the one this release reads ({COMPILED_FORMAT}); "
                "recompile the YAML policy with this release"
            )
        expected = content_hash(tables)
        if tables["hash"] != expected:
            raise CompiledPolicyError(
                f"{origin}: content does not match its hash (file says {str(tables['hash'])[:12]}, content is {expected[:12]}); "
                "the artifact was edited after compiling: recompile it from its YAML"
            )
        return cls(tables)

    @classmethod
    def read(cls, path: str | Path) -> CompiledPolicy:
        return cls.from_json(Path(path).read_text("utf-8"), str(path))

    @property
    def hash(self) -> str:
        return self.tables["hash"]

    @property
    def name(self) -> str:
        return self.tables["metadata"]["name"]

    @property
    def version(self) -> int:
        return self.tables["metadata"]["version"]

    @property
    def identity(self) -> str:
        """`name@version#hash12`, the form decisions and alerts carry."""
        return f"{self.name}@{self.version}#{self.hash[:12]}"

    def __getitem__(self, section: str) -> Any:
        return self.tables[section]

    def to_json(self) -> str:
        """The artifact as written to disk: canonical content, indented for people, newline-terminated."""
        return json.dumps(self.tables, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"

    def write(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")
