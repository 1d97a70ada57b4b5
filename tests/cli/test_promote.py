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

    assert main(["promote", str(REFERENCE), "--evidence", str(labeled.folder), *common]) == 1  # no clean baseline
    assert "FAIL no_critical_alerts_on_clean_traffic" in capsys.readouterr().err

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
    capsys.readouterr()
    assert main(["status", "multileg_options", "--runtime", runtime]) == 0
    status = capsys.readouterr().out
    assert status.startswith(f"live: {pol.identity} since ") and "(rollback by bob)" in status
    assert "  1  " in status and "promote  v1" in status and "  2  " in status and "rollback v1" in status
    assert main(["status", "nothing_here", "--runtime", runtime]) == 2


def test_keys_init_makes_a_pair_and_never_overwrites(tmp_path, capsys):
    key, trusted = tmp_path / "me" / "signing.key", tmp_path / "trusted"
    assert main(["keys", "init", "--key", str(key), "--trusted", str(trusted)]) == 0
    printed = capsys.readouterr().out
    assert key.stat().st_mode & 0o777 == 0o600 and len(list(trusted.glob("*.pub"))) == 1
    assert str(key) in printed and "keep it secret" in printed
    before = key.read_bytes()
    assert main(["keys", "init", "--key", str(key), "--trusted", str(trusted)]) == 2
    assert "never overwritten" in capsys.readouterr().err and key.read_bytes() == before
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    assert main(["keys", "init", "--key", str(blocked / "signing.key"), "--trusted", str(trusted)]) == 2
    assert "cannot write the key pair" in capsys.readouterr().err


def test_promote_without_a_key_says_how_to_make_one(tmp_path, capsys, monkeypatch):
    from safeguards.signing import SIGNING_KEY_ENV

    monkeypatch.setenv(SIGNING_KEY_ENV, str(tmp_path / "absent.key"))
    pol = compile_text(REFERENCE.read_text())
    labeled, clean = evidence(tmp_path / "l", pol), evidence(tmp_path / "c", pol, kind="clean")
    assert main(["promote", str(REFERENCE), "--evidence", str(labeled.folder), "--evidence", str(clean.folder),
                 "--by", "alice", "--reason", "r", "--runtime", str(tmp_path / "runtime")]) == 2
    assert "safeguards keys init" in capsys.readouterr().err
    assert not (tmp_path / "runtime").exists()


def test_promote_takes_a_shadow_folder_beside_a_labeled_run_and_status_says_which_backed_what(tmp_path, capsys):
    from ..test_promotion import policy
    from ..test_shadow_evidence import clean_lines, shadow_run

    v2 = policy(version=2)
    v2.write(tmp_path / "v2.json")
    labeled = evidence(tmp_path / "l", v2)
    (tmp_path / "short").mkdir()
    short = shadow_run(tmp_path / "short", v2, clean_lines(2_000))
    runtime = str(tmp_path / "runtime")
    common = ["--by", "alice", "--reason", "watched a day", "--runtime", runtime]

    assert main(["promote", str(tmp_path / "v2.json"), "--evidence", str(labeled.folder), "--evidence", str(short),
                 *common]) == 1
    err = capsys.readouterr().err
    assert "FAIL no_critical_alerts_on_clean_traffic: not enough evidence: a shadow's live traffic needs 10,000" in err
    assert "Traceback" not in err

    shadow = shadow_run(tmp_path, v2, clean_lines())
    assert main(["promote", str(tmp_path / "v2.json"), "--evidence", str(labeled.folder), "--evidence", str(shadow),
                 *common]) == 0
    assert "PASS no_critical_alerts_on_clean_traffic" in capsys.readouterr().out
    assert main(["status", v2.name, "--runtime", runtime]) == 0
    status = capsys.readouterr().out
    assert ", made by safeguards run --shadow (" in status and "live, 10,000 events over " in status
    assert f"evidence #{labeled.digest[:12]}: labeled, " in status
    assert "    gate no_critical_alerts_on_clean_traffic: judged on #" in status
