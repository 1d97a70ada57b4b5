"""Promotion, rollback and loading from runtime/: refusals first, then the happy path."""

import atexit
import json
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from safeguards import compile_text, load_policy
from safeguards.backtest import run_backtest
from safeguards.errors import EvidenceError, PromotionRefused, RegistryError, SigningError
from safeguards.promotion import promote, read_evidence, rollback
from safeguards.registry import Registry

REFERENCE = Path(__file__).resolve().parents[1] / "rules" / "multileg_options.yaml"


def policy(version=1, max_depth=2, *edits: tuple[str, str]):
    """The reference policy at ``version``, with its hedge depth and any other ``(old, new)`` text edits."""
    text = REFERENCE.read_text().replace("version: 1", f"version: {version}").replace("max_depth: 2", f"max_depth: {max_depth}")
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    return compile_text(text, "p.yaml")


DATA = REFERENCE.parents[1] / "data"
_RUNS: dict[tuple, Path] = {}
_CACHE = tempfile.TemporaryDirectory(prefix="safeguards-evidence-")
atexit.register(_CACHE.cleanup)


def evidence(folder: Path, pol, kind="labeled", start=None, end=None):
    """A real run's evidence: ``pol`` backtested on the sample (labeled) or the clean baseline, copied to ``folder``.

    Each (policy, data, window) is backtested once per test session; tests that tamper change their own copy.
    """
    key = (pol.hash, kind, start, end)
    if key not in _RUNS:
        made = Path(_CACHE.name) / str(len(_RUNS))
        log = DATA / ("sample.jsonl" if kind == "labeled" else "clean.jsonl")
        run_backtest(pol, made, events=log, start=start, end=end)
        _RUNS[key] = made
    shutil.copytree(_RUNS[key], folder)
    return read_evidence(folder)


def edited(folder: Path, edit) -> Path:
    """What someone who wanted a change through does to a run folder's metrics.json."""
    document = json.loads((folder / "metrics.json").read_text())
    edit(document)
    (folder / "metrics.json").write_text(json.dumps(document))
    return folder


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
    """Submits without intents let through miss that fault; depth-1 hedges block clean traffic's depth-2 ones."""
    pol = policy(1, 1, ("required_before_submit: true", "required_before_submit: false"))
    runs = [evidence(tmp_path / "l", pol), evidence(tmp_path / "c", pol, kind="clean")]
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
    run = evidence(tmp_path / "run", policy())
    edited(run.folder, lambda document: document["metrics"].update(metrics))
    with pytest.raises(EvidenceError, match=r"metrics.json: not an evidence document: .*" + re.escape(problem)):
        read_evidence(run.folder)


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
    runs = [evidence(tmp_path / "low-l", lowered), evidence(tmp_path / "low-c", lowered, kind="clean")]
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
    stricter = policy(2, 2, ("max_skew: 500ms", "max_skew: 1ms"))  # a skew tolerance below the feed's jitter
    runs = [evidence(tmp_path / "st-l", stricter), evidence(tmp_path / "st-c", stricter, kind="clean")]
    with pytest.raises(PromotionRefused) as refused:
        promote(stricter, runs, "alice", "stricter", tmp_path / "runtime")
    assert "FAIL production:few_false_alerts" in str(refused.value)


def test_evidence_too_thin_to_prove_anything_fails_its_gates(tmp_path):
    """A 10 s labeled window holding a few fault kinds and a 50 ms clean window: not enough evidence."""
    pol = policy()
    runs = [evidence(tmp_path / "l", pol, start="2026-02-21T14:30:00Z", end="2026-02-21T14:30:10Z"),
            evidence(tmp_path / "c", pol, kind="clean", start="2026-02-21T14:30:00Z", end="2026-02-21T14:30:00.05Z")]
    assert runs[1].document["metrics"]["events"] < 100
    with pytest.raises(PromotionRefused) as refused:
        promote(pol, runs, "alice", "r", tmp_path / "runtime")
    text = str(refused.value)
    assert "FAIL detects_every_fault_kind: not enough evidence: every fault kind needs 5 labelled instances" in text
    assert "FAIL no_critical_alerts_on_clean_traffic: not enough evidence: a clean baseline needs 10,000 events" in text
    assert "safeguards simulate" in text
    assert not (tmp_path / "runtime").exists()


# -- evidence is recomputed from the run's own outputs, not read off metrics.json (issue 16) -----------------


def test_metrics_edited_to_pass_are_refused_with_each_figure(tmp_path):
    """166 critical alerts on clean traffic, rewritten to 0 in metrics.json: the alerts still say 166."""
    pol = policy(1, 1)
    run = evidence(tmp_path / "c", pol, kind="clean")
    stated = run.document["metrics"]["critical_alerts"]
    assert stated > 0
    edited(run.folder, lambda document: document["metrics"].update(critical_alerts=0))
    with pytest.raises(EvidenceError, match=rf"does not match the run's own decisions.*\n  metrics.critical_alerts says 0, "
                                            rf"the run's outputs give {stated}\n.*re-run"):
        read_evidence(run.folder)


def test_recall_raised_by_hand_is_refused(tmp_path):
    pol = policy(1, 2, ("required_before_submit: true", "required_before_submit: false"))
    run = evidence(tmp_path / "l", pol)
    assert run.document["metrics"]["recall_by_fault_kind"]["submit_without_intent"] < 0.99

    def perfect(document):
        document["metrics"]["recall"] = 1.0
        document["metrics"]["recall_by_fault_kind"]["submit_without_intent"] = 1.0
    edited(run.folder, perfect)
    with pytest.raises(EvidenceError, match=r"metrics.recall_by_fault_kind.submit_without_intent says 1.0"):
        read_evidence(run.folder)


def test_another_policys_run_relabelled_as_this_one_is_refused(tmp_path):
    """A copy of a run with only its policy hash changed: its decisions still name the policy that made them."""
    candidate, other = policy(), policy(1, 3)
    run = evidence(tmp_path / "l", other)

    def relabel(document):
        document["policy"] = {"identity": candidate.identity, "hash": candidate.hash, "name": candidate.name,
                              "version": candidate.version}
    edited(run.folder, relabel)
    with pytest.raises(EvidenceError, match=rf"decisions.parquet: made by {re.escape(other.identity)}, not by "
                                            rf"{re.escape(candidate.identity)}"):
        read_evidence(run.folder)


def test_decisions_of_other_data_are_refused(tmp_path):
    pol = policy()
    labeled, clean = evidence(tmp_path / "l", pol), evidence(tmp_path / "c", pol, kind="clean")
    shutil.copyfile(clean.folder / "decisions.parquet", labeled.folder / "decisions.parquet")
    with pytest.raises(EvidenceError, match=r"not the decisions of the run's data: [\d,]+ stored events have no decision"):
        read_evidence(labeled.folder)


def test_a_changed_data_digest_is_refused(tmp_path):
    run = evidence(tmp_path / "l", policy())
    edited(run.folder, lambda document: document["dataset"].update(digest="0" * 64))
    with pytest.raises(EvidenceError, match=r"dataset.digest says 0{64}, the run's outputs give [0-9a-f]{64}"):
        read_evidence(run.folder)


def test_labels_changed_after_the_run_are_refused(tmp_path):
    run = evidence(tmp_path / "l", policy())
    labels = run.folder / "labels.jsonl"
    labels.write_text("".join(labels.read_text().splitlines(keepends=True)[:-50]))  # the hardest 50 faults "never happened"
    with pytest.raises(EvidenceError, match="not the labels the run was scored on"):
        read_evidence(run.folder)


def test_evidence_without_its_data_is_refused_with_what_to_do(tmp_path):
    run = evidence(tmp_path / "l", policy())
    (run.folder / "events.duckdb").unlink()
    with pytest.raises(EvidenceError, match=r"the event store the run read .* is not there; .*--events"):
        read_evidence(run.folder)


def test_a_backtest_of_a_store_is_audited_against_that_store(tmp_path):
    """With --db the run folder names the store; the audit reads it there (read-only: the digest stays)."""
    from safeguards.promotion import evidence_digest
    from safeguards.store import ingest_file, open_store
    from safeguards.adapters import AdapterOptions, stager

    db = tmp_path / "events.duckdb"
    con = open_store(db)
    options = AdapterOptions()
    ingest_file(con, DATA / "sample.jsonl", "jsonl", stager("jsonl", options, None), options.describe())
    con.close()
    run = run_backtest(policy(), tmp_path / "run", db=db, labels=DATA / "sample.labels.jsonl")
    before = evidence_digest(run.out_dir)
    audited = read_evidence(run.out_dir)
    assert audited.document["metrics"] == run.evidence["metrics"] and audited.digest == before
