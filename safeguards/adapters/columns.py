"""Naming columns: map a table's own column names onto canonical fields, keep the rest as extra.

Shared by the CSV and Parquet adapters, whose files name columns as their producer
chose (``client_order_id`` for our ``order_id``, and so on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import IngestError
from ..events import FIELDS
from ..store.checks import ident, lit

#: Values of ``extra.recv_ts_from`` that name one of the broker's own clocks. Such a ``recv_ts`` is
#: not our clock: a log whose broker events all take it from one of these cannot show local clock
#: skew, and the backtest says so instead of measuring the skew between two of the broker's clocks.
#: An adapter that fills ``recv_ts`` from a broker field names that field here: FIX's SendingTime,
#: Alpaca's ``timestamp``, Binance's event time ``E``, OKX's order update time ``uTime``.
BROKER_CLOCKS = frozenset({"SendingTime", "timestamp", "E", "uTime"})


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """Read ``THEIRS=OURS`` pairs (e.g. from ``--map client_order_id=order_id``)."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        theirs, sep, ours = pair.partition("=")
        if not sep or not theirs or not ours:
            raise IngestError(f"column mapping {pair!r}: write THEIR_COLUMN=our_field, e.g. client_order_id=order_id")
        mapping[theirs] = ours
    return mapping


def mapped_select(
    source_sql: str, columns: Sequence[str], mapping: Mapping[str, str], where: str, keep: Sequence[str] = ()
) -> str:
    """SELECT canonical-named columns (renamed per ``mapping``) and ``extra`` from ``source_sql``.

    ``keep`` are bookkeeping columns passed through as they are; ``where`` names the
    file for error messages. Columns that are neither canonical
    nor mapped go, by their own names, into the JSON column ``extra``.
    """
    unknown_targets = sorted(set(mapping.values()) - set(FIELDS))
    if unknown_targets:
        raise IngestError(
            f"{where}: column mapping targets {', '.join(unknown_targets)} are not canonical fields "
            f"(fields: {', '.join(FIELDS)})"
        )
    missing = sorted(set(mapping) - set(columns))
    if missing:
        raise IngestError(
            f"{where}: mapped columns {', '.join(missing)} are not in the file (it has: {', '.join(columns)})"
        )
    named: dict[str, str] = {}
    extra: list[str] = []
    for column in columns:
        if column in keep:
            continue
        field = mapping.get(column, column if column in FIELDS and column not in mapping.values() else None)
        if field is None:
            extra.append(column)
            continue
        if field in named:
            raise IngestError(f"{where}: columns {named[field]!r} and {column!r} both map to field {field!r}")
        named[field] = column
    select = [f"{ident(column)} AS {ident(field)}" for field, column in named.items()]
    if extra:
        pairs = ", ".join(f"{lit(c)}: {ident(c)}" for c in extra)
        select.append(f"nullif(json_merge_patch('{{}}', to_json({{{pairs}}})), '{{}}') AS extra")
    select = [ident(k) for k in keep] + select
    return f"SELECT {', '.join(select)} FROM ({source_sql})"
