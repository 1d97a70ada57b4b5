"""Writing decisions and alerts as they are made, in chunks, so memory stays flat.

Each batch becomes one small Parquet part (polars, column lists, no pyarrow);
at the end DuckDB merges the parts into ``decisions.parquet`` and
``alerts.parquet`` in one ``COPY`` and, when the run has an event store, inserts
them into its ``decisions`` and ``alerts`` tables (migration 3) under the run id.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

DECISION_COLUMNS: dict[str, pl.DataType] = {
    "seq": pl.Int64, "event_id": pl.Utf8, "order_id": pl.Utf8, "group_id": pl.Utf8, "verdict": pl.Utf8,
    "guard": pl.Utf8, "rule": pl.Utf8, "reason": pl.Utf8, "policy": pl.Utf8,
    "type": pl.Utf8, "account": pl.Utf8, "recv_ts": pl.Int64, "broker_ts": pl.Int64,
}
ALERT_COLUMNS: dict[str, pl.DataType] = {
    "kind": pl.Utf8, "severity": pl.Utf8, "guard": pl.Utf8, "seq": pl.Int64, "order_id": pl.Utf8,
    "group_id": pl.Utf8, "broker_ts": pl.Utf8, "detail": pl.Utf8, "policy": pl.Utf8,
}
_DECISION_KEYS = ("seq", "event_id", "order_id", "group_id", "verdict", "guard", "rule", "reason")
_EVENT_KEYS = ("type", "account", "recv_ts", "broker_ts")
_ALERT_KEYS = ("kind", "severity", "guard", "seq", "order_id", "group_id", "broker_ts", "detail")

#: SQL turning the parts' raw columns into the stored types (nanosecond timestamps).
DECISIONS_SELECT = (
    "SELECT seq, event_id, order_id, group_id, verdict, guard, rule, reason, policy, type, account, "
    "make_timestamp_ns(recv_ts) AS recv_ts, make_timestamp_ns(broker_ts) AS broker_ts FROM read_parquet({files})"
)
ALERTS_SELECT = (
    "SELECT kind, severity, guard, seq, order_id, group_id, CAST(broker_ts AS TIMESTAMP_NS) AS broker_ts, "
    "detail, policy FROM read_parquet({files})"
)


def sql_text(path: Path) -> str:
    """A path as a SQL string literal (quotes doubled), for DuckDB statements that take no parameters."""
    return "'" + path.as_posix().replace("'", "''") + "'"


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)


class RunWriter:
    """Decisions and alerts of one policy's replay, appended per batch, merged on :meth:`finish`."""

    def __init__(self, out_dir: Path, policy_identity: str) -> None:
        self.out_dir = out_dir
        self.policy = policy_identity
        self.parts = out_dir / ".parts"
        shutil.rmtree(self.parts, ignore_errors=True)
        self.parts.mkdir(parents=True)
        self.decision_parts: list[Path] = []
        self.alert_parts: list[Path] = []

    def write(self, events: list[dict[str, Any]], decisions: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> None:
        path = self.parts / f"decisions-{len(self.decision_parts):06d}.parquet"
        try:
            frame = pl.DataFrame(self._columns(events, decisions, clean=False), schema=DECISION_COLUMNS)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            # a malformed event may carry anything in these fields; store what can be stored
            frame = pl.DataFrame(self._columns(events, decisions, clean=True), schema=DECISION_COLUMNS)
        frame.write_parquet(path, compression="lz4")
        self.decision_parts.append(path)
        if alerts:
            rows = {key: [_text(a.get(key)) if key != "seq" else a.get(key) for a in alerts] for key in _ALERT_KEYS}
            rows["policy"] = [self.policy] * len(alerts)
            path = self.parts / f"alerts-{len(self.alert_parts):06d}.parquet"
            pl.DataFrame(rows, schema=ALERT_COLUMNS).write_parquet(path)
            self.alert_parts.append(path)

    def _columns(self, events: list[dict[str, Any]], decisions: list[dict[str, Any]], clean: bool) -> dict[str, list[Any]]:
        """Column lists; ``clean`` coerces odd values (texts to str, timestamps to int or null) first."""
        columns: dict[str, list[Any]] = {key: [d[key] for d in decisions] for key in _DECISION_KEYS}
        columns["policy"] = [self.policy] * len(decisions)
        for key in _EVENT_KEYS:
            columns[key] = [e.get(key) for e in events]
        columns["account"] = [a if a is not None else "default" for a in columns["account"]]
        if clean:
            for key in ("type", "account", "event_id", "order_id", "group_id"):
                columns[key] = [_text(v) for v in columns[key]]
            for key in ("recv_ts", "broker_ts"):
                columns[key] = [v if type(v) is int else None for v in columns[key]]
        return columns

    def _empty_part(self, name: str, schema: dict[str, pl.DataType]) -> Path:
        path = self.parts / f"{name}-empty.parquet"
        pl.DataFrame(schema=schema).write_parquet(path)
        return path

    def finish(self, con: duckdb.DuckDBPyConnection, run_id: str | None) -> tuple[Path, Path]:
        """Merge the parts into DIR's Parquet files (and the store's tables when ``run_id``); drop the parts."""
        decision_parts = self.decision_parts or [self._empty_part("decisions", DECISION_COLUMNS)]
        alert_parts = self.alert_parts or [self._empty_part("alerts", ALERT_COLUMNS)]
        outputs = []
        for name, parts, select in (("decisions", decision_parts, DECISIONS_SELECT), ("alerts", alert_parts, ALERTS_SELECT)):
            files = "[" + ", ".join(sql_text(p) for p in parts) + "]"
            query = select.format(files=files)
            target = self.out_dir / f"{name}.parquet"
            con.execute(f"COPY ({query}) TO {sql_text(target)} (FORMAT PARQUET, COMPRESSION ZSTD)")
            if run_id is not None:
                con.execute(f"INSERT INTO {name} SELECT ? AS run_id, * FROM ({query})", [run_id])
            outputs.append(target)
        shutil.rmtree(self.parts, ignore_errors=True)
        return outputs[0], outputs[1]

    def discard(self) -> None:
        shutil.rmtree(self.parts, ignore_errors=True)
