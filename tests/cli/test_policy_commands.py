"""The policy commands, as a risk manager runs them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from safeguards.cli import main

REFERENCE = Path(__file__).resolve().parents[2] / "rules" / "multileg_options.yaml"

BROKEN = REFERENCE.read_text().replace("max_depth: 2", "max_dept: 2").replace("window: 24h", "window: 0s")


def test_validate_ok(capsys):
    assert main(["validate", str(REFERENCE)]) == 0
    assert "ok (multileg_options@1#" in capsys.readouterr().out


def test_validate_reports_every_problem_in_every_file(tmp_path, capsys):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(BROKEN)
    second.write_text("format: 1\nmetadata: {name: x, version: 1, owner: me, colour: red}\n")
    assert main(["validate", str(first), str(second), str(REFERENCE)]) == 2
    err = capsys.readouterr().err
    assert f"{first}:" in err and f"{second}:2:" in err
    assert "unknown key 'max_dept' in hedging; did you mean 'max_depth'?" in err
    assert "unknown key 'colour' in metadata" in err
    assert "|   max_dept: 2" in err and "^^^^^^^^" in err  # the offending line, highlighted
    assert "problems found." in err


def test_compile_is_deterministic(tmp_path):
    out1, out2 = tmp_path / "1.json", tmp_path / "2.json"
    assert main(["compile", str(REFERENCE), "-o", str(out1)]) == 0
    assert main(["compile", str(REFERENCE), "-o", str(out2)]) == 0
    assert out1.read_bytes() == out2.read_bytes()
    assert json.loads(out1.read_text())["hash"]


def test_compile_bad_policy_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    assert main(["compile", str(bad), "-o", str(tmp_path / "out.json")]) == 2
    assert not (tmp_path / "out.json").exists()
    err = capsys.readouterr().err
    assert "idempotency.window must be longer than zero" in err  # a sound section is still checked
    assert "did you mean 'max_depth'" in err


def test_diff_in_policy_terms(tmp_path, capsys):
    new = tmp_path / "v2.yaml"
    new.write_text(
        REFERENCE.read_text()
        .replace("version: 1", "version: 2")
        .replace("window: 24h", "window: 12h")
        .replace("      to: [canceled]\n", "      to: [canceled, expired]\n", 1)
    )
    compiled = tmp_path / "v1.json"
    main(["compile", str(REFERENCE), "-o", str(compiled)])
    capsys.readouterr()
    assert main(["diff", str(compiled), str(new)]) == 0
    out = capsys.readouterr().out
    assert "idempotency.window: 24h -> 12h" in out
    assert "metadata.version: 1 -> 2" in out
    assert "transition added: pending_cancel -> expired (rule cancel_completes)" in out


def test_diff_of_a_timeout_change(tmp_path, capsys):
    """A change under clock.timeouts is a duration change (it used to crash formatting the whole table as one)."""
    new = tmp_path / "slower_ack.yaml"
    new.write_text(REFERENCE.read_text().replace("    ack: 5s\n", "    ack: 6s\n").replace("    replace: 5s\n", ""))
    assert main(["diff", str(REFERENCE), str(new)]) == 0
    out = capsys.readouterr().out
    assert "clock.timeouts.ack: 5s -> 6s" in out and "clock.timeouts.replace: 5s -> none" in out


def test_diff_marks_each_change_and_fails_on_a_loosening_when_asked(tmp_path, capsys):
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(REFERENCE.read_text().replace("max_depth: 2", "max_depth: 1"))
    looser = tmp_path / "looser.yaml"
    looser.write_text(REFERENCE.read_text().replace("max_depth: 2", "max_depth: 1").replace("at_most: 0.001", "at_most: 0.01"))
    assert main(["diff", str(REFERENCE), str(stricter), "--fail-on", "loosening"]) == 0
    assert "1 change: 1 tightening\n  tightening  hedging.max_depth: 2 -> 1" in capsys.readouterr().out
    assert main(["diff", str(REFERENCE), str(looser), "--fail-on", "loosening"]) == 1
    out = capsys.readouterr().out
    assert out.index("loosening   promotion.gates[few_false_alerts].at_most: 0.001 -> 0.01") < out.index("  tightening  hedging")
    assert main(["diff", str(REFERENCE), str(stricter), "--fail-on", "change"]) == 1
    assert main(["diff", str(REFERENCE), str(REFERENCE), "--fail-on", "change"]) == 0


def test_every_command_help_says_what_it_does(capsys):
    from safeguards.cli import COMMAND_MODULE
    for command in COMMAND_MODULE:
        with pytest.raises(SystemExit):
            main([command, "--help"])
        usage, _, rest = capsys.readouterr().out.partition("\n\n")
        assert rest.split("\n")[0].strip() and not rest.startswith("positional arguments"), command


def test_diff_of_equal_policies(capsys):
    assert main(["diff", str(REFERENCE), str(REFERENCE)]) == 0
    assert "no change of meaning" in capsys.readouterr().out


def test_schema_is_json(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["$schema"].endswith("2020-12/schema")


def test_explain_reads_like_english(capsys):
    assert main(["explain", str(REFERENCE)]) == 0
    out = capsys.readouterr().out
    assert "An order starts in pending_new" in out
    assert "within 24h of broker time" in out
    assert "down to depth 2" in out and "at most 50% of the size displayed" in out
    assert "clock skew moves everything to reducing" in out


def test_console_script_runs_as_a_process(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    result = subprocess.run([sys.executable, "-m", "safeguards", "validate", str(bad)], capture_output=True, text=True)
    assert result.returncode == 2
    assert f"{bad}:" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["validate", "/no/such/file.yaml"], ["explain", "/no/such/file.yaml"]])
def test_missing_file_is_exit_2(args, capsys):
    assert main(args) == 2
    assert "no such file" in capsys.readouterr().err


def test_compile_into_missing_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["compile", str(REFERENCE), "-o", str(tmp_path / "no" / "such" / "p.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
