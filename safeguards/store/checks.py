"""Turn a staged relation into typed canonical columns plus a rejection reason, in SQL.

Adapters stage a file as a DuckDB relation whose columns carry canonical field
names (any subset, any castable type) plus bookkeeping columns:

- ``row_number`` (BIGINT, required): line number, data row number or message number;
- ``location`` (VARCHAR, optional): how a person finds the row, e.g. ``line 12``
  (default ``row N``); read only for rejected rows;
- ``raw`` (VARCHAR, optional): the row as it was in the file;
- ``pre_reason`` (VARCHAR, optional): the adapter's own reason to reject the row;
- ``type_error`` (VARCHAR, optional): a wrong-type reason the adapter saw in its own
  typed format (e.g. a JSON string where a number belongs), checked after source/type;
- ``extra`` (JSON, optional): fields the canonical schema does not have.

This module builds the SELECT that casts every field to its canonical type and
computes, per row, the first reason the row is not a valid event: the same checks,
in the same order, as :func:`safeguards.events.validate_event`, generated from the
same tables, so the two never disagree about what is valid.
"""

from __future__ import annotations

from ..events import (
    BOOL, CHOICES, DEFAULT_ACCOUNT, FIELDS, INT, KIND_WORDS, NUM, QUANTITY_FIELDS, REQUIRED, STR,
    TIMESTAMP_PATTERN, TYPES_BY_SOURCE,
)
from .schema import SQL_TYPES
from .sql import ident, lit

BOOKKEEPING = ("row_number", "location", "raw", "pre_reason", "type_error", "extra")

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
                  "UINTEGER", "UBIGINT", "UHUGEINT"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE"}
_TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE"}
_ZONED_TIMESTAMP_TYPES = {"TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ", "TIMESTAMPTZ_NS"}
_TRUE_WORDS = ("true", "t", "1", "y", "yes")
_FALSE_WORDS = ("false", "f", "0", "n", "no")


def _is_numeric(sql_type: str) -> bool:
    return sql_type in _INTEGER_TYPES or sql_type in _FLOAT_TYPES or sql_type.startswith("DECIMAL")


def _cast(name: str, kind: str, sql_type: str) -> tuple[str, str | None]:
    """(typed value expression, expression that is TRUE when a present value has the wrong type)."""
    col = ident(name)
    target = SQL_TYPES[kind]
    if sql_type == "BOOLEAN" and kind != BOOL:
        return f"NULL::{target}", f"{col} IS NOT NULL"
    if kind == STR:
        if sql_type == "VARCHAR":
            return col, None
        if _is_numeric(sql_type):
            return f"CAST({col} AS VARCHAR)", None
        return "NULL::VARCHAR", f"{col} IS NOT NULL"
    if kind == NUM:
        if sql_type == "VARCHAR":
            return f"TRY_CAST(trim({col}) AS DOUBLE)", None
        if _is_numeric(sql_type):
            return f"CAST({col} AS DOUBLE)", None
        return "NULL::DOUBLE", f"{col} IS NOT NULL"
    if kind == INT:
        if sql_type == "VARCHAR":
            return (f"CASE WHEN regexp_full_match(trim({col}), '[+-]?[0-9]+') "
                    f"THEN TRY_CAST(trim({col}) AS BIGINT) END"), None
        if sql_type in _INTEGER_TYPES:
            return f"TRY_CAST({col} AS BIGINT)", None
        if sql_type in _FLOAT_TYPES:
            return f"CASE WHEN {col} = trunc({col}) THEN TRY_CAST({col} AS BIGINT) END", None
        return "NULL::BIGINT", f"{col} IS NOT NULL"
    if kind == BOOL:
        if sql_type == "BOOLEAN":
            return col, None
        if sql_type == "VARCHAR":
            words = lambda ws: ", ".join(lit(w) for w in ws)  # noqa: E731
            low = f"lower(trim({col}))"
            return (f"CASE WHEN {low} IN ({words(_TRUE_WORDS)}) THEN true "
                    f"WHEN {low} IN ({words(_FALSE_WORDS)}) THEN false END"), None
        if sql_type in _INTEGER_TYPES:
            return f"CASE {col} WHEN 1 THEN true WHEN 0 THEN false END", None
        return "NULL::BOOLEAN", f"{col} IS NOT NULL"
    # timestamps
    if sql_type == "VARCHAR":
        return _timestamp_from_text(col), None
    if sql_type in _INTEGER_TYPES:
        return f"make_timestamp_ns(TRY_CAST({col} AS BIGINT))", None
    if sql_type in _TIMESTAMP_TYPES:
        return f"CAST({col} AS TIMESTAMP_NS)", None
    if sql_type in _ZONED_TIMESTAMP_TYPES:  # an instant: its epoch is the same in every zone
        return f"make_timestamp_ns(epoch_ns({col}))", None
    return "NULL::TIMESTAMP_NS", f"{col} IS NOT NULL"


_ZULU_PATTERN = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z"


def _timestamp_from_text(col: str) -> str:
    """RFC 3339 (any offset, converted to UTC) or a string of integer nanoseconds."""
    pattern = lit(TIMESTAMP_PATTERN)
    group = lambda n: f"regexp_extract({col}, {pattern}, {n})"  # noqa: E731
    # DuckDB's text cast rounds to microseconds, and so does interval arithmetic on
    # TIMESTAMP_NS: compute in integer nanoseconds instead.
    seconds = f"epoch_ns(TRY_CAST({group(1)} || ' ' || {group(2)} AS TIMESTAMP_NS))"
    fraction = f"CAST(rpad({group(3)} || '0', 9, '0') AS BIGINT)"
    offset = group(4)
    shift = (f"CASE WHEN upper({offset}) = 'Z' THEN 0 ELSE "
             f"(CASE WHEN left({offset}, 1) = '-' THEN -1 ELSE 1 END) * "
             f"(CAST(substr({offset}, 2, 2) AS BIGINT) * 3600 + CAST(substr({offset}, 5, 2) AS BIGINT) * 60) END")
    base = f"make_timestamp_ns({seconds} + {fraction} - ({shift}) * 1000000000)"
    # The usual form, UTC with 'Z', is cast directly (the cast keeps nanoseconds); one
    # regular expression decides, where the general path needs six.
    return (f"CASE WHEN regexp_full_match({col}, {lit(_ZULU_PATTERN)}) THEN TRY_CAST({col} AS TIMESTAMP_NS) "
            f"WHEN regexp_full_match({col}, {pattern}) THEN {base} "
            f"WHEN regexp_full_match(trim({col}), '-?[0-9]{{1,19}}') "
            f"THEN make_timestamp_ns(TRY_CAST(trim({col}) AS BIGINT)) END")


def _type_error(name: str, kind: str, sql_type: str, value: str, wrong: str | None) -> str | None:
    """The reason for a present value that did not cast (or whose column type is wrong).

    None when the cast cannot fail (the column already has the type, or a plain CAST
    widens it), so valid typed files pay for no check they cannot fail.
    """
    col = ident(name)
    if wrong is None and (value == col or value.startswith(("CAST(", "make_timestamp_ns(epoch_ns("))):
        return None
    expected = KIND_WORDS[kind]
    if wrong is not None:
        got = "bool" if sql_type == "BOOLEAN" else sql_type
        return f"WHEN {wrong} THEN {lit(f'field {name!r}: expected {expected}, got {got}')}"
    return (f"WHEN {col} IS NOT NULL AND {ident('v_' + name)} IS NULL THEN "
            f"{lit(f'field {name!r}: expected {expected}, got ')} || left(CAST({col} AS VARCHAR), 80)")


def checked_select(staged: str, columns: dict[str, str]) -> str:
    """SQL selecting bookkeeping, ``reason`` and typed canonical columns from ``staged``.

    ``columns`` maps each staged column name to its DuckDB type (from DESCRIBE).
    """
    present = {name: columns[name] for name in FIELDS if name in columns}
    inner = ["row_number"]
    for extra_col in ("pre_reason", "type_error"):
        inner.append(ident(extra_col) if extra_col in columns else f"NULL::VARCHAR AS {extra_col}")
    inner.append("CAST(extra AS JSON) AS extra" if "extra" in columns else "NULL::JSON AS extra")
    errors: list[str | None] = []
    for name, kind in FIELDS.items():
        if name in present:
            value, wrong = _cast(name, kind, present[name])
            inner.append(f"{ident(name)}")
            errors.append(_type_error(name, kind, present[name], value, wrong))
        else:
            value = f"NULL::{SQL_TYPES[kind]}"
        inner.append(f"{value} AS {ident('v_' + name)}")

    v = lambda name: ident("v_" + name)  # noqa: E731
    reasons = [
        "WHEN pre_reason IS NOT NULL THEN pre_reason",
        f"WHEN {v('source')} IS NULL AND {ident('source') if 'source' in present else 'NULL'} IS NULL "
        f"THEN 'missing field ''source'''",
        f"WHEN {v('type')} IS NULL AND {ident('type') if 'type' in present else 'NULL'} IS NULL "
        f"THEN 'missing field ''type'''",
    ]
    reasons += [e for e, name in zip(errors, present) if e and name in ("source", "type")]
    sources = ", ".join(lit(s) for s in TYPES_BY_SOURCE)
    unknown = [
        f"WHEN {v('source')} NOT IN ({sources}) THEN 'field ''source'': unknown source ''' || "
        f"{v('source')} || ''' (expected one of: {', '.join(sorted(TYPES_BY_SOURCE))})'"
    ]
    for source, types in TYPES_BY_SOURCE.items():
        unknown.append(
            f"WHEN {v('source')} = {lit(source)} THEN 'field ''type'': unknown type ''' || {v('type')} || "
            f"''' for source ''{source}'' (expected one of: {', '.join(types)})'"
        )
    reasons.append(f"WHEN kind IS NULL THEN CASE {' '.join(unknown)} END")
    reasons.append("WHEN type_error IS NOT NULL THEN type_error")
    for error, name in zip(errors, present):
        if error and name not in ("source", "type"):
            reasons.append(error)
        kind = FIELDS[name]
        if kind == NUM:
            reasons.append(f"WHEN NOT isfinite({v(name)}) THEN "
                           f"{lit(f'field {name!r}: ')} || CAST({v(name)} AS VARCHAR) || ' is not a finite number'")
            if name in QUANTITY_FIELDS:
                reasons.append(f"WHEN {v(name)} < 0 THEN "
                               f"{lit(f'field {name!r}: negative quantity ')} || CAST({v(name)} AS VARCHAR)")
        if name in CHOICES:
            choices = CHOICES[name]
            reasons.append(
                f"WHEN {' AND '.join(f'{v(name)} <> {lit(c)}' for c in choices)} THEN "
                f"{lit(f'field {name!r}: ')} || '''' || {v(name)} || ''' is not one of {', '.join(choices)}'"
            )
    for name in FIELDS:
        codes = [code for code, need in enumerate(REQUIRED.values()) if name in need]
        if codes:
            reasons.append(
                f"WHEN {v(name)} IS NULL AND ({_kind_in(codes)}) THEN "
                f"{lit(f'missing field {name!r} (required for ')} || {v('source')} || ' ' || {v('type')} || ')'"
            )
    reasons.append(
        f"WHEN {v('type')} = 'intent' AND {v('role')} = 'hedge' AND {v('parent_id')} IS NULL "
        f"THEN 'missing field ''parent_id'' (required for hedge intents)'"
    )
    outer = ["row_number", f"CASE {' '.join(reasons)} END AS reason"]
    for name in FIELDS:
        if name == "seq":
            outer.append(f"coalesce({v('seq')}, row_number) AS seq")
        elif name == "account":
            outer.append(f"coalesce({v('account')}, {lit(DEFAULT_ACCOUNT)}) AS account")
        else:
            outer.append(f"{v(name)} AS {ident(name)}")
    outer.append("extra")
    middle = (f"SELECT *, {_kind_code(v('source'), v('type'))} AS kind "
              f"FROM (SELECT {', '.join(inner)} FROM {staged})")
    return f"SELECT {', '.join(outer)} FROM ({middle}) AS typed"


def _kind_code(source: str, type_: str) -> str:
    """The (source, type) pair's position in REQUIRED, NULL for a pair that does not exist.

    Computed once per row so the required-field checks compare small integers; by
    comparisons with constants (no string built per row).
    """
    by_source: dict[str, list[str]] = {}
    for code, (src, typ) in enumerate(REQUIRED):
        by_source.setdefault(src, []).append(f"WHEN {lit(typ)} THEN {code}")
    branches = " ".join(f"WHEN {lit(src)} THEN CASE {type_} {' '.join(whens)} END" for src, whens in by_source.items())
    return f"CASE {source} {branches} END"


def _kind_in(codes: list[int]) -> str:
    """``kind`` is one of ``codes``, as ranges: DuckDB plans a long IN list as a join."""
    ranges: list[list[int]] = []
    for code in sorted(codes):
        if ranges and code == ranges[-1][1] + 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return " OR ".join(f"kind = {a}" if a == b else f"kind BETWEEN {a} AND {b}" for a, b in ranges)
