"""Reports show tables for people and the verdict first; the code stays in the executed notebook."""

from datetime import datetime

import polars as pl

from safeguards.gates import gate_report
from safeguards.notebook.html import render_html
from safeguards.notebook.present import banner, key_figures, table

GATES = [{"id": "catches", "metric": "recall", "per_fault_kind": False, "dataset": "labeled", "at_least": 0.9, "at_most": None},
         {"id": "quiet", "metric": "critical_alerts", "per_fault_kind": False, "dataset": "clean", "at_least": None, "at_most": 0}]


def run(kind, **metrics):
    """Evidence enough to judge a gate on: every fault kind 5 times, or 10,000 clean events over 60 s."""
    from safeguards.simulator.faults import NAMES

    metrics.setdefault("events", 10_000)
    if kind == "labeled":
        metrics.setdefault("injected_by_fault_kind", dict.fromkeys(NAMES, 5))
    return {"dataset": {"kind": kind, "source": f"{kind}.jsonl", "digest": "0" * 64, "broker_span_ns": 60 * 10**9},
            "metrics": metrics}


def test_a_table_has_no_dtypes_shape_or_quotes_and_separates_thousands():
    frame = pl.DataFrame({"kind": ["orphan_order"], "alerts": [12345], "share": [0.25],
                          "at": [datetime(2026, 2, 21, 14, 30, 0, 1000)]})
    shown = table(frame, "alerts by kind", percent=["share"])
    page = shown._repr_html_()
    assert "<caption>alerts by kind</caption>" in page and "shape" not in page and "str" not in page
    assert "12,345" in page and "25.00%" in page and "2026-02-21 14:30:00.001" in page and '"' not in page
    assert repr(shown).splitlines()[1].split() == ["kind", "alerts", "share", "at"]
    assert "none" in table(frame.clear(), "missed faults")._repr_html_()


def test_the_verdict_is_pass_fail_or_not_enough_evidence():
    passing = gate_report("p@1", GATES, [run("labeled", recall=1.0), run("clean", critical_alerts=0)])
    failing = gate_report("p@1", GATES, [run("labeled", recall=0.5)])
    partial = gate_report("p@1", GATES, [run("labeled", recall=1.0)])
    assert [r.verdict.value for r in (passing, failing, partial)] == ["PASS", "FAIL", "NOT ENOUGH EVIDENCE"]
    assert partial.rows()[1] == ("quiet", "n/a", "needs a run on clean data")
    assert [g.gate_id for g in failing.failed] == ["catches"]
    thin = gate_report("p@1", GATES, [run("labeled", recall=1.0, injected_by_fault_kind={"duplicate": 9}),
                                      run("clean", critical_alerts=0)])
    assert thin.verdict.value == "NOT ENOUGH EVIDENCE" and not thin.failed
    assert thin.rows()[0][1] == "n/a" and "13 of 14 have fewer" in thin.rows()[0][2]


def test_the_page_opens_with_the_banner_and_shows_no_code():
    gates = gate_report("p@1", GATES, [run("labeled", recall=0.5)])
    notebook = {"cells": [
        {"cell_type": "markdown", "source": "# A backtest"},
        {"cell_type": "code", "source": "policy = 'x'", "metadata": {"tags": ["parameters"]}, "outputs": []},
        {"cell_type": "code", "source": "import polars", "metadata": {}, "outputs": [
            {"output_type": "stream", "text": "3 notes"}]},
        {"cell_type": "code", "source": "banner(...)", "metadata": {"tags": ["banner"]}, "outputs": [
            {"output_type": "execute_result", "data": {
                "text/html": banner(("policy", gates, key_figures({"events": 1200, "alerts": 3, "critical_alerts": 1,
                                                                   "recall": 0.5, "false_alerts": 0})))._repr_html_()}}]},
    ]}
    page = render_html(notebook, "backtest: p@1")
    assert page.index("data-verdict='FAIL'") < page.index("A backtest") < page.index("3 notes")
    assert "import polars" not in page and "policy = 'x'" not in page
    assert "1,200" in page and "50.0%" in page and "FAIL catches" in page
