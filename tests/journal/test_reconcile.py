"""Start-up reconciliation with the broker's open orders: one example per finding and policy choice."""

from __future__ import annotations

import json
import subprocess
import sys

from safeguards import Engine
from safeguards.journal.journaled import JournaledEngine
from tests.eventkit import REFERENCE, policy_with, reference_policy
from tests.journal.test_journaled import copies, life_cycle


FINDINGS = ("orphan_order", "lost_intent", "state_mismatch")


def findings(alerts: list[dict]) -> list[dict]:
    """The reconciliation findings (escalation may follow them with halted/reducing alerts)."""
    return [a for a in alerts if a["kind"] in FINDINGS]


def engine_with(**recovery: str) -> Engine:
    base = dict(reference_policy().tables["intents"]["recovery"])
    base.update(recovery)
    return Engine(policy_with(intents={"required_before_submit": True, "recovery": base}))


def working(engine: Engine, order: str = "O1", upto: int = 3) -> None:
    for event in copies(life_cycle(order, f"G-{order}"))[:upto]:
        assert engine.process(event)["verdict"] == "accept"
    engine.pop_alerts()


def test_orphan_is_adopted_with_the_brokers_quantity():
    engine = engine_with(unknown_broker_orders="adopt")
    alerts = findings(engine.reconcile([{"order_id": "X9", "broker_order_id": "B9", "status": "partially_filled", "cum_qty": 3}]))
    assert [(a["kind"], a["severity"], a["order_id"]) for a in alerts] == [("orphan_order", "critical", "X9")]
    assert "adopted" in alerts[0]["detail"]
    order = engine.order("X9")
    assert order["adopted"] and order["state"] == "partially_filled" and order["cum_qty"] == 3


def test_orphan_alert_only_leaves_state_alone_and_cancel_asks_for_a_cancel():
    alerting = engine_with(unknown_broker_orders="alert")
    assert [a["kind"] for a in findings(alerting.reconcile([{"order_id": "X9", "status": "new", "cum_qty": 0}]))] == ["orphan_order"]
    assert alerting.order("X9") is None
    cancelling = engine_with(unknown_broker_orders="cancel")
    (alert, *_) = findings(cancelling.reconcile([{"order_id": "X9", "status": "new", "cum_qty": 0}]))
    assert "cancel it" in alert["detail"] and cancelling.order("X9")["adopted"]


def test_lost_intent_is_marked_failed_and_never_resubmitted():
    engine = engine_with(unacknowledged_intents="mark_failed")
    working(engine, "O1", upto=2)  # intent + submit, never acknowledged
    alerts = findings(engine.reconcile([]))
    assert [(a["kind"], a["severity"], a["order_id"]) for a in alerts][:1] == [("lost_intent", "critical", "O1")]
    assert engine.order("O1")["state"] == "rejected"
    recorded_only = engine_with(unacknowledged_intents="mark_failed")
    working(recorded_only, "O2", upto=1)  # intent only: the submit would be a silent resubmission
    recorded_only.reconcile([])
    resubmit = copies(life_cycle("O2", "G-O2"))[1]
    decision = recorded_only.process(resubmit)
    assert decision["verdict"] == "block" and decision["rule"] == "lost_intent_failed"


def test_lost_intent_alert_only_keeps_the_order_open():
    engine = engine_with(unacknowledged_intents="alert")
    working(engine, "O1", upto=2)
    assert [a["kind"] for a in findings(engine.reconcile([]))][:1] == ["lost_intent"]
    assert engine.order("O1")["state"] == "pending_new"


def test_quantity_mismatch_adopts_the_brokers_figure_or_only_alerts():
    for choice, expected in (("adopt_broker", 6), ("alert", 0)):
        engine = engine_with(quantity_mismatch=choice)
        working(engine, "O1", upto=3)  # acknowledged, cum_qty 0
        alerts = findings(engine.reconcile([{"order_id": "O1", "broker_order_id": "B1", "status": "partially_filled", "cum_qty": 6}]))
        assert [(a["kind"], a["severity"]) for a in alerts] == [("state_mismatch", "warning")]
        assert engine.order("O1")["cum_qty"] == expected


def test_acknowledged_order_missing_from_the_brokers_list_is_a_mismatch():
    engine = engine_with()
    working(engine, "O1", upto=3)
    assert [a["kind"] for a in findings(engine.reconcile([]))] == ["state_mismatch"]


def test_reconciliation_is_journaled_and_replayed(tmp_path):
    folder = tmp_path / "j"
    with JournaledEngine(REFERENCE, folder) as journaled:
        journaled.submit(copies(life_cycle()[:2]))
        journaled.answered()
        alerts = findings(journaled.reconcile([{"order_id": "X9", "status": "new", "cum_qty": 0}]))
        assert sorted(a["kind"] for a in alerts) == ["lost_intent", "orphan_order"]
        journaled.answered()
    with JournaledEngine(REFERENCE, folder) as again:
        assert again.engine.order("O1")["state"] == "rejected" and again.engine.order("X9")["adopted"]
        assert again.recovery.unanswered == []


def test_run_reports_findings_on_stdout_and_in_the_journal(tmp_path):
    folder, broker = tmp_path / "j", tmp_path / "open.jsonl"
    broker.write_text(json.dumps({"order_id": "X9", "broker_order_id": "B9", "status": "new", "cum_qty": 0}) + "\n")
    lines = "".join(json.dumps(e) + "\n" for e in life_cycle()[:2])
    command = [sys.executable, "-m", "safeguards", "run", "--policy", str(REFERENCE), "--journal", str(folder)]
    assert subprocess.run(command, input=lines, capture_output=True, text=True, timeout=60).returncode == 0
    done = subprocess.run([*command, "--broker-open-orders", str(broker)], input="", capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = sorted(a["kind"] for a in findings([json.loads(line) for line in done.stdout.splitlines()]))
    assert kinds == ["lost_intent", "orphan_order"]
    journal_text = "".join(path.read_text() for path in sorted(folder.rglob("segment-*.jsonl")))
    assert '"type":"reconcile"' in journal_text
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{nope\n")
    refused = subprocess.run([*command, "--broker-open-orders", str(bad)], input="", capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "bad.jsonl:1" in refused.stderr
