"""A file staged in pieces whose first pieces hold no valid event is given up on, the store unchanged (issue 15 item 7).

:data:`safeguards.store.database.GIVE_UP_BYTES` (and the piece size) are made small
here so that the files stay small; ``bench/bench_ingest_garbage.py`` measures 1 GB.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from safeguards.adapters import jsonl
from safeguards.errors import IngestError
from safeguards.store import database
from tests.ingesting import ingest

EVENT = {"source": "local", "type": "submit", "event_id": "s1", "order_id": "o1", "group_id": "g1",
         "recv_ts": "2026-02-21T14:30:00Z"}
#: Lines that parse as JSON but are no events: they pass the probe for a JSON object.
NOT_EVENTS = (b'{"a": 1, "b": [1, 2]}\n', b"[1, 2, 3]\n", b"12345\n", b'{"source": "nowhere"}\n')
LIMIT = 4096


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "GIVE_UP_BYTES", LIMIT)
    monkeypatch.setattr(jsonl, "PIECE_BYTES", LIMIT)
    monkeypatch.setattr(jsonl, "PROBE_BYTES", LIMIT)


def not_events(size: int) -> bytes:
    lines = b"".join(NOT_EVENTS)
    return lines * (size // len(lines) + 1)


def counts(store: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    return tuple(store.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[return-value]
                 for table in ("ingests", "events", "rejected_rows"))


def test_json_that_is_no_event_is_given_up_on_after_the_first_piece(
    store: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    before = tmp_path / "before.jsonl"
    before.write_text(json.dumps(EVENT) + "\nnot json\n")
    ingest(store, before, "jsonl")
    stored = counts(store)
    log = tmp_path / "garbage.jsonl"
    log.write_bytes(not_events(50 * LIMIT))
    with pytest.raises(IngestError) as refused:
        ingest(store, log, "jsonl")
    message = str(refused.value)
    assert re.match(rf"{re.escape(str(log))}: none of its first [0-9,]+ rows \(([0-9,]+) bytes\)", message), message
    read = int(re.search(r"rows \(([0-9,]+) bytes", message)[1].replace(",", ""))  # type: ignore[index]
    assert LIMIT - 30 <= read <= LIMIT  # the first piece: never the whole file
    assert "is a valid event (the first, line 1: missing field 'source'): not an event log of this format; " \
           "nothing was stored" in message, message
    assert counts(store) == stored == (1, 1, 1)
    assert store.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone() == (0,)


def test_a_line_longer_than_a_piece_is_one_rejected_row(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = tmp_path / "one-line.jsonl"
    log.write_bytes(json.dumps(EVENT).encode() + b'\n{"source": "local", "x": "' + b"x" * (20 * LIMIT) + b"\n")
    result = ingest(store, log, "jsonl")
    assert (result.loaded, result.rejected) == (1, 1)
    reason, raw = store.execute("SELECT reason, raw FROM rejected_rows").fetchone()
    assert reason == f"a line of {20 * LIMIT + 26:,} bytes, longer than any event: not read (its first 200 bytes are kept)"
    assert raw.startswith('{"source": "local", "x": "xxx') and len(raw) == 201


def test_a_valid_event_in_the_first_piece_loads_the_whole_file(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = tmp_path / "mixed.jsonl"
    log.write_bytes(not_events(LIMIT // 2) + json.dumps(EVENT).encode() + b"\n" + not_events(20 * LIMIT))
    lines = log.read_bytes().count(b"\n")
    result = ingest(store, log, "jsonl")
    assert (result.loaded, result.rejected) == (1, lines - 1)
    numbers = [n for (n,) in store.execute("SELECT row_number FROM rejected_rows ORDER BY 1").fetchall()]
    event_line = store.execute("SELECT row_number FROM events").fetchone()[0]
    assert sorted([*numbers, event_line]) == list(range(1, lines + 1))  # every line once, in its place


def test_a_file_within_the_limit_is_rejected_row_by_row(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    log = tmp_path / "small.jsonl"
    log.write_bytes(not_events(LIMIT // 2)[: LIMIT // 2 - 100].rsplit(b"\n", 1)[0] + b"\n")
    result = ingest(store, log, "jsonl")
    assert result.loaded == 0 and result.rejected == log.read_bytes().count(b"\n") > 0
