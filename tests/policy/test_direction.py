"""Each kind of change is judged by what it does to the desk: more let through is a loosening."""

import pytest

from safeguards.policy.diff import Change
from safeguards.policy.direction import Direction, judge
from safeguards.policy.durations import Span

T, L, N = Direction.TIGHTENING, Direction.LOOSENING, Direction.NEUTRAL


@pytest.mark.parametrize(
    ("change", "direction"),
    [
        (Change("hedging.max_depth", 2, 3), L),
        (Change("hedging.liquidity_fraction", 0.5, 0.25), T),
        (Change("clock.timeouts.ack", Span(5_000_000_000), Span(None)), L),  # no timeout at all
        (Change("clock.timeouts.fill", Span(None), Span(30_000_000_000)), T),
        (Change("idempotency.window", Span(86_400_000_000_000), Span(7_200_000_000_000)), L),
        (Change("escalation[reduce_on_clock_skew].clear_after", Span(120_000_000_000), Span(None)), T),
        (Change("severities.orphan_order", "critical", "warning"), L),
        (Change("ordering.on_violation.action", "reject", "apply"), L),
        (Change("escalation[halt_on_orphan].scope", "group", "all"), T),
        (Change("escalation[halt_on_orphan].min_severity", None, "critical"), L),
        (Change("escalation[halt_on_orphan]", "rule", None), L),
        (Change("escalation[halt_on_orphan].alerts", None, "lost_intent"), T),
        (Change("idempotency.key", None, "symbol"), L),
        (Change("intents.required_before_submit", True, False), L),
        (Change("promotion.gates[detects_every_fault_kind].at_least", 0.99, 0.0), L),
        (Change("promotion.gates[detects_every_fault_kind].at_least", None, 0.5), T),
        (Change("promotion.gates[no_critical_alerts_on_clean_traffic].at_most", 0.0, 100_000.0), L),
        (Change("promotion.gates[few_false_alerts]", None, "rule"), T),
        (Change("promotion.gates[few_false_alerts].metric", "false_alert_rate", "alerts"), L),
        (Change("ordering.transitions new -> expired", None, "expires"), L),
        (Change("ordering.transitions new -> expired", "expires", None), T),
        (Change("ordering.transitions new -> expired", "expires", "ends"), N),
        (Change("metadata.version", 1, 2), N),
    ],
    ids=lambda value: value.where if isinstance(value, Change) else value.value,
)
def test_judge(change, direction):
    assert judge(change) is direction
