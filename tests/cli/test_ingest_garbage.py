"""Garbage given as JSON lines: a large file whose first piece holds no JSON object is refused, the store unchanged.

Issue 15 item 7: 1 GB of garbage as ``--format jsonl`` grew to 14.2 GB RSS in
staging. The probe (:data:`safeguards.adapters.jsonl.PROBE_BYTES`) is made small
here so that the files stay small.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from safeguards.adapters import jsonl
from safeguards.cli import main

EVENT = {"source": "local", "type": "submit", "event_id": "s1", "order_id": "o1", "group_id": "g1",
         "recv_ts": "2026-02-21T14:30:00Z"}
PROBE = 4096


@pytest.fixture(autouse=True)
def small_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonl, "PROBE_BYTES", PROBE)


def garbage(lines: int) -> bytes:
    return b"".join(b"\x00\xff garbage %d [1, 2\n" % number for number in range(lines))


def stored_rows(db: Path) -> int:
    """Events in the store (0 if nothing ever created it)."""
    con = duckdb.connect(str(db))
    try:
        return con.execute("SELECT count(*) FROM events").fetchone()[0]
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def test_a_large_file_of_garbage_is_refused_before_staging(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "garbage.jsonl"
    log.write_bytes(garbage(2_000))
    db = tmp_path / "events.duckdb"
    assert main(["ingest", str(log), "--format", "jsonl", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert f"{log}: none of its first " in err and "lines (4,096 bytes) is a JSON object" in err, err
    assert "not a JSON lines event log; nothing was stored" in err and "Traceback" not in err
    assert stored_rows(db) == 0


def test_a_first_line_longer_than_the_probe_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "one-line.jsonl"
    log.write_bytes(b"x" * (3 * PROBE))
    assert main(["ingest", str(log), "--format", "jsonl", "--db", str(tmp_path / "events.duckdb")]) == 2
    assert "no line ends within its first 4,096 bytes" in capsys.readouterr().err


def test_a_log_with_events_among_garbage_is_read_as_before(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "mixed.jsonl"
    log.write_bytes(garbage(50) + json.dumps(EVENT).encode() + b"\n" + garbage(2_000))
    db = tmp_path / "events.duckdb"
    assert main(["ingest", str(log), "--format", "jsonl", "--db", str(db)]) == 0
    assert "1 loaded, 2,050 rejected" in capsys.readouterr().err
    assert stored_rows(db) == 1


def test_a_small_file_of_garbage_is_rejected_line_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "small.jsonl"
    log.write_bytes(garbage(20))  # within the probe: staged, each line rejected with its reason
    assert main(["ingest", str(log), "--format", "jsonl", "--db", str(tmp_path / "events.duckdb")]) == 0
    assert "0 loaded, 20 rejected" in capsys.readouterr().err
