"""Promotion gates: does a backtest's evidence show what the policy demands before production?

A gate names a metric, a bound (`at_least`, `at_most`) and the kind of data it
must be shown on (`labeled` simulated faults, a `clean` baseline, or `any`).
Gates are recomputed from the metrics every time; a stored "passed" flag is
never trusted.

A shadow's evidence is ``live`` traffic: real, and without labels. It serves
the gates on clean (or any) data whose metric needs no labels (critical alerts,
alerts, invalid events: the candidate's behaviour on the day's traffic), held to
the same minimum as a clean baseline; gates that count labelled faults need a
labeled run beside it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


#: The least evidence a gate is judged on (the desk's minimum; less proves nothing, whatever the gate says):
#: labeled data with every fault kind the simulator injects, each this many times ...
MIN_LABELED_PER_FAULT_KIND = 5
#: ... and a clean baseline of this many events over this much broker time.
MIN_CLEAN_EVENTS = 10_000
MIN_CLEAN_SPAN_NS = 60_000_000_000
#: The kind of evidence a shadow makes (``safeguards run --shadow``): live traffic, unlabeled.
LIVE = "live"
#: The metrics measured without labels: the only ones live traffic can show.
LABEL_FREE_METRICS = frozenset({"events", "alerts", "critical_alerts", "invalid_events"})
SHADOW_TO_RUN = ("let the shadow see more of the day (`safeguards run --follow runtime/NAME --shadow CANDIDATE "
                 "--shadow-out DIR` until its end), or give a clean baseline")
WHAT_TO_RUN = ("run `safeguards notebook run backtest -p events LOG -p baseline CLEAN_LOG` on longer logs "
                "(`safeguards simulate --events 100000 -o day.jsonl` writes one with every fault kind)")


@dataclass(frozen=True)
class GateResult:
    """One gate checked against the evidence: passed or not, and what was seen."""

    gate_id: str
    passed: bool
    detail: str
    #: False when no run could measure the gate's metric (e.g. a false-alert rate on unlabeled history):
    #: not a pass (promotion still refuses it), but not a failure of the run either.
    measured: bool = True

    def render(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL' if self.measured else 'n/a'} {self.gate_id}: {self.detail}"


def _bounds_text(gate: Mapping[str, Any]) -> str:
    parts = []
    if gate["at_least"] is not None:
        parts.append(f">= {gate['at_least']:g}")
    if gate["at_most"] is not None:
        parts.append(f"<= {gate['at_most']:g}")
    return " and ".join(parts)


def _within(value: float, gate: Mapping[str, Any]) -> bool:
    low, high = gate["at_least"], gate["at_most"]
    return (low is None or value >= low) and (high is None or value <= high)


def _observations(gate: Mapping[str, Any], metrics: Mapping[str, Any]) -> list[tuple[str, float | None]]:
    """The values this gate reads from one run's metrics, labelled for the report."""
    metric = gate["metric"]
    if metric == "recall" and gate["per_fault_kind"]:
        by_kind = metrics.get("recall_by_fault_kind") or {}
        if not by_kind:
            return [("recall per fault kind", None)]
        return [(f"recall[{kind}]", value) for kind, value in sorted(by_kind.items())]
    return [(metric, metrics.get(metric))]


def reads(gate: Mapping[str, Any], run: Mapping[str, Any]) -> bool:
    """Whether ``run`` is evidence for ``gate``: of the data it asks for, or live traffic where labels are not needed."""
    wanted, kind = gate["dataset"], run["dataset"]["kind"]
    if kind == LIVE:
        return wanted in ("clean", "any") and gate["metric"] in LABEL_FREE_METRICS
    return wanted == "any" or kind == wanted


def evaluate_gates(gates: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]) -> list[GateResult]:
    """Check every gate against every run of the dataset kind it asks for.

    `runs` are evidence documents (`metrics.json`): each has `dataset.kind` and
    `metrics`. A gate with no run of its kind fails: absence of evidence is not a pass.
    """
    results = []
    for gate in gates:
        wanted = gate["dataset"]
        relevant = [run for run in runs if reads(gate, run)]
        bound = _bounds_text(gate)
        if not relevant:
            if wanted == "any" and any(run["dataset"]["kind"] == LIVE for run in runs):
                results.append(GateResult(gate["id"], False, f"{gate['metric']} cannot be measured on live traffic "
                                                             "(it has no labels); needs a labeled run", measured=False))
            else:
                also = " (a clean baseline, or a shadow's live traffic)" if wanted == "clean" else ""
                results.append(GateResult(gate["id"], False, f"needs evidence on {wanted} data{also}; none was given"))
            continue
        failures, unmeasured, seen = [], [], []
        for run in relevant:
            source = run["dataset"].get("source") or run["dataset"]["kind"]
            for label, value in _observations(gate, run["metrics"]):
                if value is None:
                    unmeasured.append(f"{label} cannot be measured on {source}")
                elif not _within(float(value), gate):
                    failures.append(f"{label} = {value:g} on {source}, needs {bound}")
                else:
                    seen.append(f"{label} = {value:g}")
        if unmeasured and not failures and not seen:
            results.append(GateResult(gate["id"], False, "; ".join(unmeasured), measured=False))
        elif failures or unmeasured:
            results.append(GateResult(gate["id"], False, "; ".join(failures + unmeasured)))
        else:
            results.append(GateResult(gate["id"], True, f"{', '.join(seen)} ({bound})"))
    return results


class Verdict(enum.Enum):
    """What a set of evidence says of a policy, as a report's banner shows it."""

    PASS = "PASS"
    FAIL = "FAIL"
    NOT_ENOUGH_EVIDENCE = "NOT ENOUGH EVIDENCE"


@dataclass(frozen=True)
class GateReport:
    """One policy's gates on a set of evidence: each result, which the evidence could speak to, and the verdict.

    A gate applies when a run of the data it asks for is in the evidence; a gate
    that does not apply, or could not be measured, is neither a pass nor a failure.
    """

    identity: str
    results: tuple[GateResult, ...]
    wanted: Mapping[str, str]  # gate id -> the kind of data it asks for
    kinds: frozenset[str]  # the kinds of data in the evidence
    shortfalls: Mapping[str, str] = field(default_factory=dict)  # gate id -> what its evidence lacks
    served: frozenset[str] = frozenset()  # the gates some run of the evidence speaks to (see :func:`reads`)

    def applies(self, result: GateResult) -> bool:
        return self.wanted.get(result.gate_id) == "any" or result.gate_id in self.served

    @property
    def failed(self) -> list[GateResult]:
        """Gates measured on the data they ask for, and failed: what makes a run exit 1."""
        return [g for g in self.results if self.applies(g) and g.measured and not g.passed]

    @property
    def verdict(self) -> Verdict:
        if self.failed:
            return Verdict.FAIL
        if all(g.passed for g in self.results) and not self.shortfalls:
            return Verdict.PASS
        return Verdict.NOT_ENOUGH_EVIDENCE

    def rows(self) -> list[tuple[str, str, str]]:
        """(gate, PASS / FAIL / n/a, what was seen or what data it needs), one per gate."""
        rows = []
        for g in self.results:
            if not self.applies(g):
                rows.append((g.gate_id, "n/a", f"needs a run on {self.wanted.get(g.gate_id)} data"))
            elif g.passed and g.gate_id in self.shortfalls:
                rows.append((g.gate_id, "n/a", f"not enough evidence: {self.shortfalls[g.gate_id]}"))
            else:
                rows.append((g.gate_id, "PASS" if g.passed else "FAIL" if g.measured else "n/a", g.detail))
        return rows

    def lines(self) -> list[str]:
        return [f"{status} {gate}: {detail}" for gate, status, detail in self.rows()]


def gate_report(identity: str, gates: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]) -> GateReport:
    """Evaluate ``gates`` (a policy's ``promotion.gates``) on evidence documents ``runs``."""
    shortfalls = {gate["id"]: lack for gate in gates if (lack := shortfall(gate, runs)) is not None}
    return GateReport(identity, tuple(evaluate_gates(gates, runs)), {g["id"]: g["dataset"] for g in gates},
                      frozenset(run["dataset"]["kind"] for run in runs), shortfalls,
                      frozenset(g["id"] for g in gates if any(reads(g, run) for run in runs)))


def backing(gates: Sequence[Mapping[str, Any]], runs: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    """For each gate, the positions in ``runs`` of the evidence it was judged on: what the registry records."""
    return {gate["id"]: [i for i, run in enumerate(runs) if reads(gate, run)] for gate in gates}


def shortfall(gate: dict[str, Any], documents: Sequence[dict[str, Any]]) -> str | None:
    """What the evidence lacks for ``gate`` to mean something, or None when it is enough."""
    from .simulator.faults import NAMES  # here: the simulator package costs 1.5 s to import, most commands need none of it

    wanted = gate["dataset"]
    runs = [d for d in documents if reads(gate, d)]
    undigested = [d["dataset"].get("source", "?") for d in runs if not _is_digest(d["dataset"].get("digest"))]
    if undigested:
        return f"no digest of the data for {', '.join(undigested)}"
    labeled = [d for d in runs if d["dataset"]["kind"] == "labeled"]
    clean = [d for d in runs if d["dataset"]["kind"] in ("clean", LIVE)]
    if wanted == "labeled" or (wanted == "any" and labeled):
        counts: dict[str, int] = {}
        for document in labeled:
            for kind, n in (document["metrics"].get("injected_by_fault_kind") or {}).items():
                counts[kind] = counts.get(kind, 0) + int(n)
        thin = [f"{kind} ({counts.get(kind, 0)})" for kind in NAMES if counts.get(kind, 0) < MIN_LABELED_PER_FAULT_KIND]
        if thin:
            return (f"every fault kind needs {MIN_LABELED_PER_FAULT_KIND} labelled instances; "
                    f"{len(thin)} of {len(NAMES)} have fewer: {', '.join(thin)}")
    if wanted == "clean" or (wanted == "any" and clean and not labeled):
        if not any(_long_enough(d) for d in clean):
            seen = ", ".join(f"{d['dataset'].get('source')}: {d['metrics'].get('events', 0):,} events over "
                             f"{(d['dataset'].get('broker_span_ns') or 0) / 1e9:g}s" for d in clean) or "none"
            if clean and all(d["dataset"]["kind"] == LIVE for d in clean):
                return (f"a shadow's live traffic needs {MIN_CLEAN_EVENTS:,} events over {MIN_CLEAN_SPAN_NS / 1e9:g}s "
                        f"of broker time, as a clean baseline does ({seen}): {SHADOW_TO_RUN}")
            return (f"a clean baseline needs {MIN_CLEAN_EVENTS:,} events over {MIN_CLEAN_SPAN_NS / 1e9:g}s of "
                    f"broker time ({seen})")
    return None


def _long_enough(document: dict[str, Any]) -> bool:
    return ((document["metrics"].get("events") or 0) >= MIN_CLEAN_EVENTS
            and (document["dataset"].get("broker_span_ns") or 0) >= MIN_CLEAN_SPAN_NS)


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)
