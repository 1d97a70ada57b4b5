"""Tables the validation notebooks show, computed from a run folder and its event store.

Kept here (not in the notebooks) so a notebook is a page of calls, and the
numbers it shows are tested code. Every function returns a polars DataFrame.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from ..policy import CompiledPolicy


@contextmanager
def _store(db: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def _frame(con: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    """A query's rows as a polars frame (through Python rows: no pyarrow needed; these tables are small)."""
    cursor = con.execute(query)
    names = [column[0] for column in cursor.description]
    return pl.DataFrame(cursor.fetchall(), schema=names, orient="row", infer_schema_length=None)


def decisions(run: str | Path) -> pl.DataFrame:
    return pl.read_parquet(Path(run) / "decisions.parquet")


def alerts(run: str | Path) -> pl.DataFrame:
    return pl.read_parquet(Path(run) / "alerts.parquet")


def verdict_mix(run: str | Path) -> pl.DataFrame:
    """Events per verdict and deciding guard, with each verdict's share of all events."""
    frame = decisions(run).group_by("verdict", "guard").len("events").sort("events", descending=True)
    return frame.with_columns((pl.col("events") / pl.col("events").sum()).round(5).alias("share"))


_BUCKETS = (("1s", 1), ("10s", 10), ("1m", 60), ("10m", 600), ("1h", 3600), ("1d", 86400))


def alerts_over_time(run: str | Path, every: str | None = None) -> pl.DataFrame:
    """Alerts per time bucket (broker time) and kind, one column per kind; every bucket of the span, empty ones as 0.

    ``every`` (a polars duration such as ``"10s"``) defaults to the smallest of
    1s, 10s, 1m, 10m, 1h, 1d that gives at most 60 buckets over the run.
    """
    frame = alerts(run).drop_nulls("broker_ts")
    if frame.is_empty():
        return pl.DataFrame({"bucket": []})
    if every is None:
        span = frame.select((pl.col("broker_ts").max() - pl.col("broker_ts").min()).dt.total_seconds()).item()
        every = next((name for name, seconds in _BUCKETS if span / seconds <= 60), "1d")
    counts = (frame.with_columns(pl.col("broker_ts").dt.truncate(every).alias("bucket"))
              .group_by("bucket", "kind").len("alerts"))
    table = counts.pivot(on="kind", index="bucket", values="alerts")
    kind = table.schema["bucket"]
    buckets = pl.datetime_range(table["bucket"].min(), table["bucket"].max(), every, eager=True,
                                time_unit=getattr(kind, "time_unit", None), time_zone=getattr(kind, "time_zone", None))
    # Every bucket of the span, those without alerts too: a chart's time axis stays even.
    return pl.DataFrame({"bucket": buckets}).join(table, on="bucket", how="left").fill_null(0).sort("bucket")


def time_to_ack(db: str | Path) -> pl.DataFrame:
    """Per order: local time from our submit to the broker's first answer (ms), and the answer."""
    with _store(db) as con:
        return _frame(con, """
            WITH submits AS (
                SELECT account, order_id, min(recv_ts) AS submitted FROM events WHERE type = 'submit' GROUP BY ALL),
            answers AS (
                SELECT account, order_id, arg_min(type, recv_ts) AS first_answer, min(recv_ts) AS answered
                FROM events WHERE source = 'broker' GROUP BY ALL)
            SELECT s.account, s.order_id, a.first_answer,
                   date_diff('microsecond', s.submitted, a.answered) / 1000.0 AS ack_ms
            FROM submits s LEFT JOIN answers a USING (account, order_id)
            ORDER BY ack_ms DESC NULLS FIRST""")


def hedge_depths(db: str | Path) -> pl.DataFrame:
    """Each hedge intent's depth (1 + its parent's when the parent is itself a hedge), and its group."""
    with _store(db) as con:
        return _frame(con, """
            WITH RECURSIVE intents AS (
                SELECT account, order_id, group_id, role, parent_id FROM events WHERE type = 'intent'),
            depth(account, order_id, group_id, depth) AS (
                SELECT h.account, h.order_id, h.group_id, 1 FROM intents h
                WHERE h.role = 'hedge' AND NOT EXISTS (
                    SELECT 1 FROM intents p WHERE p.account = h.account AND p.order_id = h.parent_id AND p.role = 'hedge')
                UNION ALL
                SELECT h.account, h.order_id, h.group_id, d.depth + 1 FROM intents h
                JOIN depth d ON h.account = d.account AND h.parent_id = d.order_id WHERE h.role = 'hedge')
            SELECT account, order_id, group_id, max(depth) AS depth FROM depth GROUP BY ALL ORDER BY depth DESC, order_id
        """)


def clock_skew(db: str | Path, policy: CompiledPolicy) -> pl.DataFrame:
    """Per broker/market event: skew (recv - broker, ms), its departure from the recent minimum, the tolerance.

    The recent minimum over the policy's offset window approximates the
    engine's offset estimate, so ``departure_ms > tolerance_ms`` is where
    ``clock_skew`` alerts are expected.
    """
    clock = policy.tables["clock"]
    window_us = clock["offset_window_ns"] // 1000
    with _store(db) as con:
        frame = _frame(con, f"""
            SELECT seq, account, type, broker_ts,
                   date_diff('microsecond', broker_ts, recv_ts) / 1000.0 AS skew_ms,
                   skew_ms - min(skew_ms) OVER (PARTITION BY account ORDER BY broker_ts
                       RANGE BETWEEN INTERVAL {window_us} MICROSECOND PRECEDING AND CURRENT ROW) AS departure_ms
            FROM events WHERE broker_ts IS NOT NULL ORDER BY seq""")
    return frame.with_columns(pl.lit(clock["max_skew_ns"] / 1e6).alias("tolerance_ms"))


def scoring_table(run: str | Path) -> pl.DataFrame:
    """Per fault kind: injected, detected, missed, recall (empty without labels)."""
    path = Path(run) / "scoring.json"
    if not path.is_file():
        return pl.DataFrame()
    rows = [{"fault": kind, **row, "recall": row["detected"] / row["injected"] if row["injected"] else None}
            for kind, row in json.loads(path.read_text("utf-8"))["by_fault_kind"].items()]
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def listed(run: str | Path, what: str) -> pl.DataFrame:
    """``missed`` labels or ``false_alerts`` from scoring.json, as a table."""
    path = Path(run) / "scoring.json"
    rows: list[dict[str, Any]] = json.loads(path.read_text("utf-8"))[what] if path.is_file() else []
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame()


def worst_incidents(run: str | Path, limit: int = 10) -> pl.DataFrame:
    """Groups (or orders) with the most critical alerts, then most alerts: where a person should look first."""
    frame = alerts(run)
    if frame.is_empty():
        return frame
    scope = pl.coalesce("group_id", "order_id").alias("scope")
    return (frame.with_columns(scope).group_by("scope")
            .agg(pl.len().alias("alerts"), (pl.col("severity") == "critical").sum().alias("critical"),
                 pl.col("kind").unique().sort().str.join(", ").alias("kinds"),
                 pl.col("broker_ts").min().alias("first"), pl.col("seq").min().alias("first_seq"))
            .sort(["critical", "alerts", "first_seq"], descending=[True, True, False]).head(limit))
