"""Promotion, rollback and loading from runtime/: refusals first, then the happy path."""

import json
import re
from pathlib import Path

import pytest

from safeguards import compile_text, load_policy
from safeguards.errors import EvidenceError, PromotionRefused, RegistryError, SigningError
from safeguards.promotion import promote, read_evidence, rollback
from safeguards.registry import Registry

REFERENCE = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"


def policy(version=1, max_depth=2):
    text = REFERENCE.read_text().replace("version: 1", f"version: {version}").replace("max_depth: 2", f"max_depth: {max_depth}")
    return compile_text(text, "p.yaml")


def evidence(folder: Path, pol, kind="labeled", span_s=75, **overrides):
    """A run folder's evidence, written by hand: enough of it (every fault kind 7 times, 10,000 clean events over 75 s)."""
    from safeguards.simulator.faults import NAMES

    folder.mkdir(parents=True)
    labeled = kind == "labeled"
    metrics = {"events": 20_000 if labeled else 10_000, "alerts": 40, "critical_alerts": 12 if labeled else 0,
               "invalid_events": 0, "recall": 1.0 if labeled else None,
               "recall_by_fault_kind": {name: 1.0 for name in NAMES} if labeled else {},
               "injected_by_fault_kind": {name: 7 for name in NAMES} if labeled else {},
               "false_alerts": 0, "false_alert_rate": 0.0, "missed_faults": 0}
    metrics.update(overrides)
    (folder / "metrics.json").write_text(json.dumps({
        "evidence_format": 1, "policy": {"identity": pol.identity, "hash": pol.hash},
        "dataset": {"kind": kind, "source": f"{kind}.jsonl", "digest": "d" * 64, "broker_span_ns": span_s * 10**9},
        "metrics": metrics,
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


def promote_version(tmp_path, version, signer=None):
    pol = policy(version=version)
    runs = [evidence(tmp_path / f"l{version}", pol), evidence(tmp_path / f"c{version}", pol, kind="clean")]
    return promote(pol, runs, "alice", f"v{version}", tmp_path / "runtime", signer=signer)


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


# -- the attacks of a user who wanted a change through (issue 16) ------------------------------------------


def rechain(path: Path, edit) -> None:
    """What someone who can edit the files does: change entries and recompute every hash of the chain."""
    from safeguards.registry import entry_hash

    previous, lines = None, []
    for line in path.read_text().splitlines():
        entry = edit(json.loads(line))
        entry["previous"] = previous
        entry["entry_hash"] = entry_hash(entry)
        previous = entry["entry_hash"]
        lines.append(json.dumps(entry, sort_keys=True))
    path.write_text("\n".join(lines) + "\n")


def test_a_rechained_registry_around_a_recompiled_artifact_is_refused(tmp_path, runtime):
    weaker = compile_text(REFERENCE.read_text().replace("required_before_submit: true", "required_before_submit: false"), "p.yaml")
    weaker.write(tmp_path / "runtime/multileg_options/1.json")
    rechain(tmp_path / "runtime/multileg_options/registry.jsonl", lambda e: {**e, "policy_hash": weaker.hash})
    with pytest.raises(SigningError, match="registry.jsonl:1: the signature does not match the entry"):
        load_policy(tmp_path / "runtime/multileg_options")


def test_deleting_the_last_registry_line_is_seen(tmp_path, runtime):
    promote_version(tmp_path, 2)
    registry = tmp_path / "runtime/multileg_options/registry.jsonl"
    registry.write_text(registry.read_text().splitlines(keepends=True)[0])
    with pytest.raises(RegistryError, match="holds 1 entries but its signed head says 2"):
        load_policy(tmp_path / "runtime/multileg_options")


def test_unsigned_or_foreign_signed_entries_are_refused(tmp_path, runtime, monkeypatch):
    from safeguards.signing import TRUSTED_KEYS_ENV, Signer, init_keys

    registry = tmp_path / "runtime/multileg_options/registry.jsonl"
    original = registry.read_text()
    registry.write_text(original.replace('"signature": "', '"signature_": "'))
    with pytest.raises(SigningError, match="registry.jsonl:1: the entry is not signed"):
        load_policy(tmp_path / "runtime/multileg_options")
    registry.write_text(original)
    mallory, _, _ = init_keys(tmp_path / "mallory.key", tmp_path / "mallory-trusted")
    with pytest.raises(SigningError, match="not among the trusted keys"):
        promote_version(tmp_path, 2, Signer.load(mallory))
    monkeypatch.setenv(TRUSTED_KEYS_ENV, str(tmp_path / "mallory-trusted"))  # production trusting another key only
    with pytest.raises(SigningError, match="not among the trusted keys"):
        load_policy(tmp_path / "runtime/multileg_options")



def test_a_symlinked_artifact_is_refused(tmp_path, runtime):
    artifact = tmp_path / "runtime/multileg_options/1.json"
    outside = tmp_path / "elsewhere.json"
    outside.write_text(artifact.read_text())
    artifact.unlink()
    artifact.symlink_to(outside)
    with pytest.raises(RegistryError, match="is a symlink"):
        load_policy(tmp_path / "runtime/multileg_options")


def test_lowered_gates_need_a_second_person_and_are_recorded(tmp_path, runtime):
    """The author cannot set their own bar: lowering gates against production is a loosening."""
    text = (REFERENCE.read_text().replace("version: 1", "version: 2")
            .replace("at_most: 0.001", "at_most: 0.5").replace("at_least: 0.99", "at_least: 0"))
    lowered = compile_text(text, "p.yaml")
    runs = [evidence(tmp_path / "low-l", lowered, recall=0.2), evidence(tmp_path / "low-c", lowered, kind="clean")]
    with pytest.raises(PromotionRefused, match="needs a second person") as refused:
        promote(lowered, runs, "alice", "easier", tmp_path / "runtime")
    assert "promotion.gates[detects_every_fault_kind].at_least: 0.99 -> 0" in str(refused.value)
    with pytest.raises(PromotionRefused, match="needs a second person"):
        promote(lowered, runs, "alice", "easier", tmp_path / "runtime", approved_by="alice")
    entry, _ = promote(lowered, runs, "alice", "easier", tmp_path / "runtime", approved_by="carol")
    assert entry["approved_by"] == "carol" and any("at_least: 0.99 -> 0" in change for change in entry["weakened"])
    assert Registry(tmp_path / "runtime", "multileg_options").current()["weakened"] == entry["weakened"]


def test_production_gates_bind_a_candidate(tmp_path, runtime):
    """A tightening candidate (no approval needed) is still held to production's gates as well as its own."""
    stricter = policy(version=2, max_depth=1)
    runs = [evidence(tmp_path / "st-l", stricter, false_alert_rate=0.01), evidence(tmp_path / "st-c", stricter, kind="clean")]
    with pytest.raises(PromotionRefused) as refused:
        promote(stricter, runs, "alice", "stricter", tmp_path / "runtime")
    assert "FAIL production:few_false_alerts" in str(refused.value)


def test_evidence_too_thin_to_prove_anything_fails_its_gates(tmp_path):
    """A 10 s labeled window holding 8 of 14 fault kinds and a 16-event clean window: not enough evidence."""
    from safeguards.simulator.faults import NAMES

    pol = policy()
    few = {name: (3 if i < 8 else 0) for i, name in enumerate(NAMES)}
    runs = [evidence(tmp_path / "l", pol, injected_by_fault_kind={k: n for k, n in few.items() if n},
                     recall_by_fault_kind={k: 1.0 for k, n in few.items() if n}),
            evidence(tmp_path / "c", pol, kind="clean", span_s=0.05, events=16)]
    with pytest.raises(PromotionRefused) as refused:
        promote(pol, runs, "alice", "r", tmp_path / "runtime")
    text = str(refused.value)
    assert "FAIL detects_every_fault_kind: not enough evidence: every fault kind needs 5 labelled instances; 14 of 14" in text
    assert "FAIL no_critical_alerts_on_clean_traffic: not enough evidence: a clean baseline needs 10,000 events" in text
    assert "16 events over 0.05s" in text and "safeguards simulate" in text
    assert not (tmp_path / "runtime").exists()
