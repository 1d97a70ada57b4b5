"""A shadow's candidate lane as promotion evidence: the traffic it decided, stored, digested and audited.

Promotion believes only what it can recompute (:mod:`.backtest.audit`): a run's
decisions and alerts against the event store they were made on. So the shadow
keeps what both versions decided, ``traffic.jsonl`` (each event as decided,
with the ``seq`` it was decided under, in arrival order; inputs that were no
event are not in it, and are the decisions ``invalid`` of no log), and when the
run ends loads it into ``other/events.duckdb`` through the same ingest as
``safeguards ingest``. The candidate's ``metrics.json`` is then written from the
audit's own recomputation, so a shadow folder is promotable exactly when the
audit accepts it, and one edited afterwards is refused like any run folder.

The data is ``live``: real traffic without labels. It backs the gates about
clean traffic (critical alerts, over at least a clean baseline's events and
broker time); gates that count labelled faults need a labeled backtest beside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .backtest.audit import EVIDENCE_FORMAT, METRICS_FILE, STORE_FILE, audit_run
from .backtest.source import Window, from_log
from .errors import SafeguardsError
from .gates import LIVE, gate_report
from .policy.compiled import CompiledPolicy
from .store.rows import one_row

TRAFFIC_FILE = "traffic.jsonl"  #: what both versions decided, in the shadow's folder
SOURCE = "live traffic (safeguards run --shadow)"
#: The log id the traffic has in its store: the only log of a fresh store.
TRAFFIC_LOG = 1


def traffic_line(event: dict[str, Any], raw: bytes, seq: int) -> bytes:
    """The event as it was decided: its bytes as received, under the ``seq`` it was decided with.

    ``seq``: the event's own, else its arrival number (the journal may have set it in ``event`` already).
    """
    if b'"seq"' not in raw:  # no seq in the text: it gets the number, the rest stays byte for byte
        return b'{"seq":%d,' % seq + raw.lstrip()[1:] + b"\n"  # an event is a non-empty JSON object: "{" then a key
    return json.dumps({**event, "seq": seq}, separators=(",", ":")).encode("utf-8") + b"\n"


def write_evidence(lane: Path, traffic: Path, candidate: CompiledPolicy, started_at: datetime,
                   live_identity: str) -> tuple[dict[str, Any] | None, str]:
    """Store the traffic beside the candidate's outputs and write its audited ``metrics.json``.

    Returns the evidence document, or None and why the folder is not evidence.
    """
    (lane / METRICS_FILE).unlink(missing_ok=True)
    if traffic.stat().st_size == 0:
        return None, "the shadow decided no event, so there is nothing to back a promotion"
    try:
        source = from_log(traffic, lane / STORE_FILE)
        try:
            logs = one_row(source.con, "SELECT count(*), min(ingest_id) FROM ingests")
            digest = source.digest
        finally:
            source.close()
        if tuple(logs) != (1, TRAFFIC_LOG):
            return None, f"{lane / STORE_FILE}: the traffic did not load as one log ({logs[0]} logs)"
        stated = _stated(candidate, digest, started_at, live_identity)
        audit = audit_run(lane, stated)
    except SafeguardsError as error:
        return None, f"the traffic and the candidate's decisions do not audit as evidence: {error}"
    document = audit.document(stated)
    gates = gate_report(candidate.identity, candidate["promotion"]["gates"], [document])
    document["gates"] = [{"id": g.gate_id, "passed": g.passed, "detail": g.detail} for g in gates.results]
    (lane / METRICS_FILE).write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    return document, (f"candidate's evidence: {lane / METRICS_FILE} ({document['metrics']['events']:,} events of "
                      f"live traffic; `safeguards promote` takes the folder as --evidence)")


def _stated(candidate: CompiledPolicy, digest: str, started_at: datetime, live_identity: str) -> dict[str, Any]:
    """The evidence document before the audit fills in its figures."""
    return {
        "evidence_format": EVIDENCE_FORMAT,
        "policy": {"identity": candidate.identity, "hash": candidate.hash, "name": candidate.name,
                   "version": candidate.version},
        "dataset": {"kind": LIVE, "source": SOURCE, "digest": digest, "labels": None,
                    "window": Window().describe()},
        "metrics": {},
        "run": {"id": f"shadow-{candidate.hash[:12]}-{digest[:12]}", "made_by": "safeguards run --shadow",
                "started_at": started_at.isoformat(), "ended_at": datetime.now(UTC).isoformat(),
                "beside": live_identity},
    }
