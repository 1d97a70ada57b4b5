"""Promotion: only a policy proved on history reaches `runtime/`, and exactly the one that was proved.

Evidence is a run folder (from `safeguards notebook run` or `safeguards
backtest`) holding `metrics.json` beside the run's decisions, alerts, labels
and data. Its figures are not taken on trust: they are recomputed from those
outputs (:mod:`.backtest.audit`), and evidence whose summary differs is refused.
Promotion refuses unless every evidence run
was produced by this exact policy hash and every gate passes on it; then the
compiled policy and a signed registry entry (who, when, why, evidence digest)
are written under the runtime root.

The bar is the desk's, not the author's: once a version is in production, its
gates apply to every candidate as well as the candidate's own, and a candidate
that loosens anything production enforces (a limit, a gate, a rule; see
:mod:`.policy.direction`) needs a second person (``approved_by``, not the
author), with the loosening recorded in the registry beside both names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backtest.audit import EVIDENCE_FORMAT, METRICS_FILE, audit_run, file_sha256
from .errors import EvidenceError, PromotionRefused, RegistryError
from .gates import LIVE, WHAT_TO_RUN, GateResult, backing, gate_report
from .policy.compiled import CompiledPolicy
from .policy.diff import diff_policies
from .policy.direction import Direction, judge
from .registry import Registry
from .shadow_evidence import TRAFFIC_FILE
from .signing import Signer



@dataclass(frozen=True)
class Evidence:
    """One run folder: its metrics document and the digest of everything in it."""

    folder: Path
    document: dict[str, Any]
    digest: str


def evidence_digest(folder: Path) -> str:
    """sha256 over every file's relative path and content, in path order: any change to the run changes it."""
    outer = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        outer.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0")
        outer.update(hashlib.sha256(path.read_bytes()).digest())
    return outer.hexdigest()


#: Where a shadow run folder keeps the candidate's evidence (its ``other/`` lane; see :mod:`.shadow`).
SHADOW_LANE, SHADOW_MARK = "other", "comparison.json"


def read_evidence(folder: str | Path) -> Evidence:
    """A run folder's evidence, recomputed from its outputs; a shadow folder's is its candidate's lane (``other/``)."""
    root = Path(folder)
    folder = root
    if not (root / METRICS_FILE).is_file() and (root / SHADOW_MARK).is_file() and (root / SHADOW_LANE).is_dir():
        folder = root / SHADOW_LANE
        if not (folder / METRICS_FILE).is_file():
            raise EvidenceError(f"{root}: a shadow run folder without the candidate's evidence ({folder / METRICS_FILE}); "
                                "the shadow says on stderr and in other/summary.json why it wrote none: run the shadow "
                                "again with this release")
    metrics_path = folder / METRICS_FILE
    if not metrics_path.is_file():
        raise EvidenceError(f"{folder}: no {METRICS_FILE}; evidence is a run folder made by `safeguards notebook run`, "
                            "`safeguards backtest` or `safeguards run --shadow` (its --shadow-out folder)")
    try:
        document = json.loads(metrics_path.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvidenceError(f"{metrics_path}: not valid JSON ({error})") from None
    problems = _shape_problems(document)
    if problems:
        raise EvidenceError(f"{metrics_path}: not an evidence document: {'; '.join(problems)}")
    digest = evidence_digest(root)  # a shadow's whole folder: both versions' outputs and the traffic
    audit = audit_run(folder, document)
    if audit.differences:
        raise EvidenceError(f"{metrics_path}: does not match the run's own decisions, alerts, labels and data:\n"
                            + "\n".join(f"  {difference}" for difference in audit.differences)
                            + "\nthe evidence was changed after its run; re-run the backtest or notebook to make it again")
    traffic = root / TRAFFIC_FILE
    if folder != root and traffic.is_file() and file_sha256(traffic) != audit.dataset["digest"]:
        raise EvidenceError(f"{traffic}: not the traffic the shadow stored in {folder / 'events.duckdb'} (its sha256 "
                            "differs); the folder was changed after its run: run the shadow again")
    return Evidence(root, audit.document(document), digest)


def _shape_problems(document: Any) -> list[str]:
    if not isinstance(document, dict):
        return ["expected a JSON object"]
    problems = []
    if document.get("evidence_format") != EVIDENCE_FORMAT:
        problems.append(f"evidence_format is {document.get('evidence_format')!r}, this release reads {EVIDENCE_FORMAT}")
    if not isinstance(document.get("policy"), dict) or not isinstance(document["policy"].get("hash"), str):
        problems.append("policy.hash missing")
    if not isinstance(document.get("dataset"), dict) or document["dataset"].get("kind") not in ("labeled", "clean", LIVE, "unlabeled"):
        problems.append(f"dataset.kind must be labeled, clean, {LIVE} or unlabeled")
    if not isinstance(document.get("metrics"), dict):
        problems.append("metrics missing")
    else:
        problems += _metric_problems(document["metrics"])
    return problems


def _metric_problems(metrics: dict[str, Any]) -> list[str]:
    """Gates compare and print metrics as numbers: each is a number, null, or an object of those (per fault kind)."""
    problems = []
    for name, value in metrics.items():
        values = value.items() if isinstance(value, dict) else [(None, value)]
        for part, item in values:
            if item is not None and (type(item) is bool or not isinstance(item, (int, float))):
                where = f"metrics.{name}" + (f".{part}" if part is not None else "")
                problems.append(f"{where} is {item!r}, not a number")
    return problems


def check_evidence(policy: CompiledPolicy, evidence: Sequence[Evidence],
                   bar: CompiledPolicy | None = None) -> list[GateResult]:
    """Refuse evidence from another policy; return every gate's result (passed or not).

    ``bar``: the policy in production, whose gates the evidence must pass too (as ``production:<id>``).
    """
    if not evidence:
        raise EvidenceError("no evidence given: pass --evidence RUN_DIR (a labeled run, and a clean baseline if a gate asks for one)")
    for item in evidence:
        made_by = item.document["policy"]["hash"]
        if made_by != policy.hash:
            identity = item.document["policy"].get("identity", made_by[:12])
            raise EvidenceError(
                f"{item.folder}: evidence was produced by {identity}, not by {policy.identity}; "
                "re-run the backtest notebook with this exact policy"
            )
    documents = [item.document for item in evidence]
    results = _judged(policy["promotion"]["gates"], documents)
    if bar is not None and bar.hash != policy.hash:
        results += [GateResult(f"production:{r.gate_id}", r.passed, r.detail, r.measured)
                    for r in _judged(bar["promotion"]["gates"], documents)]
    return results


def _judged(gates: Sequence[dict[str, Any]], documents: list[dict[str, Any]]) -> list[GateResult]:
    """Each gate's result, or its failure for want of evidence enough to judge it."""
    report = gate_report("", gates, documents)
    return [GateResult(r.gate_id, False, f"not enough evidence: {report.shortfalls[r.gate_id]}; {WHAT_TO_RUN}")
            if r.gate_id in report.shortfalls and r.passed else r for r in report.results]


def loosenings(production: CompiledPolicy | None, candidate: CompiledPolicy) -> list[str]:
    """Every change from what production runs that lets more through, in words."""
    if production is None:
        return []
    return [change.render() for change in diff_policies(production, candidate) if judge(change) is Direction.LOOSENING]


def promote(policy: CompiledPolicy, evidence: Sequence[Evidence], by: str, reason: str,
            runtime_root: str | Path = "runtime", signer: Signer | None = None,
            approved_by: str | None = None) -> tuple[dict[str, Any], list[GateResult]]:
    """Check the evidence against the candidate's gates and production's, then write the artifact and a signed entry."""
    if not by.strip() or not reason.strip():
        raise EvidenceError("promotion records who and why: give --by NAME and --reason TEXT")
    signer = signer if signer is not None else Signer.load()
    registry = Registry(Path(runtime_root), policy.name)
    earlier = registry.promoted_hash(policy.version)
    if earlier == policy.hash:
        raise RegistryError(f"{policy.identity} is already promoted; to make it current again: safeguards rollback {policy.name} --to {policy.version}")
    if earlier is not None:
        raise RegistryError(f"{policy.name}@{policy.version} was already promoted as #{earlier[:12]}; a promoted version "
                            "never changes: raise metadata.version")
    production = registry.load() if registry.current() is not None else None
    weakened = loosenings(production, policy)
    if weakened and (not approved_by or not approved_by.strip() or approved_by.strip() == by.strip()):
        raise PromotionRefused(
            f"{policy.identity} loosens what production ({production.identity if production else '-'}) enforces:\n"
            + "\n".join(f"  {change}" for change in weakened)
            + "\na loosening needs a second person: give --approved-by NAME (not the author)")
    # With an approved loosening the approver accepts the candidate's own bar; otherwise production's binds too.
    results = check_evidence(policy, evidence, bar=None if weakened else production)
    failed = [result for result in results if not result.passed]
    if failed:
        raise PromotionRefused("gates failed:\n" + "\n".join(f"  {result.render()}" for result in results))
    digest = hashlib.sha256("\n".join(sorted(item.digest for item in evidence)).encode()).hexdigest()
    entry = registry.record("promote", policy.hash, policy.version, by, reason, signer, evidence_digest=digest,
                            artifact=policy, approved_by=approved_by if weakened else None, weakened=weakened,
                            evidence=evidence_record(policy, evidence, None if weakened else production))
    return entry, results


def evidence_record(policy: CompiledPolicy, evidence: Sequence[Evidence],
                    bar: CompiledPolicy | None = None) -> dict[str, Any]:
    """Each evidence run (its digest, kind, data, size) and, per gate, the runs it was judged on: signed in the registry.

    Why: a promotion backed by a labeled backtest and a shadow's live traffic
    must say which proved what (the shadow cannot show recall; the backtest's
    clean baseline was simulated).
    """
    runs = [{"folder": str(item.folder), "digest": item.digest, "kind": item.document["dataset"]["kind"],
             "made_by": (item.document.get("run") or {}).get("made_by"),
             "data_digest": item.document["dataset"].get("digest"), "events": item.document["metrics"].get("events"),
             "broker_span_ns": item.document["dataset"].get("broker_span_ns")} for item in evidence]
    documents = [item.document for item in evidence]
    gates = {gate_id: [runs[i]["digest"] for i in found]
             for gate_id, found in backing(policy["promotion"]["gates"], documents).items()}
    if bar is not None and bar.hash != policy.hash:
        gates |= {f"production:{gate_id}": [runs[i]["digest"] for i in found]
                  for gate_id, found in backing(bar["promotion"]["gates"], documents).items()}
    return {"runs": runs, "gates": gates}


def rollback(name: str, version: int, by: str, reason: str, runtime_root: str | Path = "runtime",
             signer: Signer | None = None) -> dict[str, Any]:
    """Re-point production to an earlier promoted version (verified), recorded and signed like a promotion."""
    if not by.strip() or not reason.strip():
        raise EvidenceError("a rollback records who and why: give --by NAME and --reason TEXT")
    signer = signer if signer is not None else Signer.load()
    registry = Registry(Path(runtime_root), name)
    policy = registry.load(version)  # refuses a version never promoted or a damaged artifact
    return registry.record("rollback", policy.hash, version, by, reason, signer)
