"""The reference engine on simulated logs: silent on clean traffic, and it finds each labelled fault."""

from __future__ import annotations

import pytest

from safeguards.simulator import NAMES
from safeguards.simulator.scoring import score

MIN_RECALL = 0.99


def test_clean_traffic_raises_no_alert(clean_run):
    decisions, alerts = clean_run.engine_run
    assert len(decisions) == len(clean_run.events) > 50_000
    assert alerts == []
    assert {d["verdict"] for d in decisions.values()} == {"accept"}  # the broker's own pending_new is accepted too


@pytest.mark.parametrize("fault", NAMES)
def test_engine_detects_each_labelled_fault(faulty_run, fault):
    decisions, alerts = faulty_run.engine_run
    result = score(faulty_run.labels, decisions, alerts)
    assert result.labelled[fault] >= 10
    assert result.recall(fault) >= MIN_RECALL, result.missed[fault][:3]


def test_every_alert_on_the_faulty_log_is_explained_by_a_label(faulty_run):
    decisions, alerts = faulty_run.engine_run
    assert score(faulty_run.labels, decisions, alerts).unexplained == []
