"""safeguards backtest from the command line: exit 0 ok, 1 an applicable gate failed, 2 bad input."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from safeguards.cli import main

from ..backtesting import CANDIDATE, CLEAN, REFERENCE, SAMPLE, as_account, simulated


def test_backtest_prints_summary_scoring_and_gates(tmp_path, capsys):
    log = simulated(tmp_path, "small", seed=5, groups=60)
    out = tmp_path / "run"
    assert main(["backtest", "--policy", str(REFERENCE), "--events", str(log), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(labeled)" in printed and "missed 0" in printed
    # 60 groups hold too few of some fault kinds to prove anything: the gate is not judged, and the run is no failure
    assert "gate n/a detects_every_fault_kind: not enough evidence: every fault kind needs 5 labelled instances" in printed
    assert "gate n/a no_critical_alerts_on_clean_traffic: needs a run on clean data" in printed
    for name in ("decisions.parquet", "alerts.parquet", "summary.json", "metrics.json", "scoring.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["dataset"]["kind"] == "labeled"


def test_a_failing_gate_exits_1_and_compare_prints_the_differences(tmp_path, capsys):
    """Only hedge-depth faults, backtested with the candidate that allows one more level: recall 0."""
    log = simulated(tmp_path, "deep", seed=7, groups=80, faults="none", rates=("hedge_depth=0.5",))
    code = main(["backtest", "--policy", str(CANDIDATE), "--events", str(log), "--out", str(tmp_path / "run"),
                 "--compare", str(REFERENCE)])
    printed = capsys.readouterr().out
    assert code == 1
    assert "gate FAIL detects_every_fault_kind: recall[hedge_depth] = 0" in printed
    assert "events get a different verdict" in printed and "accept -> block" in printed
    assert "alerts appeared with B (" in printed and "hedge_depth_exceeded" in printed.split("alerts appeared with B")[1]
    assert (tmp_path / "run" / "comparison.json").is_file() and (tmp_path / "run" / "other" / "metrics.json").is_file()


def test_bad_input_exits_2(tmp_path, capsys):
    assert main(["backtest", "--policy", str(REFERENCE), "--events", str(tmp_path / "none.jsonl"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["backtest", "--policy", str(tmp_path / "nope.yaml"), "--db", str(tmp_path / "x.duckdb"),
                 "--out", str(tmp_path / "o")]) == 2


def test_out_naming_a_file_is_refused_before_any_work(tmp_path, capsys):
    taken = tmp_path / "notes.txt"
    taken.write_text("mine\n")
    for out in (taken, taken / "run"):
        assert main(["backtest", "--policy", str(REFERENCE), "--events", "data/sample.jsonl", "--out", str(out)]) == 2
        assert "--out" in capsys.readouterr().err
    assert taken.read_text() == "mine\n"


HOUR = 3600 * 10**9


@pytest.fixture(scope="module")
def two_desks(tmp_path_factory):
    """A store of two desks' logs an hour apart (the sample as account A, the clean day as B): two parts."""
    folder = tmp_path_factory.mktemp("desks")
    logs = [as_account(SAMPLE, folder / "a.jsonl", "A"), as_account(CLEAN, folder / "b.jsonl", "B", HOUR)]
    assert main(["ingest", *map(str, logs), "--db", str(folder / "desks.duckdb")]) == 0
    return folder / "desks.duckdb"


def _sorted(path, keys):
    return pq.read_table(path).drop_columns(["policy"]).sort_by([(k, "ascending") for k in keys])


def test_partitions_merge_into_the_single_runs_decisions_and_alerts(two_desks, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SAFEGUARDS_PROGRESS", "1")
    labels = ["--labels", str(SAMPLE.with_suffix(".labels.jsonl"))]  # account A's faults
    code = main(["backtest", "--policy", str(REFERENCE), "--db", str(two_desks), "--out", str(tmp_path / "parts"),
                 "--partitions", "4", "--workers", "0", *labels])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "(4 parts asked, in this process): 2 parts (log 1: 20,100 events | log 2: 10,000 events)" in printed.out
    assert "fewer parts: 2 logs make 2 independent sets" in printed.out
    assert "backtest: 2/2 parts, 30,100 events" in printed.err
    assert f"partitions: {tmp_path / 'parts' / 'partitions.json'}" in printed.out
    assert main(["backtest", "--policy", str(REFERENCE), "--db", str(two_desks), "--out", str(tmp_path / "single"),
                 *labels]) == 0
    single = capsys.readouterr().out
    # The same report but for the time taken and the folder: verdicts, alerts, gates and files.
    assert [line for line in printed.out.splitlines()[1:-1] if " in " not in line] == \
           [line.replace("/single/", "/parts/") for line in single.splitlines() if " in " not in line]
    for name, keys in (("decisions.parquet", ["ingest_id", "seq", "event_id"]),
                       ("alerts.parquet", ["ingest_id", "seq", "kind", "order_id", "group_id", "detail"])):
        merged = _sorted(tmp_path / "parts" / name, keys)
        assert merged.num_rows > 0 and merged.equals(_sorted(tmp_path / "single" / name, keys)), name
    assert (json.loads((tmp_path / "parts" / "metrics.json").read_text())["metrics"]
            == json.loads((tmp_path / "single" / "metrics.json").read_text())["metrics"])
    assert (json.loads((tmp_path / "parts" / "scoring.json").read_text())
            == json.loads((tmp_path / "single" / "scoring.json").read_text()))
    assert "faults: 324 injected, 324 detected, 0 missed" in single


def test_partitions_say_which_policy_feature_keeps_one_part(two_desks, tmp_path, capsys):
    policy = tmp_path / "keyed_without_account.yaml"
    policy.write_text(REFERENCE.read_text().replace("key: [account, event_id]", "key: [event_id]"))
    code = main(["backtest", "--policy", str(policy), "--db", str(two_desks), "--out", str(tmp_path / "p"),
                 "--partitions", "2", "--workers", "0"])
    out = capsys.readouterr().out
    assert code == 0
    assert ": 1 part (logs 1, 2: 30,100 events); one part: idempotency.key has no account" in out


def test_partitions_refuse_what_they_cannot_split(two_desks, tmp_path, capsys):
    run = ["backtest", "--policy", str(REFERENCE), "--out", str(tmp_path / "o")]
    assert main([*run, "--events", str(SAMPLE), "--partitions", "2"]) == 2
    assert "--partitions splits an event store of several logs" in capsys.readouterr().err
    assert main([*run, "--db", str(two_desks), "--partitions", "2", "--account", "A"]) == 2
    assert "cannot be combined with --account" in capsys.readouterr().err
    assert main([*run, "--db", str(two_desks), "--workers", "2"]) == 2
    assert "give --partitions N with them" in capsys.readouterr().err
    assert main([*run, "--db", str(two_desks), "--partitions", "0", "--workers", "0"]) == 2
    assert "--partitions 0: give 1 or more" in capsys.readouterr().err
