"""The policy JSON Schema (draft 2020-12) and its errors in a risk manager's words.

The schema ships inside the package (`policy.schema.json`) so editors can use
it for completion; `safeguards schema` prints it. It is made of parts: the
policy's own (`base.schema.json`) and each guard section's fragment
(:mod:`.sections`). jsonschema's own messages
are written for programmers; here each becomes a sentence with a place and,
for misspelled keys and values, a "did you mean".
"""

from __future__ import annotations

import difflib
import json
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from ..errors import Problem
from .source import Path, SourceMap

#: The whole schema, for editors: made from the parts below by :func:`policy_schema`; a test keeps it current.
SCHEMA_FILE = "policy.schema.json"
#: The policy's own parts (format, metadata, severities, escalation, promotion); the guards' come from their sections.
BASE_FILE = "base.schema.json"


@cache
def policy_schema() -> dict[str, Any]:
    """The policy schema: the base, with each guard section's fragment in its place (after metadata)."""
    from .sections import GUARD_SECTIONS  # here: the sections' checks use this module's wording

    base = json.loads(resources.files(__package__).joinpath(BASE_FILE).read_text("utf-8"))
    head, tail = ("format", "metadata"), [name for name in base["properties"] if name not in ("format", "metadata")]
    properties = {name: base["properties"][name] for name in head}
    properties.update((section.name, section.schema) for section in GUARD_SECTIONS)
    properties.update((name, base["properties"][name]) for name in tail)
    severities = {alert.kind: alert.schema for section in GUARD_SECTIONS for alert in section.alerts}
    properties["severities"] = {**properties["severities"], "properties": severities}
    required = [name for name in properties if name in base["required"] or name in {s.name for s in GUARD_SECTIONS}]
    return {**base, "required": required, "properties": properties}


def default_severities() -> dict[str, str]:
    """Alert kind -> severity when a policy does not say; the schema's `default`s, so editors show them too."""
    kinds = policy_schema()["properties"]["severities"]["properties"]
    return {kind: spec["default"] for kind, spec in kinds.items()}


def schema_text() -> str:
    """The schema as ``safeguards schema`` prints it and ``policy.schema.json`` holds it."""
    return json.dumps(policy_schema(), indent=2, ensure_ascii=False) + "\n"


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(policy_schema())
    return Draft202012Validator(policy_schema())


def schema_problems(data: Any, source: SourceMap) -> tuple[list[Problem], set[str]]:
    """Every schema violation in `data`, placed in the file, in human words.

    Also returns the top-level sections that have violations, so that later
    checks can still run on the sections that are well formed.
    """
    problems: list[Problem] = []
    broken: set[str] = set()
    errors = list(_validator().iter_errors(data))
    misspelled = {(tuple(e.absolute_path), name) for e in errors for name in _misspelled_keys(e)}
    for error in errors:
        path = tuple(error.absolute_path)
        if error.absolute_path:
            broken.add(str(error.absolute_path[0]))
        if any(path[: len(bad)] == bad for bad in source.unreadable):
            continue
        if error.validator == "required" and (path, _missing_key(error)) in misspelled:
            continue  # "unknown key 'max_dept'; did you mean 'max_depth'?" already says it
        problems.extend(_translate(error, source))
    return problems, broken


def _missing_key(error: ValidationError) -> str:
    # jsonschema reports one error per missing key; its message quotes the key.
    return error.message.split(" is a required property")[0].strip("'\"")


def _misspelled_keys(error: ValidationError) -> list[str]:
    """The known keys that unknown keys in this error are close to."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    allowed = list(error.schema.get("properties", {}))
    return [match for key in error.instance if key not in allowed for match in difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)]


def where(path: Path) -> str:
    """`('hedging', 'max_depth')` -> `hedging.max_depth`; the top level is `the policy`."""
    if not path:
        return "the policy"
    text = ""
    for part in path:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (true/false)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text '{value}'"
    return f"{value!r}"


def _number_hint(text: str) -> str:
    """Why a number came out as text: quotes, or YAML's reading of `1e6` as a string."""
    try:
        float(text)
    except ValueError:
        return ""
    if "e" in text.lower() and "." not in text:
        return f" (YAML reads {text} as text; write it in full, e.g. 1000000)"
    return " (remove the quotes)"


def _is_duration(schema: dict[str, Any]) -> bool:
    return "span of time" in schema.get("description", "")


def _duration_examples(number: float) -> str:
    """A bare number where a duration belongs: what it would be in milliseconds and in seconds."""
    shown = f"{number:g}"
    seconds = f" (that is {number / 1000:g}s)" if number >= 1000 else ""
    return f"{shown}ms{seconds} or {shown}s; a bare number has no unit"


_TYPE_WORDS = {
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}


def _translate(error: ValidationError, source: SourceMap) -> list[Problem]:
    path: Path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    here = where(path)

    if kind == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        return [
            source.problem(
                f"unknown key '{key}' in {here}{suggest(key, allowed)}"
                + ("" if suggest(key, allowed) else f" (allowed: {', '.join(allowed)})"),
                path + (key,),
                key=True,
            )
            for key in error.instance
            if key not in schema.get("properties", {})
        ]
    if "propertyNames" in error.relative_schema_path:
        choices = list(error.schema.get("enum", [])) if isinstance(error.schema, dict) else []
        key = error.instance
        return [source.problem(f"'{key}' is not a broker event type{suggest(key, choices)} (known: {', '.join(choices)})", path + (key,), key=True)]
    if kind == "required":
        return [source.problem(f"{here} is missing the required key '{_missing_key(error)}'", path, key=bool(path))]
    if kind == "type":
        expected = error.validator_value
        words = " or ".join(_TYPE_WORDS.get(t, str(t)) for t in (expected if isinstance(expected, list) else [expected]))
        hint = ""
        if expected in ("integer", "number") and isinstance(error.instance, str):
            hint = _number_hint(error.instance)
        if _is_duration(schema) and isinstance(error.instance, (int, float)) and not isinstance(error.instance, bool):
            return [source.problem(f"{here} is a span of time and needs its unit: write {_duration_examples(error.instance)}", path)]
        return [source.problem(f"{here} must be {words}, not {_describe(error.instance)}{hint}", path)]
    if kind == "enum":
        choices = [str(c) for c in error.validator_value]
        return [source.problem(f"{here}: {_describe(error.instance)} is not allowed{suggest(error.instance, choices)} (one of: {', '.join(choices)})", path)]
    if kind == "const":
        return [source.problem(f"{here} must be {error.validator_value!r}; this release reads policy format {error.validator_value}", path)]
    if kind == "pattern":
        described = schema.get("description", "")
        if _is_duration(schema):
            return [source.problem(f"{here}: {_describe(error.instance)} is not a duration; write a positive number and a unit, e.g. 250ms, 5s, 1m30s, 24h", path)]
        return [source.problem(f"{here}: {_describe(error.instance)} is not a valid name: use lower case letters, digits and _ (starting with a letter)", path)]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "above", "exclusiveMaximum": "below"}[kind]
        return [source.problem(f"{here} must be {bound} {error.validator_value}, not {error.instance}", path)]
    if kind == "minItems":
        return [source.problem(f"{here} needs at least {error.validator_value} item{'s' if error.validator_value != 1 else ''}", path)]
    if kind == "uniqueItems":
        seen: set[str] = set()
        repeats = []
        for item in map(json.dumps, error.instance):
            if item in seen:
                repeats.append(item)
            seen.add(item)
        return [source.problem(f"{here} lists {', '.join(repeats) or 'an item'} more than once", path)]
    if kind == "minLength":
        return [source.problem(f"{here} must not be empty", path)]
    if kind == "oneOf":
        specific = [p for sub in error.context if sub.validator != "type" for p in _translate(sub, source)]
        if specific:
            return specific
        return [source.problem(f"{here} must be a state name or a list of state names, not {_describe(error.instance)}", path)]
    return [source.problem(f"{here}: {error.message}", path)]
