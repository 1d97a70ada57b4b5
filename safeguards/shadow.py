"""Shadow mode: decide live traffic under a candidate version beside the live one, without enforcing it.

The paper-trading step of a rollout: ``safeguards run --shadow CANDIDATE
--shadow-out DIR`` answers every line under the live policy exactly as
without ``--shadow``, and also decides it under the candidate, after the live
answer is written (the live path does not wait for the candidate). The
candidate starts from the live engine's state carried across
(:func:`safeguards.swap.carry`) when the two versions are compatible, so it
sees the day as production does; otherwise it starts empty and the summary
says so. It is advanced with the same broker time.

``DIR`` is laid out as ``safeguards backtest --compare`` lays out its run
folder: the live version's ``decisions.parquet``, ``alerts.parquet`` and
``summary.json`` in ``DIR``, the candidate's in ``DIR/other/``, and what
differs in ``DIR/comparison.json``, ``verdict_changes.parquet`` and
``alert_changes.parquet`` (:mod:`safeguards.backtest.compare`), with each
version's compiled policy (``policy.json``). Rows are written in Parquet parts
as they accumulate (``DIR/.shadow-parts``), merged when the run ends (end of
input or SIGTERM). :func:`read_shadow` reads the folder back as a compare
run, for the compare notebook (``-p shadow DIR``).

The folder is also evidence (:mod:`.shadow_evidence`): ``DIR/traffic.jsonl``
holds every event both versions decided, loaded at the end into
``DIR/other/events.duckdb``, and the candidate's ``other/metrics.json`` is the
audit's recomputation from those. Live traffic carries no labels, so it is
``live`` evidence: it backs the gates about clean traffic; gates that count
labelled faults need a labeled backtest beside it (``promote --evidence``
both).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .backtest.audit import EVIDENCE_FORMAT, METRICS_FILE, file_sha256
from .backtest.compare import Comparison, Parts, render, why_nothing_differs
from .backtest.replay import OTHER_DIR, BacktestResult, open_run_folder
from .backtest.scoring import metrics
from .gates import LIVE, gate_report
from .backtest.sink import ALERT_COLUMNS, DECISIONS_SCHEMA
from .backtest.summary import summarize
from .core import Engine
from .errors import EventError, RegistryError, UsageError
from .events import DEFAULT_ACCOUNT, parse_timestamp
from .journal.journaled import Answer, Line
from .policy import load_policy
from .policy.compiled import CompiledPolicy
from .registry import Registry
from .shadow_evidence import SOURCE, TRAFFIC_FILE, TRAFFIC_LOG, traffic_line, write_evidence
from .swap import Incompatible, carry

_FLUSH = 8192  # rows per lane kept in memory before a part is written


def load_candidate(text: str) -> CompiledPolicy:
    """``runtime/NAME@VERSION`` (a promoted version, verified like production loads it) or a policy file."""
    folder, at, version = text.rpartition("@")
    if at and version.isdigit() and Path(folder).is_dir():
        path = Path(folder)
        registry = Registry(path.parent, path.name)
        try:
            return registry.load(int(version))
        except RegistryError as error:
            raise UsageError(f"--shadow {text}: {error}") from None
    return load_policy(text)


class _Lane:
    """One version's rows: decisions and alerts, in Parquet parts under the run folder."""

    def __init__(self, folder: Path, scratch: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.decisions = Parts(scratch, f"{folder.name}-decisions", DECISIONS_SCHEMA, _FLUSH)
        self.alerts = Parts(scratch, f"{folder.name}-alerts", _ALERT_SCHEMA, _FLUSH)

    def add(self, rows: list[dict[str, Any]], alerts: list[dict[str, Any]], policy: str) -> None:
        for row in rows:
            self.decisions.add(row)
        for alert in alerts:
            self.alerts.add({**{name: alert.get(name) for name in _ALERT_KEYS}, "broker_ts": _ns(alert.get("broker_ts")),
                             "policy": policy, "ingest_id": None})

    def finish(self, con: duckdb.DuckDBPyConnection) -> tuple[Path, Path]:
        decisions, alerts = self.folder / "decisions.parquet", self.folder / "alerts.parquet"
        self.decisions.merge(con, decisions, "seq")
        self.alerts.merge(con, alerts, "seq, kind")
        return decisions, alerts


_ALERT_KEYS = ("kind", "severity", "guard", "seq", "order_id", "group_id", "detail")
_ALERT_SCHEMA = pa.schema([field if field.name != "broker_ts" else pa.field("broker_ts", pa.timestamp("ns"))
                           for field in ALERT_COLUMNS])


class Shadow:
    """The candidate engine beside the live one, and the run folder their decisions go to."""

    def __init__(self, candidate: CompiledPolicy, live: Engine, out: str | Path) -> None:
        self.out = Path(out)
        open_run_folder(self.out)
        (self.out / OTHER_DIR).mkdir(exist_ok=True)
        self.candidate = candidate
        self.live_policy = live.policy
        try:
            self.engine = carry(live, candidate)
            self.started = f"from the live engine's state ({live.arrivals:,} inputs)"
        except Incompatible as error:
            self.engine = Engine(candidate)
            self.started = f"empty: the live state cannot be carried across ({error})"
        self.scratch = self.out / ".shadow-parts"
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir()
        self.live = _Lane(self.out, self.scratch)
        self.other = _Lane(self.out / OTHER_DIR, self.scratch)
        self.comparison = Comparison(self.out, live.identity, candidate.identity)
        self.started_at = datetime.now(UTC)
        self.traffic_path = self.out / TRAFFIC_FILE
        self.traffic = open(self.traffic_path, "wb")  # the events both versions decided: the evidence's data
        self.stored = 0

    def describe(self) -> str:
        return f"shadow {self.candidate.identity} beside the live version, started {self.started}; decisions to {self.out}"

    def observe(self, inputs: list[Line | tuple[str, str]], answers: list[Answer]) -> None:
        """The live answers of a batch; the candidate decides the same inputs (with the live arrival numbers)."""
        engine = self.engine
        live_rows, other_rows, live_alerts, other_alerts, traffic = [], [], [], [], []
        for item, (decision, alerts) in zip(inputs, answers):
            event = item[0] if type(item) is Line else None
            log = None
            if event is not None:
                if decision["verdict"] != "invalid":  # an event the store can hold (the screen is the same everywhere)
                    seq = event.get("seq")
                    traffic.append(traffic_line(event, item[1], seq if seq is not None else decision["seq"]))
                    log = TRAFFIC_LOG
                if event.get("seq") is None:  # numbered by arrival: the live number, whatever the candidate counts
                    event = {**event, "seq": decision["seq"]}
                theirs = engine.process(event)
            else:
                theirs = engine.invalid(None, decision["reason"])
                theirs["seq"] = decision["seq"]
            live_rows.append(_row(event, decision, log))
            other_rows.append(_row(event, theirs, log))
            live_alerts += alerts
            other_alerts += engine.pop_alerts()
        self.traffic.write(b"".join(traffic))
        self.stored += len(traffic)
        self._add(live_rows, other_rows, live_alerts, other_alerts)

    def advance(self, now: int, live_alerts: list[dict[str, Any]]) -> None:
        """Broker time moved on while the input was quiet: the candidate's timeouts fire too."""
        self._add([], [], live_alerts, self.engine.advance(now))

    def _add(self, live_rows: list[dict[str, Any]], other_rows: list[dict[str, Any]],
             live_alerts: list[dict[str, Any]], other_alerts: list[dict[str, Any]]) -> None:
        live_policy = live_rows[0]["policy"] if live_rows else self.comparison.policy_a
        self.live.add(live_rows, live_alerts, live_policy)
        self.other.add(other_rows, other_alerts, self.candidate.identity)
        self.comparison.observe(pa.RecordBatch.from_pylist(live_rows, schema=DECISIONS_SCHEMA),
                                pa.RecordBatch.from_pylist(other_rows, schema=DECISIONS_SCHEMA),
                                [{**a, "ingest_id": None} for a in live_alerts],
                                [{**a, "ingest_id": None} for a in other_alerts])

    def finish(self) -> str:
        """Merge the parts, write both summaries, the comparison and the candidate's evidence; what differs, in words."""
        self.traffic.close()
        digest = file_sha256(self.traffic_path)
        con = duckdb.connect()
        try:
            paths = [lane.finish(con) for lane in (self.live, self.other)]
            summaries = []
            for (decisions, alerts), lane, policy in zip(paths, (self.live, self.other),
                                                         (self.live_policy, self.candidate)):
                policy.write(lane.folder / POLICY_FILE)
                summary = {"policy": {"identity": policy.identity, "hash": policy.hash, "name": policy.name,
                                      "version": policy.version},
                           "data": {"source": SOURCE, "kind": LIVE, "digest": digest, "traffic": TRAFFIC_FILE,
                                    "events_stored": self.stored},
                           "shadow": {"enforced": lane is self.live, "candidate_started": self.started},
                           **summarize(decisions, alerts)}
                (lane.folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
                summaries.append(summary)
            span = summaries[0]["time_span"]
            span_ns = (parse_timestamp(span["last_broker_ts"]) - parse_timestamp(span["first_broker_ts"])
                       if span["first_broker_ts"] and span["last_broker_ts"] else None)
            document = self.comparison.finish(con, why_nothing_differs(self.live_policy, self.candidate, span_ns))
        finally:
            con.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
        evidence, said = write_evidence(self.other.folder, self.traffic_path, self.candidate, self.started_at,
                                        self.live_policy.identity)
        if evidence is None:
            _note(self.other.folder, said)
        verdict = said if evidence is not None else f"the folder is not evidence: {said}"
        return f"{render(document).rstrip()}\nshadow: {verdict}"


POLICY_FILE = "policy.json"  #: each version's compiled policy, beside its decisions


def _note(lane: Path, why: str) -> None:
    """Say in the candidate's summary why the folder holds no evidence (promote points there)."""
    path = lane / "summary.json"
    summary = json.loads(path.read_text("utf-8"))
    summary["evidence"] = {"written": False, "why": why}
    path.write_text(json.dumps(summary, indent=2) + "\n", "utf-8")


def read_shadow(folder: str | Path, into: str | Path) -> BacktestResult:
    """A shadow run folder as a compare run in `into` (the live version's result, the candidate's as ``.other``).

    The outputs are copied, and each version gets the evidence document a
    backtest writes (``metrics.json``), counted from its own outputs, of an
    ``unlabeled`` dataset: the live traffic, by the digest of its lines.
    """
    source, target = Path(folder), Path(into)
    if not (source / "comparison.json").is_file() or not (source / OTHER_DIR / POLICY_FILE).is_file():
        raise UsageError(f"{source}: not a shadow run folder (no comparison.json and other/{POLICY_FILE}); give the "
                         "--shadow-out folder of a finished `safeguards run --shadow`")
    if source.resolve() != target.resolve():
        shutil.copytree(source, target, dirs_exist_ok=True)
    results = []
    for lane in (target, target / OTHER_DIR):
        policy = load_policy(lane / POLICY_FILE)
        summary = json.loads((lane / "summary.json").read_text("utf-8"))
        if lane != target and (lane / METRICS_FILE).is_file():  # the candidate's audited evidence, as written
            evidence = json.loads((lane / METRICS_FILE).read_text("utf-8"))
        else:
            evidence = _counted(policy, summary)
        gates = gate_report(policy.identity, policy["promotion"]["gates"], [evidence])
        evidence["gates"] = [{"id": g.gate_id, "passed": g.passed, "detail": g.detail} for g in gates.results]
        if lane == target:  # the live version's: for the report, never promotion evidence (that is other/)
            (lane / METRICS_FILE).write_text(json.dumps(evidence, indent=2) + "\n", "utf-8")
        results.append(BacktestResult(lane, evidence["run"]["id"], summary, evidence, gates))
    live, candidate = results
    live.comparison = json.loads((target / "comparison.json").read_text("utf-8"))
    live.other = candidate
    return live


def _counted(policy: CompiledPolicy, summary: dict[str, Any]) -> dict[str, Any]:
    """A lane's evidence document counted from its summary, as the audit counts the candidate's (for the report)."""
    span = summary["time_span"]
    span_ns = (parse_timestamp(span["last_broker_ts"]) - parse_timestamp(span["first_broker_ts"])
               if span["first_broker_ts"] and span["last_broker_ts"] else None)
    data = summary["data"]
    events = data.get("events_stored", summary["events"])  # inputs that were no event count as invalid, not events
    body = metrics(events, summary["alerts"], summary["alert_severities"].get("critical", 0),
                   summary["verdicts"].get("invalid", 0), None)
    dataset = {"kind": data.get("kind", LIVE), "source": SOURCE, "digest": data["digest"], "events": events,
               "broker_span_ns": span_ns, "labels": None, "window": None}
    return {"evidence_format": EVIDENCE_FORMAT,
            "policy": {"identity": policy.identity, "hash": policy.hash, "name": policy.name, "version": policy.version},
            "dataset": dataset, "metrics": body,
            "run": {"id": f"shadow-{policy.hash[:12]}-{data['digest'][:12]}", "made_by": "safeguards run --shadow",
                    "read_at": datetime.now(UTC).isoformat()}}


def _ns(value: Any) -> int | None:
    if value is None:
        return None
    try:
        stamp = parse_timestamp(value)
    except EventError:  # a malformed event's timestamp: the row keeps the event, without a time
        return None
    return stamp if -(1 << 63) <= stamp < 1 << 63 else None


def _row(event: dict[str, Any] | None, decision: dict[str, Any], log: int | None) -> dict[str, Any]:
    """A decision as a row of the backtest's decisions table: the decision and the event's type, account, times.

    ``log``: the event's log in the traffic's store, or None for an input the store does not hold.
    """
    event = event or {}
    account = event.get("account")
    return {
        "seq": decision.get("seq"), "event_id": _text(decision.get("event_id")),
        "order_id": _text(decision.get("order_id")), "group_id": _text(decision.get("group_id")),
        "verdict": decision["verdict"], "guard": decision.get("guard"), "rule": decision.get("rule"),
        "reason": decision.get("reason"), "policy": decision.get("policy"), "type": _text(event.get("type")),
        "account": account if isinstance(account, str) else (DEFAULT_ACCOUNT if event else None),
        "recv_ts": _ns(event.get("recv_ts")), "broker_ts": _ns(event.get("broker_ts")), "ingest_id": log,
    }


def _text(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else str(value)
