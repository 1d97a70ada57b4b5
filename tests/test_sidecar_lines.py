"""The sidecar's lines answered by the core (``Engine.answer_lines``) against the Python path: the same bytes out.

Both run the one loop (:func:`safeguards.sidecar.serve`) on the same input; only
who reads, decides and writes each line differs. Inputs: the sample logs, every
real log as the store gives it back (canonical events, nested venue payloads
kept), hostile lines, and generated ones read in chunks of any size.
"""

from __future__ import annotations

import io
import json
import random
import tempfile
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.core import Engine
from safeguards.idle_clock import IdleClock
from safeguards.sidecar import LineReader, Plain, serve
from tests.eventkit import reference_policy

ROOT = Path(__file__).resolve().parents[1]


@cache
def _policy():
    return reference_policy()


class _Chunks(io.RawIOBase):
    """Input read back in chunks of the given sizes (then whatever is left), as a pipe may hand it over."""

    def __init__(self, data: bytes, sizes: list[int]) -> None:
        self._data, self._sizes, self._at = data, list(sizes), 0

    def read1(self, size: int = -1) -> bytes:
        step = self._sizes.pop(0) if self._sizes else len(self._data)
        chunk = self._data[self._at:self._at + max(1, step)]
        self._at += len(chunk)
        return chunk

    read = read1


def answers(data: bytes, native: bool, sizes: list[int] | None = None) -> tuple[str, dict]:
    """What the sidecar writes for `data`, and the engine's counts after it."""
    engine = Engine(_policy())
    out, err = io.StringIO(), io.StringIO()
    source = _Chunks(data, sizes or [])
    ended = serve(Plain(engine), LineReader(source), out, err, IdleClock(0), native=native)
    return out.getvalue(), {"ended": ended, "counts": engine.counts, "alerts": engine.alert_counts,
                            "arrivals": engine.arrivals}


def assert_same(data: bytes, sizes: list[int] | None = None) -> str:
    native, python = answers(data, True, sizes), answers(data, False, sizes)
    if native[0] != python[0]:
        for number, (mine, theirs) in enumerate(zip(native[0].splitlines(), python[0].splitlines()), 1):
            assert mine == theirs, f"output line {number}"
    assert native == python
    return native[0]


@pytest.mark.parametrize("name", ["sample.jsonl", "clean.jsonl"])
def test_the_sample_logs(name: str) -> None:
    text = assert_same((ROOT / "data" / name).read_bytes())
    assert text.count('"type":"decision"') == len((ROOT / "data" / name).read_bytes().splitlines())


def _real_logs() -> list[Path]:
    from tests.ingesting import REAL_DATA

    skip = {"SOURCE.txt", "independent-parse.json", "README.md"}
    return sorted(path for path in REAL_DATA.glob("*/*") if path.is_file() and path.name not in skip)


def _canonical_lines(log: Path, folder: Path) -> bytes:
    """A real log as canonical JSON lines: ingested through its adapter, read back from the store."""
    from safeguards.adapters import AdapterOptions, guess_format, stager
    from safeguards.backtest.source import from_database
    from safeguards.errors import IngestError
    from safeguards.store import ingest_file, open_store

    db = folder / "store.duckdb"
    con = open_store(db)
    try:
        format = guess_format(log)
    except IngestError as error:
        pytest.skip(f"not a format safeguards reads yet: {error}")
    options = AdapterOptions()
    ingest_file(con, log, format, stager(format, options), options.describe())
    con.close()
    events = [event for batch in from_database(db).batches(1000) for event in batch.events]
    return "".join(json.dumps(event) + "\n" for event in events).encode()


@pytest.mark.parametrize("log", _real_logs(), ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_real_log_as_canonical_lines(log: Path, tmp_path: Path) -> None:
    assert_same(_canonical_lines(log, tmp_path))


QUOTE = {"source": "market", "type": "quote", "symbol": "SPX", "bid_px": 1.2, "bid_qty": 10, "ask_px": 1.3,
         "ask_qty": 10, "broker_ts": "2026-02-21T14:30:00Z", "recv_ts": "2026-02-21T14:30:00.001Z"}
INTENT = {"source": "local", "type": "intent", "order_id": "o1", "group_id": "g1", "role": "leg", "symbol": "SPX",
          "side": "buy", "qty": 5, "recv_ts": "2026-02-21T14:30:01Z"}
FILL = {"source": "broker", "type": "fill", "event_id": "e1", "order_id": "o1", "last_qty": 9, "last_px": 1.25,
        "cum_qty": 9, "leaves_qty": 0, "broker_ts": "2026-02-21T14:30:02Z", "recv_ts": "2026-02-21T14:30:02.001Z"}


def _line(event: dict, **changes: object) -> bytes:
    return json.dumps({**event, **changes}).encode()


HOSTILE = [
    b"{not json", b"", b"   ", b"\t\r", b"\x0c", b"[1, 2]", b'"text"', b"12", b"null", b"{}", b"{} x",
    b'{"source": "broker"', b'{"source": NaN}', b'{"qty": Infinity, "source": "local"}', b'{"a": -Infinity}',
    b'{"a": [NaN]}', b"\xff\xfe{}", b'{"order_id": "\xff"}', b"\xef\xbb\xbf" + _line(QUOTE), _line(QUOTE) + b"\r",
    b'{"x": "\\udc00", "source": "local"}', b'{"x": "\\ud83d\\ude00", "source": "local"}',
    b'{"order_id": "\x01"}', b'{"a": 01}', b'{"a": 1.}', b'{"a": 1,}', b'{"a" 1}', b'{1: 2}',
    _line(QUOTE, bid_qty=-1), _line(QUOTE, bid_qty="10"), _line(QUOTE, bid_qty=True), _line(QUOTE, bid_qty=None),
    _line(QUOTE, bid_qty=2**64), _line(QUOTE, bid_qty=-(2**70)), _line(QUOTE, bid_qty=10**300), _line(QUOTE, ask_px=-0.0),
    _line(QUOTE, bid_qty=1e400), _line(QUOTE, bid_px=[1]), _line(QUOTE, bid_px={"a": [1, {"b": None}]}),
    _line(QUOTE, broker_ts=2**63), _line(QUOTE, broker_ts="2026-02-30T00:00:00Z"), _line(QUOTE, broker_ts=1.5),
    _line(QUOTE, seq=2**80, bid_qty=-1), _line(QUOTE, seq=True, bid_qty=-1), _line(QUOTE, seq="7", bid_qty=-1),
    _line(QUOTE, seq=-3), _line(QUOTE, seq=None), _line(QUOTE, source="venue"), _line(QUOTE, type="teleport"),
    _line(INTENT, side="short"), _line(INTENT, role="hedge"), _line(INTENT, order_id="é ü \u2028 \U0001F600 \x7f"),
    _line(INTENT, order_id="tab\there \"quoted\" back\\slash \x7f"), _line(INTENT, group_id=5, qty=-1),
    _line(INTENT, order_id=7), _line(INTENT, unknown={"deep": [[[[]]]]}, more="x" * 5000),
    b'{"source": "local", "source": "broker", "type": "new"}', b'{"seq": 5, "seq": "x", "source": "x"}',
    b'{"\\u0073ource": "local", "type": "submit", "order_id": "o9", "recv_ts": 1}',
    b'{"a": ' + b"[" * 200 + b"]" * 200 + b"}", b'{"a": ' + b"9" * 5000 + b"}",
    _line(INTENT), _line(FILL), _line(FILL), _line(FILL, event_id="e2", cum_qty=12.5), _line(FILL, qty=5.0),
]


def test_hostile_lines_one_at_a_time() -> None:
    for raw in HOSTILE:
        assert_same(raw + b"\n")


@pytest.mark.parametrize("field", [b'"order_id": "\\ud800"', b'"order_id": "a\xed\xa0\x80"',
                                   b'"note": {"\\udfff": 1}', b'"\\ud800": "x"'])
def test_a_lone_surrogate_is_answered_invalid_and_the_stream_goes_on(field: bytes) -> None:
    data = (_line(QUOTE) + b"\n" + b'{"source": "local", "type": "intent", ' + field + b'}\n'
            + _line(INTENT) + b"\n")
    text = assert_same(data)
    decisions = [json.loads(line) for line in text.splitlines() if line.startswith('{"type":"decision"')]
    assert [decision["verdict"] for decision in decisions] == ["accept", "invalid", "accept"]
    assert "line 2: field '" in decisions[1]["reason"] and "unpaired surrogate" in decisions[1]["reason"]


def test_hostile_lines_together_and_the_last_without_its_newline() -> None:
    data = b"\n".join(HOSTILE)
    assert not data.endswith(b"\n")
    text = assert_same(data)
    assert text.count('{"type":"decision"') == sum(1 for raw in HOSTILE if raw.strip())
    assert text.splitlines()[-1].startswith('{"type":"alert"')  # the last line, without a newline, was answered


def test_lines_cut_anywhere_by_the_pipe() -> None:
    data = b"\n".join([_line(QUOTE), *HOSTILE, _line(INTENT)]) + b"\n"
    chance = random.Random(14)
    for _ in range(5):
        assert_same(data, [chance.randint(1, 300) for _ in range(len(data) // 50)])


_text = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["o1", "g1", "e1", "SPX", "buy", "leg"])
_scalar = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats() | _text)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                      max_leaves=6)
_FIELDS = ["seq", "source", "type", "event_id", "order_id", "group_id", "role", "parent_id", "symbol", "side", "qty",
           "last_qty", "last_px", "cum_qty", "leaves_qty", "bid_px", "bid_qty", "ask_px", "ask_qty", "broker_ts",
           "recv_ts", "broker_seq", "poss_dup", "note"]
_base = st.sampled_from([QUOTE, INTENT, FILL])
_changes = st.dictionaries(st.sampled_from(_FIELDS), _value, max_size=3)


def _writing(event: dict, style: int) -> bytes:
    """One generated event as a producer might write it: compact, spaced, ASCII-escaped or not."""
    if style == 0:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    return json.dumps(event, indent=None if style == 1 else 1).replace("\n", " ").encode()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_base, _changes, st.integers(0, 2)), min_size=1, max_size=12),
       st.lists(st.integers(1, 200), max_size=6), st.booleans())
def test_generated_lines(events: list, sizes: list[int], final_newline: bool) -> None:
    lines = [_writing({**base, **changes}, style) for base, changes, style in events]
    assert_same(b"\n".join(lines) + (b"\n" if final_newline else b""), sizes)


def journaled_answers(data: bytes, native: bool, folder: Path,
                      sizes: list[int] | None = None) -> tuple[str, dict, list[bytes]]:
    """What the journaled sidecar writes for `data` (read in pieces of `sizes`), its engine's state, and the
    records it journaled."""
    from safeguards.journal.journaled import JournaledEngine

    out, err = io.StringIO(), io.StringIO()
    with JournaledEngine(_policy(), folder) as journaled:
        serve(journaled, LineReader(_Chunks(data, sizes or [])), out, err, IdleClock(0), native=native)
        state = journaled.engine.state()
        journaled.shutdown()
    records = [line for path in sorted(folder.glob("**/segment-*")) for line in path.read_bytes().splitlines()
               if b'"journal_header"' not in line]
    return out.getvalue(), state, records


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_base, _changes, st.integers(0, 2)), min_size=1, max_size=8),
       st.lists(st.integers(1, 200), max_size=4))
def test_generated_lines_journaled(events: list, sizes: list[int]) -> None:
    """The core seals a block's records (`seal_lines`) as the journal's Python path does, or leaves the block to it."""
    data = b"\n".join(_writing({**base, **changes}, style) for base, changes, style in events) + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        native = journaled_answers(data, True, Path(folder) / "native", sizes)
        python = journaled_answers(data, False, Path(folder) / "python", sizes)
    assert native == python


@pytest.mark.parametrize("lines", ["sample", "hostile"])
def test_journaled_the_same_bytes_out_and_in_the_journal(lines: str, tmp_path: Path) -> None:
    if lines == "sample":
        data = (ROOT / "data" / "sample.jsonl").read_bytes()[:400_000]
    else:  # one hostile line a block: a quarantined one sends its whole block the Python way
        data = b"\n".join([_line(QUOTE), _line(INTENT), *HOSTILE, b'{"source": "control", "type": "answered"}'])
    native = journaled_answers(data, True, tmp_path / "native")
    python = journaled_answers(data, False, tmp_path / "python")
    assert native[0] == python[0]
    assert native[1] == python[1]
    assert native[2] == python[2]
    if lines == "sample":  # the plain sidecar answers the same (a "control" source it calls unknown, not reserved)
        assert native[0] == answers(data, True)[0]
