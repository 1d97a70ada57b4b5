"""README's terminal transcripts are what the commands print today, not text pasted once.

Each ```text block of README.md that starts with ``$ safeguards ...`` is a
transcript: a ``$`` line is a command, the lines after it are its output (stdout
and stderr, as a terminal shows them), and ``$ echo $?`` names the previous
command's exit code. The commands run from the repository root with this
interpreter, so a changed message, policy or hash fails here, not in front of a
risk manager following the README.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = re.compile(r"```text\n(.*?)```", re.S)


def transcripts() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [block for block in _BLOCK.findall(text) if block.startswith("$ safeguards ")]


def steps(block: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs, in order."""
    pairs: list[tuple[str, str]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], ""))
        else:
            command, output = pairs[-1]
            pairs[-1] = (command, output + line + "\n")
    return pairs


def test_readme_has_transcripts() -> None:
    assert len(transcripts()) >= 2  # validate and diff; a README rewrite that drops them should say so here


@pytest.mark.parametrize("block", transcripts(), ids=lambda block: block.splitlines()[0][2:40])
def test_transcript_matches_what_the_command_prints(block: str) -> None:
    status = None
    for command, expected in steps(block):
        if command == "echo $?":
            assert f"{status}\n" == expected, f"README says exit {expected.strip()}, the command exited {status}"
            continue
        argv = shlex.split(command)
        assert argv[0] == "safeguards", f"README transcripts run safeguards commands only: {command}"
        result = subprocess.run(
            [sys.executable, "-m", "safeguards", *argv[1:]], cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}, timeout=120,
        )
        status = result.returncode
        assert result.stdout + result.stderr == expected, f"README's output of `{command}` is out of date"
