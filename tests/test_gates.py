from safeguards.gates import evaluate_gates


def gate(id, metric, *, at_least=None, at_most=None, dataset="any", per_fault_kind=False):
    return {"id": id, "metric": metric, "at_least": at_least, "at_most": at_most, "dataset": dataset,
            "per_fault_kind": per_fault_kind, "description": ""}


def run(kind, **metrics):
    return {"dataset": {"kind": kind, "source": f"{kind}.duckdb"}, "metrics": metrics}


def test_bounds_both_ways():
    gates = [gate("recall", "recall", at_least=0.9), gate("quiet", "false_alert_rate", at_most=0.01)]
    good = evaluate_gates(gates, [run("labeled", recall=0.95, false_alert_rate=0.0)])
    assert [r.passed for r in good] == [True, True]
    bad = evaluate_gates(gates, [run("labeled", recall=0.5, false_alert_rate=0.2)])
    assert [r.passed for r in bad] == [False, False]
    assert "recall = 0.5 on labeled.duckdb, needs >= 0.9" in bad[0].detail


def test_per_fault_kind_names_the_weak_kind():
    [result] = evaluate_gates([gate("each", "recall", at_least=0.99, per_fault_kind=True)],
                              [run("labeled", recall=0.995, recall_by_fault_kind={"duplicate": 1.0, "clock_skew": 0.8})])
    assert not result.passed
    assert "recall[clock_skew] = 0.8" in result.detail and "duplicate" not in result.detail


def test_gate_without_evidence_of_its_kind_fails():
    [result] = evaluate_gates([gate("clean", "critical_alerts", at_most=0, dataset="clean")], [run("labeled", critical_alerts=0)])
    assert not result.passed and "needs evidence on clean data" in result.detail


def test_unmeasurable_metric_fails():
    [result] = evaluate_gates([gate("recall", "recall", at_least=0.9)], [run("clean", recall=None)])
    assert not result.passed and "cannot be measured" in result.detail


def test_every_matching_run_must_pass():
    runs = [run("clean", critical_alerts=0), run("clean", critical_alerts=3)]
    [result] = evaluate_gates([gate("clean", "critical_alerts", at_most=0, dataset="clean")], runs)
    assert not result.passed
