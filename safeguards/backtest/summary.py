"""``summary.json``: what a backtest saw and decided, counted from its own Parquet outputs by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from ..store.database import one_row
from .sink import sql_text
from .source import MEMORY_LIMIT


def _counts(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, int]:
    return {str(key): int(n) for key, n in con.execute(query).fetchall()}


def _iso(value: Any) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def summarize(decisions: Path, alerts: Path) -> dict[str, Any]:
    """Counts by verdict, guard, alert kind and severity, per day (of arrival), and the time span."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet({sql_text(decisions)})")
        con.execute(f"CREATE VIEW a AS SELECT * FROM read_parquet({sql_text(alerts)})")
        first, last, first_broker, last_broker = one_row(
            con, "SELECT min(recv_ts), max(recv_ts), min(broker_ts), max(broker_ts) FROM d")
        days = con.execute(
            "SELECT strftime(day, '%Y-%m-%d'), sum(events), sum(alerts), sum(critical) FROM ("
            " SELECT CAST(recv_ts AS DATE) AS day, count(*) AS events, 0 AS alerts, 0 AS critical FROM d GROUP BY 1"
            " UNION ALL"
            " SELECT CAST(broker_ts AS DATE), 0, count(*), count(*) FILTER (severity = 'critical') FROM a GROUP BY 1"
            ") GROUP BY 1 ORDER BY 1 NULLS LAST").fetchall()
        return {
            "events": one_row(con, "SELECT count(*) FROM d")[0],
            "alerts": one_row(con, "SELECT count(*) FROM a")[0],
            "time_span": {"first_recv_ts": _iso(first), "last_recv_ts": _iso(last),
                          "first_broker_ts": _iso(first_broker), "last_broker_ts": _iso(last_broker)},
            "verdicts": _counts(con, "SELECT verdict, count(*) FROM d GROUP BY 1 ORDER BY 1"),
            "deciding_guards": _counts(con, "SELECT coalesce(guard, '-'), count(*) FROM d GROUP BY 1 ORDER BY 1"),
            "verdicts_by_guard": {
                f"{guard}/{verdict}": int(n) for guard, verdict, n in con.execute(
                    "SELECT coalesce(guard, '-'), verdict, count(*) FROM d WHERE verdict <> 'accept' "
                    "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()},
            "alert_kinds": _counts(con, "SELECT kind, count(*) FROM a GROUP BY 1 ORDER BY 1"),
            "alert_severities": _counts(con, "SELECT severity, count(*) FROM a GROUP BY 1 ORDER BY 1"),
            "alert_guards": _counts(con, "SELECT coalesce(guard, '-'), count(*) FROM a GROUP BY 1 ORDER BY 1"),
            "per_day": [{"day": day, "events": int(e), "alerts": int(a), "critical_alerts": int(c)} for day, e, a, c in days],
        }
    finally:
        con.close()
