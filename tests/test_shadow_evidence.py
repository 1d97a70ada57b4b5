"""A shadow's folder as promotion evidence (issue 16 item 7): recomputed, digested, and only for what it can show.

The shadow decides a day of unlabeled traffic beside production; its folder backs
the clean-traffic gate, a labeled backtest backs the gates that count faults, and
the signed registry entry says which backed which. Edited afterwards, or too
short, it is refused with what to do.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from safeguards.errors import EvidenceError, PromotionRefused
from safeguards.promotion import promote, read_evidence
from safeguards.registry import Registry
from tests.test_promotion import DATA, REFERENCE, evidence, policy

CLEAN = DATA / "clean.jsonl"  # 10,000 events over 75 s of broker time, given as traffic (its labels are not)
_SHADOWS: dict[tuple, Path] = {}


def shadow_run(tmp_path: Path, candidate, lines: list[bytes], *live: str) -> Path:
    """``safeguards run --shadow`` over ``lines`` (once per candidate and traffic); a copy of its folder."""
    key = (candidate.hash, len(lines), live)
    if key not in _SHADOWS:
        made = Path(tmp_path.parent) / f"shadow-made-{len(_SHADOWS)}"
        shutil.rmtree(made, ignore_errors=True)
        made.mkdir()
        candidate.write(made / "candidate.json")
        done = subprocess.run(
            [sys.executable, "-m", "safeguards", "run", "--tick", "0", *(live or ("--policy", str(REFERENCE))),
             "--shadow", str(made / "candidate.json"),
             "--shadow-out", str(made / "shadow")], input=b"".join(lines), capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr.decode()
        assert b"shadow: candidate's evidence: " in done.stderr
        _SHADOWS[key] = made / "shadow"
    folder = tmp_path / "shadow"
    shutil.copytree(_SHADOWS[key], folder)
    return folder


def clean_lines(n: int | None = None) -> list[bytes]:
    lines = CLEAN.read_bytes().splitlines(keepends=True)
    return lines[:n] if n is not None else lines


@pytest.fixture
def production(tmp_path):
    """v1 (the reference) promoted on backtests: what the sidecar follows."""
    v1 = policy()
    promote(v1, [evidence(tmp_path / "l1", v1), evidence(tmp_path / "c1", v1, kind="clean")], "alice", "v1",
            tmp_path / "runtime")
    return tmp_path / "runtime" / v1.name


def test_a_shadow_over_a_clean_day_backs_a_promotion_beside_a_labeled_backtest(tmp_path, production):
    v2 = policy(version=2)
    shadow = shadow_run(tmp_path, v2, clean_lines(), "--follow", str(production))
    labeled = evidence(tmp_path / "labeled", v2)
    taken = read_evidence(shadow)
    assert taken.document["dataset"]["kind"] == "live" and taken.document["metrics"]["events"] == 10_000
    assert taken.document["metrics"]["critical_alerts"] == 0 and taken.document["dataset"]["broker_span_ns"] > 60e9

    entry, results = promote(v2, [labeled, taken], "alice", "proved on the sample, watched for a day",
                             production.parent)
    shown = {r.gate_id: r for r in results}
    assert all(r.passed for r in results)
    assert "on live traffic" not in shown["no_critical_alerts_on_clean_traffic"].detail  # a pass lists the values
    runs = {run["kind"]: run for run in entry["evidence"]["runs"]}
    assert set(runs) == {"labeled", "live"} and runs["live"]["made_by"] == "safeguards run --shadow"
    assert runs["live"]["digest"] == taken.digest and runs["live"]["events"] == 10_000
    backed = entry["evidence"]["gates"]
    assert backed["detects_every_fault_kind"] == [labeled.digest]
    assert backed["few_false_alerts"] == [labeled.digest]  # live traffic has no labels to count false alerts by
    assert backed["no_critical_alerts_on_clean_traffic"] == [taken.digest]
    assert backed["production:no_critical_alerts_on_clean_traffic"] == [taken.digest]
    assert Registry(production.parent, v2.name).current()["evidence"] == entry["evidence"]  # signed, verified


def test_a_shadow_alone_cannot_back_the_gates_that_count_faults(tmp_path):
    v2 = policy(version=2)
    shadow = read_evidence(shadow_run(tmp_path, v2, clean_lines()))
    with pytest.raises(PromotionRefused) as refused:
        promote(v2, [shadow], "alice", "r", tmp_path / "runtime")
    text = str(refused.value)
    assert "PASS no_critical_alerts_on_clean_traffic" in text
    assert "FAIL detects_every_fault_kind: needs evidence on labeled data; none was given" in text
    assert "n/a few_false_alerts: false_alert_rate cannot be measured on live traffic" in text
    assert not (tmp_path / "runtime").exists()


def test_too_short_a_shadow_is_not_enough_evidence_and_says_what_to_run(tmp_path):
    v2 = policy(version=2)
    shadow = read_evidence(shadow_run(tmp_path, v2, clean_lines(2_000)))
    with pytest.raises(PromotionRefused) as refused:
        promote(v2, [evidence(tmp_path / "labeled", v2), shadow], "alice", "r", tmp_path / "runtime")
    text = str(refused.value)
    assert ("FAIL no_critical_alerts_on_clean_traffic: not enough evidence: a shadow's live traffic needs 10,000 "
            "events over 60s of broker time, as a clean baseline does (live traffic (safeguards run --shadow): "
            "2,000 events over ") in text
    assert "let the shadow see more of the day (`safeguards run" in text and "--shadow CANDIDATE" in text
    assert "PASS detects_every_fault_kind" in text


def test_evidence_of_another_candidate_is_refused(tmp_path):
    shadow = read_evidence(shadow_run(tmp_path, policy(version=2), clean_lines(2_000)))
    other = policy(3)
    with pytest.raises(EvidenceError, match=rf"evidence was produced by multileg_options@2#\w+, not by "
                                            rf"{other.identity}"):
        promote(other, [shadow], "alice", "r", tmp_path / "runtime")


def _metrics(folder: Path, edit) -> None:
    path = folder / "other" / "metrics.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))


def _drop_rows(path: Path, keep) -> None:
    table = pq.read_table(path)
    pq.write_table(table.filter(keep(table)), path)


def faulty_lines(n: int) -> list[bytes]:
    """The labelled sample's first ``n`` events, given as traffic: a day with faults, so with critical alerts."""
    return (DATA / "sample.jsonl").read_bytes().splitlines(keepends=True)[:n]


@pytest.mark.parametrize("tamper, refusal", [
    (lambda f: _metrics(f, lambda d: d["metrics"].update(critical_alerts=0, events=20_000)),
     r"metrics.critical_alerts says 0, the run's outputs give \d+\n  metrics.events says 20000, the run's outputs"),
    (lambda f: _metrics(f, lambda d: d["dataset"].update(broker_span_ns=90_000_000_000)),
     r"dataset.broker_span_ns says 90000000000, the run's outputs give \d+"),
    (lambda f: _drop_rows(f / "other" / "alerts.parquet", lambda t: pc.not_equal(t.column("severity"), "critical")),
     r"metrics.critical_alerts says \d+, the run's outputs give 0"),
    (lambda f: _drop_rows(f / "other" / "decisions.parquet", lambda t: pc.greater(t.column("seq"), 10)),
     r"not the decisions of the run's data: \d+ stored events have no decision"),
    (lambda f: (f / "traffic.jsonl").write_bytes((f / "traffic.jsonl").read_bytes()[:-300]),
     r"traffic.jsonl: not the traffic the shadow stored"),
    (lambda f: (f / "other" / "metrics.json").unlink(), r"a shadow run folder without the candidate's evidence"),
])
def test_a_shadow_folder_changed_after_its_run_is_refused(tmp_path, tamper, refusal):
    folder = shadow_run(tmp_path, policy(version=2), faulty_lines(3_000))
    assert read_evidence(folder).document["metrics"]["critical_alerts"] > 0  # whole, it is evidence (of a failure)
    tamper(folder)
    with pytest.raises(EvidenceError, match=refusal):
        read_evidence(folder)


def test_inputs_that_are_no_event_are_invalid_decisions_of_no_log(tmp_path):
    """Garbage on the live stream is decided invalid and counted so; it is not stored, so it is no event either."""
    lines = clean_lines(2_000)
    lines = lines[:100] + [b"{not json\n", b'{"source": "broker"}\n'] + lines[100:]
    folder = shadow_run(tmp_path, policy(version=2), lines)
    taken = read_evidence(folder)
    assert taken.document["metrics"]["events"] == 2_000 and taken.document["metrics"]["invalid_events"] == 2
    assert len(pq.read_table(folder / "other" / "decisions.parquet")) == 2_002  # compare still sees every input
    rows = pq.read_table(folder / "other" / "decisions.parquet")
    unstored = rows.filter(pc.is_null(rows.column("ingest_id")))
    assert unstored.column("verdict").to_pylist() == ["invalid", "invalid"]
    # An answer of no log that is not `invalid` (an event kept out of the store) is refused:
    forged = unstored.slice(0, 1).set_column(rows.schema.get_field_index("verdict"), "verdict",
                                             pa.array(["accept"], pa.string())).cast(rows.schema)
    pq.write_table(pa.concat_tables([rows.filter(pc.is_valid(rows.column("ingest_id"))), forged]),
                   folder / "other" / "decisions.parquet")
    with pytest.raises(EvidenceError, match=r"1 decisions of no log \(a shadow's inputs that were no event\) are not "
                                            r"invalid"):
        read_evidence(folder)
