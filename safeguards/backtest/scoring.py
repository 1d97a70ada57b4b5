"""Scoring a backtest against the simulator's labels, and the evidence metrics promotion reads.

The matching rules live in :mod:`safeguards.simulator.scoring` (one scorer for
the whole package); this module feeds it without holding every decision: only
the decisions of labelled events are kept, and alerts (rare next to events).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import UsageError
from .batch import SharedBatch

if TYPE_CHECKING:
    from ..simulator.scoring import Score

# The simulator (and the polars it writes with) is imported only when labels are used: a backtest of a store needs neither.

LABELED, CLEAN, UNLABELED = "labeled", "clean", "unlabeled"
#: A decision's keys, in the engine's order (:data:`~.sink.DECISIONS_SCHEMA` adds the event's type, account, times).
DECISION_KEYS = ("seq", "event_id", "order_id", "group_id", "verdict", "guard", "rule", "reason", "policy")


_REFUSED = pa.array(["block", "reject"])


def _rows(decisions: pa.RecordBatch) -> list[dict[str, Any]]:
    return decisions.select(list(DECISION_KEYS)).to_pylist()


def _seq_set(seqs: set[Any]) -> pa.Array | None:
    """The labels' seqs as an Arrow set for ``is_in``; None when some are not 64-bit integers."""
    if not all(type(seq) is int for seq in seqs):
        return None
    try:
        return pa.array(sorted(seqs), pa.int64())
    except (pa.ArrowInvalid, OverflowError):
        return None


def find_labels(events: Path) -> Path | None:
    """The labels the simulator writes beside ``events`` (``OUT.labels.jsonl``/``.parquet``), if present."""
    from ..simulator.writer import labels_path

    candidate = labels_path(events)
    return candidate if candidate.is_file() else None


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    from ..simulator.labels import COLUMNS

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"--labels {path}: no such file")
    try:
        if path.suffix == ".parquet":
            import polars as pl  # only here: the backtest itself does not need polars

            rows = pl.read_parquet(path).to_dicts()
        else:
            with open(path, encoding="utf-8") as lines:
                rows = [json.loads(line) for line in lines if line.strip()]
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same advice
        raise UsageError(f"--labels {path}: cannot be read as labels ({error}); give the file `safeguards simulate` wrote") from None
    for number, row in enumerate(rows, start=1):
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise UsageError(f"--labels {path}: label {number} lacks {', '.join(missing)}; not a simulator labels file")
    return rows


def labelled_log(con: duckdb.DuckDBPyConnection, labels: list[dict[str, Any]], path: str | Path) -> int:
    """The store's log (ingest id) the labels were written for: the one holding the most labelled events.

    A label names its event by ``seq``, a position within one log, and ``event_id``.
    In a store of several logs the seqs repeat, so only the pair, looked up in each
    log, tells which log the labels score; matched by seq alone, they would score
    other logs' events. Labels that match no log, or two logs equally, are refused.
    """
    logs = [row[0] for row in con.execute("SELECT ingest_id FROM ingests ORDER BY ingest_id").fetchall()]
    pairs = [(label["seq"], label["event_id"]) for label in labels
             if type(label["seq"]) is int and isinstance(label["event_id"], str)]
    if not pairs and len(logs) == 1:
        return logs[0]
    if not pairs:
        raise UsageError(f"--labels {path}: no label names an event, so which of the store's {len(logs)} logs "
                         f"they belong to cannot be told; backtest the labelled log alone (--events LOG)")
    view = "safeguards_label_pairs"
    con.register(view, pa.table({"seq": pa.array([seq for seq, _ in pairs], pa.int64()),
                                 "event_id": pa.array([event_id for _, event_id in pairs], pa.string())}))
    try:
        found = con.execute(f"SELECT e.ingest_id, count(*) AS n FROM events AS e JOIN {view} AS l "
                            f"ON e.seq = l.seq AND e.event_id = l.event_id GROUP BY 1 ORDER BY n DESC, 1").fetchall()
    finally:
        con.unregister(view)
    if not found:
        raise UsageError(f"--labels {path}: none of its {len(pairs):,} labelled events is in the store; "
                         f"give the labels `safeguards simulate` wrote beside the log you ingested")
    if len(found) > 1 and found[0][1] == found[1][1]:
        raise UsageError(f"--labels {path}: logs {found[0][0]} and {found[1][0]} of the store hold its labelled "
                         f"events equally (the same run ingested twice?); backtest the labelled log alone (--events LOG)")
    return int(found[0][0])


class LabelTracker:
    """Keeps what scoring needs while the replay streams past: labelled decisions and the log's alerts.

    A batch's decisions arrive as Arrow (:func:`~.sink.decisions_batch`): the
    labelled events are picked out by ``seq`` in one vectorised pass, and only
    their decisions become dicts (with the keys and values of the engine's own).

    In a store of several logs, ``log`` is the labels' own (see :func:`labelled_log`):
    only its events are looked at, and only alerts about its orders and groups (judged
    at the end, so the result does not depend on how the replay was batched). An
    alert is raised at the event being decided, and a timer (an ack timeout) fires at
    whichever log's event moves broker time past it, so the log an alert was raised
    in does not say whose order it is about; only alerts about no order or group
    (clock skew, say) count by the log they were raised in.
    """

    def __init__(self, labels: list[dict[str, Any]], log: int | None = None) -> None:
        self.labels = labels
        self.log = log
        self.wanted = {label["seq"] for label in labels if label["seq"] is not None}
        self._wanted = _seq_set(self.wanted)
        self.decisions: dict[int, dict[str, Any]] = {}
        self.alerts: list[dict[str, Any]] = []
        self.orders: set[str] = set()  # of the labels' log, when there are several
        self.groups: set[str] = set()
        self.blocked: set[tuple[Any, Any]] = set()  # (order, group) whose intent this run blocked or rejected

    def observe(self, decisions: pa.RecordBatch, alerts: list[dict[str, Any]], shared: SharedBatch | None = None) -> None:
        """Keep what scoring needs of a batch's decisions; ``shared``: the batch's masks made once for every lane.

        Which rows are the labels' log, intents or labelled depends on the events
        alone, so lanes deciding the same batch share those masks (the verdicts are each lane's own).
        """
        def mask(key: Any, column: pa.Array, make: Any) -> Any:
            return make(column) if shared is None else shared.mask(key, column, make)

        if self.log is not None:  # other logs' events and alerts are not what the labels describe
            log = pa.scalar(self.log, pa.int32())
            mine = mask(("log", self.log), decisions.column("ingest_id"), lambda c: pc.equal(c, log))
            if mine.true_count < len(decisions):
                decisions = decisions.filter(mine)
            self.orders.update(pc.unique(decisions.column("order_id")).to_pylist())
            self.groups.update(pc.unique(decisions.column("group_id")).to_pylist())
        self.alerts.extend(alerts)
        intents = mask("intent", decisions.column("type"), lambda c: pc.equal(c, "intent"))
        refused = pc.and_(intents, pc.is_in(decisions.column("verdict"), value_set=_REFUSED))
        if refused.true_count:
            picked = decisions.filter(refused)
            self.blocked.update(zip(picked.column("order_id").to_pylist(), picked.column("group_id").to_pylist()))
        if self._wanted is None:
            for row in _rows(decisions):  # labels whose seq Arrow cannot hold: compare in Python
                if row["seq"] in self.wanted:
                    self.decisions[row["seq"]] = row
            return
        if not len(self._wanted):
            return
        wanted = self._wanted
        labelled = mask(("labelled", id(self.labels)), decisions.column("seq"),
                        lambda c: pc.is_in(c, value_set=wanted))
        if labelled.true_count:
            for row in _rows(decisions.filter(labelled)):
                self.decisions[row["seq"]] = row

    def _about_labelled_log(self, alert: dict[str, Any]) -> bool:
        if alert["order_id"] is not None:
            return alert["order_id"] in self.orders
        if alert["group_id"] is not None:
            return alert["group_id"] in self.groups
        return alert.get("ingest_id") == self.log

    def score(self) -> Score:
        """Score the labels whose event was replayed (a time or account filter leaves others out)."""
        from ..simulator.scoring import score

        replayed = [label for label in self.labels if label["seq"] in self.decisions]
        alerts = self.alerts if self.log is None else [a for a in self.alerts if self._about_labelled_log(a)]
        return score(replayed, self.decisions, alerts, self.blocked)


def dataset_kind(result: Score | None) -> str:
    if result is None:
        return UNLABELED
    return LABELED if sum(result.labelled.values()) else CLEAN


def metrics(events: int, alerts: int, critical: int, invalid: int, result: Score | None) -> dict[str, Any]:
    """The ``metrics`` object of the evidence contract (promotion reads it; gates recompute from it)."""
    body: dict[str, Any] = {
        "events": events, "alerts": alerts, "critical_alerts": critical, "invalid_events": invalid,
        "injected_faults": None, "detected_faults": None, "missed_faults": None,
        "false_alerts": None, "false_alert_rate": None, "recall": None, "recall_by_fault_kind": {},
        "injected_by_fault_kind": {},
    }
    if result is None:
        return body
    injected, detected = sum(result.labelled.values()), sum(result.detected.values())
    false_alerts = len(result.unexplained)
    body.update(
        injected_faults=injected, detected_faults=detected, missed_faults=injected - detected,
        false_alerts=false_alerts, false_alert_rate=false_alerts / events if events else None,
        recall=detected / injected if injected else None,
        recall_by_fault_kind={kind: result.detected[kind] / n for kind, n in sorted(result.labelled.items())},
        injected_by_fault_kind=dict(sorted(result.labelled.items())),
    )
    return body


def assumptions(kinds: list[str], tables: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each labelled kind built against a policy limit: the limit the labels assume, and this policy's value."""
    from ..simulator.faults import BY_NAME

    found = {}
    for kind in kinds:
        assumed = BY_NAME[kind].assumes if kind in BY_NAME else None
        if assumed is None:
            continue
        path, value = assumed
        here: Any = tables
        for part in path.split("."):
            here = here.get(part) if isinstance(here, dict) else None
        found[kind] = {"limit": path.replace("_ns", ""), "labels_assume": value, "this_policy": here,
                       "same": here == value}
    return found


def scoring_document(result: Score, tables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Per fault kind injected / detected / missed, and the missed labels and false alerts listed.

    ``tables``: the scored policy's, to say which labels assume a limit it sets otherwise.
    """
    kinds = sorted(result.labelled)
    return {
        "assumptions": assumptions(kinds, tables) if tables is not None else {},
        "by_fault_kind": {
            kind: {"injected": result.labelled[kind], "detected": result.detected[kind],
                   "missed": result.labelled[kind] - result.detected[kind],
                   "detected_otherwise": result.otherwise[kind]}
            for kind in kinds
        },
        "detection_rule": ("a fault is caught when its labelled verdict and alert are seen, or when any safeguard "
                           "acted on it otherwise (the event not accepted, an alert raised at it, escalation included)"),
        "alerts_after_block": result.after_block,
        "false_alerts_by_kind": dict(sorted(Counter(a["kind"] for a in result.unexplained).items())),
        "missed": [label for kind in kinds for label in result.missed.get(kind, [])],
        "false_alerts": result.unexplained,
    }
