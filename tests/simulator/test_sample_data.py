"""The committed samples in data/ are exactly what the commands recorded in data/README.md write."""

from __future__ import annotations

from pathlib import Path

import pytest

from safeguards.cli import main

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.mark.parametrize("name, flags", [
    ("sample.jsonl", ["--seed", "2026", "--events", "20000"]),
    ("clean.jsonl", ["--seed", "2027", "--events", "10000", "--faults", "none"]),
])
def test_sample_is_reproduced_by_its_recorded_command(tmp_path, name, flags):
    assert f"safeguards simulate {' '.join(flags)} -o data/{name}" in (DATA / "README.md").read_text()
    out = tmp_path / name
    assert main(["simulate", *flags, "-o", str(out), "--quiet"]) == 0
    assert out.read_bytes() == (DATA / name).read_bytes()
    labels = name.replace(".jsonl", ".labels.jsonl")
    assert (tmp_path / labels).read_bytes() == (DATA / labels).read_bytes()
