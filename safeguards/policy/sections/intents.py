"""The intents guard's section: an intent before every submit, and what start-up reconciliation does."""

from __future__ import annotations

from typing import Any

from ..wording import duration
from .section import AlertDefault, Section


def compile_section(intents: dict[str, Any]) -> dict[str, Any]:
    return {"required_before_submit": bool(intents["required_before_submit"]), "recovery": dict(intents["recovery"])}


def explain(tables: dict[str, Any]) -> list[str]:
    i, clock, sev = tables["intents"], tables["clock"], tables["severities"]
    r = i["recovery"]
    unknown = {"alert": "are reported", "adopt": "are reported and adopted into our state", "cancel": "are reported and their cancel is requested"}
    unacked = {"mark_failed": "are marked failed (never resubmitted silently)", "alert": "are reported"}
    mismatch = {"adopt_broker": "the broker's figure is adopted and an alert raised", "alert": "an alert is raised"}
    return [
        "ORDER INTENTS (intents)",
        "  Every order must have its intent recorded before it is submitted; a submit without one is blocked."
        if i["required_before_submit"] else "  Submitting without a recorded intent is allowed (not recommended).",
        f"  A broker event for an order we never recorded raises a {sev['orphan_order']} orphan-order alert.",
        f"  An intent not acknowledged within {duration(clock['timeouts_ns']['ack'])} of broker time raises an ack-timeout alert.",
        f"  On start-up, orders the broker has that we never recorded {unknown[r['unknown_broker_orders']]}; "
        f"intents the broker never saw {unacked[r['unacknowledged_intents']]}; where quantities disagree, {mismatch[r['quantity_mismatch']]}.",
    ]


#: The alert kinds this guard raises, with their default severities.
ALERTS = (
    AlertDefault("orphan_order", "critical"),
    AlertDefault("submit_without_intent", "critical"),
    AlertDefault("ack_timeout", "warning"),
    AlertDefault("cancel_timeout", "warning"),
    AlertDefault("fill_timeout", "warning"),
    AlertDefault("lost_intent", "critical"),
    AlertDefault("state_mismatch", "warning"),
    AlertDefault("replace_timeout", "warning"),
)

SECTION = Section("intents", compile_section, explain, alerts=ALERTS)
