"""promote and rollback from the command line: exit 0 promoted, 1 gates failed, 2 bad input."""

from pathlib import Path

from safeguards import compile_text
from safeguards.cli import main

from ..test_promotion import REFERENCE, evidence


def test_promote_and_rollback_exit_codes(tmp_path, capsys):
    pol = compile_text(REFERENCE.read_text())
    labeled, clean = evidence(tmp_path / "l", pol), evidence(tmp_path / "c", pol, kind="clean")
    runtime = str(tmp_path / "runtime")
    common = ["--by", "alice", "--reason", "first", "--runtime", runtime]

    failing = evidence(tmp_path / "bad", pol, recall=0.1, recall_by_fault_kind={"duplicate": 0.1})
    assert main(["promote", str(REFERENCE), "--evidence", str(failing.folder), "--evidence", str(clean.folder), *common]) == 1
    assert "FAIL detects_every_fault_kind" in capsys.readouterr().err

    assert main(["promote", str(REFERENCE), "--evidence", str(tmp_path / "nowhere"), *common]) == 2
    assert "no metrics.json" in capsys.readouterr().err

    assert main(["promote", str(REFERENCE), "--evidence", str(labeled.folder), "--evidence", str(clean.folder), *common]) == 0
    out = capsys.readouterr().out
    assert f"promoted {pol.identity}" in out and "PASS no_critical_alerts_on_clean_traffic" in out

    assert main(["explain", str(Path(runtime) / "multileg_options")]) == 0
    assert pol.identity in capsys.readouterr().out

    assert main(["rollback", "multileg_options", "--to", "3", "--by", "bob", "--reason", "x", "--runtime", runtime]) == 2
    assert "never promoted" in capsys.readouterr().err
    assert main(["rollback", "multileg_options", "--to", "1", "--by", "bob", "--reason", "re-point", "--runtime", runtime]) == 0
