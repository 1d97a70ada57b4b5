"""Promotion, rollback and loading from runtime/: refusals first, then the happy path."""

import json
import re
from pathlib import Path

import pytest

from safeguards import compile_text, load_policy
from safeguards.errors import EvidenceError, PromotionRefused, RegistryError
from safeguards.promotion import promote, read_evidence, rollback
from safeguards.registry import Registry

REFERENCE = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"


def policy(version=1, max_depth=2):
    text = REFERENCE.read_text().replace("version: 1", f"version: {version}").replace("max_depth: 2", f"max_depth: {max_depth}")
    return compile_text(text, "p.yaml")


def evidence(folder: Path, pol, kind="labeled", **overrides):
    folder.mkdir(parents=True)
    metrics = {"events": 1000, "alerts": 40, "critical_alerts": 0 if kind == "clean" else 12, "invalid_events": 0,
               "recall": 1.0 if kind == "labeled" else None, "recall_by_fault_kind": {"duplicate": 1.0} if kind == "labeled" else {},
               "false_alerts": 0, "false_alert_rate": 0.0, "missed_faults": 0}
    metrics.update(overrides)
    (folder / "metrics.json").write_text(json.dumps({
        "evidence_format": 1, "policy": {"identity": pol.identity, "hash": pol.hash},
        "dataset": {"kind": kind, "source": f"{kind}.jsonl", "digest": "d" * 64}, "metrics": metrics,
    }))
    (folder / "backtest.ipynb").write_text("{}")
    return read_evidence(folder)


@pytest.fixture
def proved(tmp_path):
    pol = policy()
    return pol, [evidence(tmp_path / "labeled", pol), evidence(tmp_path / "clean", pol, kind="clean")]


def test_promote_writes_artifact_and_registry(tmp_path, proved):
    pol, runs = proved
    entry, results = promote(pol, runs, "alice", "first release", tmp_path / "runtime")
    assert all(r.passed for r in results)
    assert (tmp_path / "runtime/multileg_options/1.json").read_text() == pol.to_json()
    assert entry["by"] == "alice" and entry["reason"] == "first release" and entry["previous"] is None
    assert len(entry["evidence_digest"]) == 64
    loaded = load_policy(tmp_path / "runtime/multileg_options")
    assert loaded.identity == pol.identity


def test_evidence_from_another_policy_is_refused(tmp_path):
    other = policy(max_depth=3)
    runs = [evidence(tmp_path / "l", other), evidence(tmp_path / "c", other, kind="clean")]
    with pytest.raises(EvidenceError, match="not by multileg_options@1#"):
        promote(policy(), runs, "alice", "r", tmp_path / "runtime")
    assert not (tmp_path / "runtime").exists()


def test_failed_gates_are_refused_with_every_result(tmp_path):
    pol = policy()
    runs = [evidence(tmp_path / "l", pol, recall=0.5, recall_by_fault_kind={"duplicate": 0.5}),
            evidence(tmp_path / "c", pol, kind="clean", critical_alerts=2)]
    with pytest.raises(PromotionRefused) as refused:
        promote(pol, runs, "alice", "r", tmp_path / "runtime")
    text = str(refused.value)
    assert "FAIL detects_every_fault_kind" in text and "FAIL no_critical_alerts_on_clean_traffic" in text
    assert "PASS few_false_alerts" in text
    assert not (tmp_path / "runtime").exists()


def test_missing_clean_baseline_fails_its_gate(tmp_path):
    pol = policy()
    with pytest.raises(PromotionRefused, match="needs evidence on clean data"):
        promote(pol, [evidence(tmp_path / "l", pol)], "alice", "r", tmp_path / "runtime")


def test_folder_without_metrics_is_not_evidence(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(EvidenceError, match="no metrics.json"):
        read_evidence(tmp_path / "run")


def test_version_never_changes_hash(tmp_path, proved):
    pol, runs = proved
    promote(pol, runs, "alice", "r", tmp_path / "runtime")
    changed = policy(max_depth=3)
    changed_runs = [evidence(tmp_path / "l2", changed), evidence(tmp_path / "c2", changed, kind="clean")]
    with pytest.raises(RegistryError, match="already promoted as #"):
        promote(changed, changed_runs, "bob", "sneaky", tmp_path / "runtime")
    assert load_policy(tmp_path / "runtime/multileg_options").hash == pol.hash


def test_same_version_twice_points_to_rollback(tmp_path, proved):
    pol, runs = proved
    promote(pol, runs, "alice", "r", tmp_path / "runtime")
    with pytest.raises(RegistryError, match="safeguards rollback multileg_options --to 1"):
        promote(pol, runs, "alice", "again", tmp_path / "runtime")


def test_rollback_repoints_and_is_recorded(tmp_path, proved, runtime):
    first, _ = proved
    promote_version(tmp_path, 2)
    assert load_policy(tmp_path / "runtime/multileg_options").version == 2
    entry = rollback("multileg_options", 1, "bob", "v2 misbehaves", tmp_path / "runtime")
    assert entry["action"] == "rollback" and entry["seq"] == 3
    assert load_policy(tmp_path / "runtime/multileg_options").identity == first.identity
    with pytest.raises(RegistryError, match="never promoted"):
        rollback("multileg_options", 7, "bob", "typo", tmp_path / "runtime")


@pytest.fixture
def runtime(tmp_path, proved):
    """A runtime root with version 1 promoted."""
    promote(*proved, "alice", "v1", tmp_path / "runtime")
    return tmp_path / "runtime"


def promote_version(tmp_path, version):
    pol = policy(version=version)
    runs = [evidence(tmp_path / f"l{version}", pol), evidence(tmp_path / f"c{version}", pol, kind="clean")]
    return promote(pol, runs, "alice", f"v{version}", tmp_path / "runtime")


def test_edited_registry_is_refused(tmp_path, runtime):
    registry = tmp_path / "runtime/multileg_options/registry.jsonl"
    registry.write_text(registry.read_text().replace('"alice"', '"mallory"'))
    with pytest.raises(RegistryError, match="registry.jsonl:1: entry does not match its hash"):
        load_policy(tmp_path / "runtime/multileg_options")


def test_removed_registry_line_is_refused(tmp_path, runtime):
    promote_version(tmp_path, 2)
    registry = tmp_path / "runtime/multileg_options/registry.jsonl"
    registry.write_text(registry.read_text().splitlines(keepends=True)[1])
    with pytest.raises(RegistryError, match="removed or reordered"):
        Registry(tmp_path / "runtime", "multileg_options").entries()


def test_tampered_artifact_is_refused(tmp_path, runtime):
    artifact = tmp_path / "runtime/multileg_options/1.json"
    artifact.write_text(artifact.read_text().replace('"max_depth": 2', '"max_depth": 5'))
    with pytest.raises(RegistryError, match="promoted artifact is damaged"):
        load_policy(tmp_path / "runtime/multileg_options")


def test_swapped_artifact_is_refused(tmp_path, runtime):
    policy(max_depth=3).write(tmp_path / "runtime/multileg_options/1.json")  # valid on its own, not what was promoted
    with pytest.raises(RegistryError, match="but the registry promoted"):
        load_policy(tmp_path / "runtime/multileg_options")


def test_a_registry_line_that_is_not_utf8_is_refused_with_its_place(tmp_path, runtime):
    promote_version(tmp_path, 2)
    registry = tmp_path / "runtime/multileg_options/registry.jsonl"
    lines = registry.read_bytes().splitlines(keepends=True)
    registry.write_bytes(lines[0] + lines[1].replace(b'"alice"', b'"al\xe9ice"'))
    with pytest.raises(RegistryError, match=r"registry.jsonl:2: not UTF-8 \(byte 0xe9 at column \d+\); the registry "
                                            r"was edited by hand or damaged"):
        load_policy(tmp_path / "runtime/multileg_options")


@pytest.mark.parametrize("metrics, problem", [
    ({"recall": "high"}, "metrics.recall is 'high', not a number"),
    ({"false_alert_rate": True}, "metrics.false_alert_rate is True, not a number"),
    ({"recall_by_fault_kind": {"duplicate": "all"}}, "metrics.recall_by_fault_kind.duplicate is 'all', not a number"),
    ({"recall_by_fault_kind": [1.0]}, "metrics.recall_by_fault_kind is [1.0], not a number"),
])
def test_evidence_whose_metrics_are_not_numbers_is_refused_in_words(tmp_path, metrics, problem):
    with pytest.raises(EvidenceError, match=r"metrics.json: not an evidence document: .*" + re.escape(problem)):
        evidence(tmp_path / "run", policy(), **metrics)
