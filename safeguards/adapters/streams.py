"""SQL the broker-stream adapters share (Alpaca, Binance, OKX): one event object per line, mapped in DuckDB.

A venue's stream says its times in epoch milliseconds and its quantities as strings,
and a capture of it usually holds no receive time of ours: ``recv_ts`` then comes
from one of the venue's own clocks, named in ``extra.recv_ts_from`` (see
:data:`safeguards.adapters.columns.BROKER_CLOCKS`). A recorder that does stamp its
own receive time writes it beside the event as ``recv_ts`` or ``received_at``.
Values that are not what they should be pass through as they are, so that the
store rejects the row with its own reason, naming the field.
"""

from __future__ import annotations

from ..store.checks import lit

#: Quantities as venues write them: up to 20 digits before the point and 18 after.
_DECIMAL = "DECIMAL(38, 18)"

#: Fields a recorder adds to a captured message for its own receive time, in order of preference.
RECORDER_CLOCKS = ("recv_ts", "received_at")


def receive_time(line: str, venue_clock: str, venue_clock_name: str) -> tuple[str, str]:
    """SQL for ``recv_ts`` and for ``extra.recv_ts_from``.

    ``line`` is the JSON object the recorder wrote; ``venue_clock`` the SQL of the
    venue's time to fall back on, and ``venue_clock_name`` the field it comes from.
    """
    own = [f"({line}->>{lit('$.' + name)})" for name in RECORDER_CLOCKS]
    value = f"coalesce({', '.join(own)}, {venue_clock})"
    whens = " ".join(f"WHEN {sql} IS NOT NULL THEN {lit(name)}" for sql, name in zip(own, RECORDER_CLOCKS))
    return value, f"CASE {whens} ELSE {lit(venue_clock_name)} END"


def epoch_millis(text: str) -> str:
    """SQL turning epoch milliseconds (digits) into the integer nanoseconds the store reads.

    Anything else passes through (an empty string as missing; digits too many for
    milliseconds marked `` ms``, never read as nanoseconds) for the store to reject
    with its reason; DuckDB's own casts would round ``1.5`` to 2.
    """
    return (f"CASE WHEN regexp_full_match({text}, '[0-9]{{1,13}}') "
            f"THEN CAST(CAST({text} AS BIGINT) * 1000000 AS VARCHAR) "
            f"WHEN regexp_full_match({text}, '[0-9]+') THEN {text} || ' ms' ELSE nullif({text}, '') END")


def leaves_qty(qty: str, cum_qty: str, ended: str) -> str:
    """SQL for ``leaves_qty``: 0 once the order has ended (``ended``, a condition), else ``qty - cum_qty``.

    The difference is taken in decimal, as the venue wrote the two: in binary floating
    point 15.2 - 11.8 is 3.3999999999999986. NULL when either is not a number; the
    store then names the field that is wrong.
    """
    decimal = f"TRY_CAST({qty} AS {_DECIMAL}) - TRY_CAST({cum_qty} AS {_DECIMAL})"
    double = f"TRY_CAST({qty} AS DOUBLE) - TRY_CAST({cum_qty} AS DOUBLE)"  # 1e-05, say
    return f"CASE WHEN {ended} THEN '0' ELSE CAST(coalesce(CAST({decimal} AS DOUBLE), {double}) AS VARCHAR) END"


def case_map(value: str, mapping: dict[str, str]) -> str:
    """SQL ``CASE value WHEN key THEN mapped ... END`` (NULL for a value not in ``mapping``)."""
    return f"CASE {value} " + " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items()) + " END"


def one_of(values: tuple[str, ...] | list[str]) -> str:
    """SQL list of literals for ``IN (...)``."""
    return ", ".join(lit(v) for v in values)
