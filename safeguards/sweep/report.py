"""The sweep report: variants against the gates, the Pareto front of recall against false alerts, the pick.

Read back from the sweep folder (``sweep.json`` and each run's done marker),
so the command's output and the notebook say the same thing, and a report of
an interrupted sweep shows what is done so far. Gates are recomputed from
each variant's evidence (both runs together), as promotion would.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..errors import UsageError
from ..gates import GateReport, gate_report
from ..policy import CompiledPolicy, compile_file
from .tasks import failure_file
from .run import PLAN, _done


@dataclass
class VariantRow:
    """One variant's line of the report: its settings, identity, figures and gates."""

    key: str
    settings: dict[str, str]
    identity: str
    policy_file: Path
    runs: dict[str, Path]  # dataset name -> run folder, for each finished run
    errors: dict[str, str]  # dataset name -> the error its backtest raised
    evidence: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, dict[str, int]] = field(default_factory=dict)  # dataset -> verdict counts
    gates: GateReport | None = None
    pareto: bool = False

    @property
    def complete(self) -> bool:
        return not self.errors and self.gates is not None and len(self.runs) == len(self.verdicts) > 0

    def metric(self, kind: str, name: str) -> Any:
        """``name`` from the run on ``kind`` data (labeled / clean), or None when there is none."""
        for document in self.evidence:
            if document["dataset"]["kind"] == kind:
                return document["metrics"].get(name)
        return None

    @property
    def recall(self) -> float | None:
        return self.metric("labeled", "recall")

    @property
    def recall_by_kind(self) -> dict[str, float]:
        return self.metric("labeled", "recall_by_fault_kind") or {}

    @property
    def false_alerts(self) -> int | None:
        """False alerts over every run that can tell them (every alert on a clean baseline is one)."""
        values = [d["metrics"].get("false_alerts") for d in self.evidence]
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    @property
    def clean_alerts(self) -> tuple[int | None, int | None]:
        """Alerts and critical alerts on the clean baseline."""
        return self.metric("clean", "alerts"), self.metric("clean", "critical_alerts")

    @property
    def blocks(self) -> int:
        return sum(counts.get("block", 0) for counts in self.verdicts.values())

    @property
    def passes(self) -> bool:
        """Every gate of the policy passed on this evidence (none failed, none left without evidence)."""
        return self.gates is not None and not self.errors and all(g.passed for g in self.gates.results)

    @property
    def failed_gates(self) -> list[str]:
        """The ids of the gates that did not pass (failed, or could not be judged on this evidence)."""
        return [gate for gate, status, _ in self.gates.rows() if status != "PASS"] if self.gates else []

    def describe(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.settings.items())

    @property
    def status(self) -> str:
        if self.errors:
            return "FAILED"
        if self.gates is None:
            return "not run"
        return self.gates.verdict.value


@dataclass
class SweepReport:
    """A sweep's variants, the Pareto front, the best passing variant and how to promote it."""

    out_dir: Path
    plan: dict[str, Any]
    rows: list[VariantRow]
    ran: int = 0
    skipped: int = 0
    cluster: str = ""
    seconds: float = 0.0

    @property
    def failed(self) -> list[VariantRow]:
        return [row for row in self.rows if row.errors]

    @property
    def best(self) -> VariantRow | None:
        """The passing variant with the highest recall, then the fewest false alerts, critical and blocks."""
        passing = [row for row in self.rows if row.passes]
        return min(passing, key=_rank) if passing else None

    @property
    def closest(self) -> VariantRow | None:
        """The best variant, or when none passes, the finished one with the fewest failed gates (then as best ranks)."""
        finished = [row for row in self.rows if row.complete]
        return self.best or (min(finished, key=lambda r: (len(r.failed_gates), *_rank(r))) if finished else None)

    @property
    def passing(self) -> list[VariantRow]:
        return [row for row in self.rows if row.passes]

    def promote_command(self, row: VariantRow) -> str:
        evidence = " ".join(f"--evidence {shlex.quote(str(folder))}" for folder in row.runs.values())
        return (f"safeguards promote {shlex.quote(str(row.policy_file))} {evidence} "
                "--by NAME --approved-by NAME --reason TEXT")

    def fault_kinds(self) -> list[str]:
        return sorted({kind for row in self.rows for kind in row.recall_by_kind})

    def table(self) -> list[dict[str, Any]]:
        """One dict per variant, in grid order: what the report's table shows."""
        out = []
        for row in self.rows:
            alerts, critical = row.clean_alerts
            line: dict[str, Any] = {"variant": row.key, **row.settings, "verdict": row.status,
                                    "gates not passed": (", ".join(row.failed_gates) or "none") if row.gates else None,
                                    "recall": row.recall, "false alerts": row.false_alerts,
                                    "alerts on clean": alerts, "critical on clean": critical, "blocks": row.blocks,
                                    "on the Pareto front": row.pareto}
            for kind in self.fault_kinds():
                line[f"recall {kind}"] = row.recall_by_kind.get(kind)
            out.append(line)
        return out

    def render(self, out: TextIO) -> None:
        """The report as the command prints it."""
        keys = list(self.plan["variants"][0]["settings"]) if self.plan["variants"] else []
        head = ["variant", *keys, "verdict", "recall", "false", "clean alerts", "critical", "blocks", "front"]
        lines = [head]
        for row in self.rows:
            alerts, critical = row.clean_alerts
            lines.append([row.key, *(row.settings[k] for k in keys), row.status, _num(row.recall),
                          _num(row.false_alerts), _num(alerts), _num(critical), f"{row.blocks:,}",
                          "*" if row.pareto else ""])
        widths = [max(len(str(line[i])) for line in lines) for i in range(len(head))]
        for line in lines:
            out.write("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip() + "\n")
        kinds = self.fault_kinds()
        weak = {k: [r.key for r in self.rows if r.recall_by_kind.get(k, 1.0) < 1.0] for k in kinds}
        missing = {k: v for k, v in weak.items() if v}
        if kinds:
            out.write(f"recall per fault kind ({len(kinds)} kinds): "
                      + ("every variant catches every kind\n" if not missing else
                         "; ".join(f"{k} below 1 in {', '.join(v)}" for k, v in missing.items()) + "\n"))
        for row in self.failed:
            for dataset, error in row.errors.items():
                out.write(f"FAILED {row.key} ({row.describe()}) on "
                          f"{dataset}: {error.splitlines()[0] if error else '?'} (all of it: "
                          f"{failure_file(self.out_dir / row.key / dataset)})\n")
        front = [row.key for row in self.rows if row.pareto]
        out.write(f"Pareto front (recall up, false alerts down): {', '.join(front) or '-'}\n")
        best = self.best
        if best is None:
            out.write("no variant passes every gate: none to promote\n")
        else:
            out.write(f"best passing variant: {best.key} {best.identity} "
                      f"({best.describe()})\n")
            out.write(f"to promote: {self.promote_command(best)}\n")
        out.write(f"sweep folder: {self.out_dir} (report: {self.out_dir / PLAN}, each variant's run folders)\n")


def _rank(row: VariantRow) -> tuple[Any, ...]:
    """How variants are preferred: recall (higher), then false alerts, critical alerts on clean data, blocks (fewer)."""
    return (-(row.recall or 0.0), row.false_alerts or 0, row.clean_alerts[1] or 0, row.blocks, row.key)


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else f"{value:,}"


def pareto_front(rows: list[VariantRow]) -> None:
    """Mark the variants no other beats on both recall (higher) and false alerts (fewer)."""
    scored = [r for r in rows if r.complete and r.recall is not None and r.false_alerts is not None]
    for row in scored:
        row.pareto = not any(
            other.recall >= row.recall and other.false_alerts <= row.false_alerts  # type: ignore[operator]
            and (other.recall > row.recall or other.false_alerts < row.false_alerts)  # type: ignore[operator]
            for other in scored)


def read_sweep(folder: str | Path, compiled: Mapping[str, CompiledPolicy] | None = None) -> SweepReport:
    """The report of the sweep in ``folder`` as far as it has run.

    ``compiled``: variants' policies already compiled (by key; the sweep that just
    ran them), used where the plan names the same identity and hash; any other variant's
    ``policy.yaml`` is compiled here for its gates.
    """
    out_dir = Path(folder)
    try:
        plan = json.loads((out_dir / PLAN).read_text("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{out_dir}: no {PLAN} here; is it a sweep folder (`safeguards sweep ... --out DIR`)?") from None
    except ValueError as error:
        raise UsageError(f"{out_dir / PLAN}: not readable JSON ({error}); run the sweep again") from None
    rows = []
    digests = {d["name"]: d["digest"] for d in plan["datasets"]}
    for entry in plan["variants"]:
        folder_of = out_dir / entry["key"]
        row = VariantRow(entry["key"], entry["settings"], entry["identity"], folder_of / "policy.yaml", {}, {})
        for name, digest in digests.items():
            run = folder_of / name
            done = _done(run, digest)
            if done is not None:
                row.runs[name] = run
                row.evidence.append(done["evidence"])
                row.verdicts[name] = done.get("verdicts", {})
            elif failure_file(run).is_file():
                row.errors[name] = failure_file(run).read_text("utf-8").strip()
        if len(row.runs) == len(digests):
            policy = (compiled or {}).get(entry["key"])
            if policy is None or (policy.identity, policy.hash) != (entry["identity"], entry["hash"]):
                policy = compile_file(row.policy_file)
            row.gates = gate_report(policy.identity, policy["promotion"]["gates"], row.evidence)
        rows.append(row)
    pareto_front(rows)
    return SweepReport(out_dir, plan, rows)
