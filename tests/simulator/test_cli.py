"""`safeguards simulate`: the files, the summary, and clear errors for bad flags."""

from __future__ import annotations

import pytest

from safeguards.cli import main
from safeguards.simulator import SimOptions, parse_rates
from safeguards.errors import SimulatorError


def test_simulate_writes_log_labels_and_summary(tmp_path, capsys):
    out = tmp_path / "log.jsonl"
    assert main(["simulate", "--seed", "3", "--groups", "50", "--rate", "duplicate=0.2", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "in 50 groups" in printed and "duplicate" in printed
    assert out.exists() and (tmp_path / "log.labels.jsonl").exists()


def test_faults_none_writes_no_labels(tmp_path, capsys):
    out = tmp_path / "clean.jsonl"
    assert main(["simulate", "--groups", "20", "--faults", "none", "-o", str(out), "--quiet"]) == 0
    assert (tmp_path / "clean.labels.jsonl").read_text() == ""
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("flags, words", [
    (["--rate", "nonsense=0.1"], "unknown fault kind 'nonsense'"),
    (["--rate", "duplicate=1.5"], "between 0 and 1"),
    (["--rate", "duplicate=lots"], "not a number"),
    (["--rate", "duplicate"], "KIND=R"),
    (["--groups", "0"], "positive integer"),
    (["--seed", "-1"], "non-negative"),
    (["--workers", "-1"], "--workers must be 0 or more"),
    (["--events", "99999999999999999999"], "is more than this simulator writes (at most 1,000,000,000)"),
    (["--groups", "999999999999"], "is more than this simulator writes"),
])
def test_bad_flags_exit_2_saying_what_to_do(tmp_path, capsys, flags, words):
    assert main(["simulate", *flags, "-o", str(tmp_path / "x.jsonl")]) == 2
    assert words in capsys.readouterr().err


def test_workers_do_not_change_the_files(tmp_path):
    flags = ["simulate", "--seed", "8", "--groups", "300", "--quiet"]
    assert main([*flags, "--workers", "0", "-o", str(tmp_path / "a.jsonl")]) == 0
    assert main([*flags, "--workers", "2", "-o", str(tmp_path / "b.jsonl")]) == 0
    for name in ("{}.jsonl", "{}.labels.jsonl"):
        assert (tmp_path / name.format("a")).read_bytes() == (tmp_path / name.format("b")).read_bytes()


def test_missing_output_directory_is_a_clear_error(tmp_path, capsys):
    assert main(["simulate", "-o", str(tmp_path / "no" / "x.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_events_and_groups_are_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        main(["simulate", "--events", "10", "--groups", "10", "-o", str(tmp_path / "x.jsonl")])
    with pytest.raises(SimulatorError):
        SimOptions(events=10, groups=10)


def test_rates_start_from_none_or_defaults():
    assert set(parse_rates([], "none").values()) == {0.0}
    assert parse_rates(["reorder=0.5"], "none")["reorder"] == 0.5
    assert parse_rates([], None)["duplicate"] > 0


@pytest.mark.parametrize("name", ["x.csv", "x.txt", "x"])
def test_an_output_ending_it_cannot_write_is_refused_not_written_as_json(tmp_path, capsys, name):
    assert main(["simulate", "--events", "50", "-o", str(tmp_path / name)]) == 2
    assert "the simulator writes .jsonl" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
