"""A large JSON lines file is read in pieces: the lines, their numbers and their reasons are the whole file's."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.adapters import jsonl
from safeguards.store import database
from safeguards.errors import IngestError
from safeguards.store.progress import LoadProgress

#: Lines as logs have them: JSON, blank, spaces, a CR before the newline, a byte that is not UTF-8, a lone surrogate.
_line = st.one_of(
    st.builds(lambda n: json.dumps({"source": "local", "n": n}).encode(), st.integers(0, 10**6)),
    st.sampled_from([b"", b"  ", b"{\"x\": \"\xc3\xa9\"}", b"not json", b"\xff{bad}", b'{"x": "\\ud800"}']),
    st.binary(max_size=40).filter(lambda b: b"\n" not in b),
).flatmap(lambda line: st.sampled_from([line, line + b"\r"]))


def _lines(path: Path, piece_bytes: int, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    monkeypatch.setattr(database, "GIVE_UP_BYTES", piece_bytes)  # the first piece's size
    monkeypatch.setattr(jsonl, "PIECE_BYTES", piece_bytes)
    con = duckdb.connect()
    table = jsonl.create_lines(con, path, "staged")
    return con.execute(f"SELECT * FROM {table} ORDER BY row_number").fetchall()


@settings(max_examples=60, deadline=None)
@given(st.lists(_line, max_size=40), st.booleans(), st.booleans(), st.integers(1, 64))
def test_pieces_read_as_the_whole_file(
    monkeypatch_module: pytest.MonkeyPatch, lines: list[bytes], bom: bool, final_newline: bool, piece_bytes: int
) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(lines) + (b"\n" if final_newline else b"")
    piece_bytes = max(piece_bytes, max(map(len, lines), default=0) + 4)  # longer lines: see the next test
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        path.write_bytes(data)
        whole = _lines(path, len(data) + 1, monkeypatch_module)
        assert [number for number, _, _ in whole] == list(range(1, data.count(b"\n") + 2))
        assert _lines(path, piece_bytes, monkeypatch_module) == whole


@pytest.mark.parametrize("ends", [b"\n", b""])
def test_a_line_longer_than_a_piece_is_never_held_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ends: bytes
) -> None:
    log = tmp_path / "log.jsonl"
    long = b'{"x": "' + b"y" * 5_000 + b'"}'
    log.write_bytes(b'{"a": 1}\n' + long + ends + (b'{"b": 2}\n' if ends else b""))
    got = _lines(log, 1_000, monkeypatch)
    assert got[0] == (1, '{"a": 1}', None)
    number, head, reason = got[1]
    assert number == 2 and head == long[:jsonl.LONG_LINE_HEAD].decode() + "…"
    assert reason == f"a line of {len(long):,} bytes, longer than any event: not read (its first 200 bytes are kept)"
    assert got[2:] == ([(3, '{"b": 2}', None), (4, "", None)] if ends else [])


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_no_room_for_pieces_says_where_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"source": "local"}\n' * 10)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    with pytest.raises(IngestError, match=r"log.jsonl: cannot write into .*file .*point TMPDIR at a folder"):
        _lines(log, 16, monkeypatch)


def test_the_bar_moves_piece_by_piece(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log.jsonl"
    log.write_bytes(b'{"source": "local"}\n' * 100)  # 2,000 bytes: five pieces of 400
    monkeypatch.setattr(database, "GIVE_UP_BYTES", 400)
    monkeypatch.setattr(jsonl, "PIECE_BYTES", 400)
    con = duckdb.connect()
    seen: list[float] = []
    staged = jsonl.stage(con, log, "staged", LoadProgress(con, seen.append, stage_share=1.0))
    assert staged.rest is not None
    list(staged.rest)
    assert seen == [0.2, 0.4, 0.6, 0.8], seen  # each piece starts where the one before ended
