"""The sidecar's JSON lines: orjson where it agrees with json, and the very same answers as json where it does not."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.jsonlines import dumps, loads

_STRICT = json.JSONDecoder(parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))

_scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
            | st.floats(allow_nan=False, allow_infinity=False) | st.text())
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                       max_leaves=12)


def _json_reading(raw: bytes):
    try:
        return "ok", _STRICT.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except ValueError:
        return "error", None


def _our_reading(raw: bytes):
    try:
        return "ok", loads(raw)
    except ValueError:
        return "error", None


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=400)
@given(_values)
def test_valid_json_reads_as_json_reads_it(value):
    raw = json.dumps(value).encode()
    kind, got = _our_reading(raw)
    assert kind == "ok" and _same(got, value)


@settings(max_examples=400)
@given(st.binary(max_size=40) | st.sampled_from([
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}', b'{"a": 123456789012345678901234567890}', b'{"a": "\\ud800"}',
    b'\xef\xbb\xbf{"a": 1}', '{"a": 1}'.encode("utf-16"), b'{"a": 1, "a": 2}', b'{"a": "\xff"}', b"[1, 2", b"",
]))
def test_any_bytes_get_jsons_answer(raw: bytes):
    ours, theirs = _our_reading(raw), _json_reading(raw)
    assert ours[0] == theirs[0]
    if ours[0] == "ok":
        assert _same(ours[1], theirs[1])


@settings(max_examples=400)
@given(st.dictionaries(st.text(), _values, max_size=6))
def test_output_is_ascii_json_of_the_same_value(value):
    text = dumps(value)
    assert text.isascii() and "\n" not in text
    assert _same(json.loads(text), json.loads(json.dumps(value, default=str)))


def test_odd_objects_are_written_as_their_str():
    assert json.loads(dumps({"when": math.pi, "what": {1, 2} and "x", "obj": object.__name__})) == {
        "when": math.pi, "what": "x", "obj": "object"}
    assert json.loads(dumps({"d": __import__("decimal").Decimal("1.5")})) == {"d": "1.5"}
