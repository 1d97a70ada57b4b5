"""`safeguards sweep`: the report as output, exit codes, and bad input said where."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguards.cli import main

from ..backtesting import REFERENCE


def test_sweep_in_process_prints_the_report_and_the_promote_command(stores: dict[str, Path], tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--policy", str(REFERENCE), "--db", str(stores["history"]), "--labels", str(stores["labels"]),
                 "--baseline", str(stores["baseline"]), "--baseline-labels", str(stores["baseline_labels"]),
                 "--vary", "hedging.max_depth=1,2", "--out", str(tmp_path / "grid"), "--workers", "0"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "sweep of 2 variants" in out and "in this process: 4 backtests run, 0 already done" in out
    assert "best passing variant: " in out and "to promote: safeguards promote " in out
    lines = {line.split()[1]: line.split() for line in out.splitlines() if line.split()[:1] and
             (tmp_path / "grid" / line.split()[0]).is_dir()}
    assert lines["1"][2] == "FAIL" and lines["2"][2] == "PASS"


def test_a_bad_key_is_exit_2_with_the_key_named(stores: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--policy", str(REFERENCE), "--db", str(stores["history"]), "--vary", "clock.max_skw=1s",
                 "--out", str(tmp_path / "grid"), "--workers", "0"])
    assert code == 2
    assert "error: --vary clock.max_skw: clock has no key 'max_skw'; did you mean 'clock.max_skew'?" in capsys.readouterr().err
    assert not (tmp_path / "grid").exists()


def test_a_bad_value_is_exit_2_at_its_line(stores: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--policy", str(REFERENCE), "--db", str(stores["history"]), "--vary", "clock.max_skew=1s,-3",
                 "--out", str(tmp_path / "grid"), "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{REFERENCE}:" in err and "with --vary clock.max_skew=-3: " in err and "1 problem found." in err


def test_a_missing_store_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--policy", str(REFERENCE), "--db", str(tmp_path / "none.duckdb"), "--vary",
                 "hedging.max_depth=1", "--out", str(tmp_path / "grid"), "--workers", "0"])
    assert code == 2 and "no such database" in capsys.readouterr().err


def test_workers_0_stays_in_process_whatever_ray_address_says(monkeypatch: pytest.MonkeyPatch) -> None:
    from safeguards.errors import UsageError
    from safeguards.sweep import Cluster

    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert Cluster.choose(0, None).in_process
    assert Cluster.choose(None, None).address == "10.0.0.1:6379"
    with pytest.raises(UsageError, match="cannot be combined with --ray-address"):
        Cluster.choose(0, "10.0.0.2:6379")


def test_a_group_under_one_is_exit_2(stores: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--policy", str(REFERENCE), "--db", str(stores["history"]), "--vary", "hedging.max_depth=1,2",
                 "--out", str(tmp_path / "grid"), "--workers", "0", "--group", "0"])
    assert code == 2 and "group 0" in capsys.readouterr().err
