"""The FIX line reader never raises on any input: whatever it cannot read is a located rejected row."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.adapters.fix import FixReader, encode

FIELD = st.tuples(st.sampled_from(["35", "34", "49", "56", "52", "11", "17", "37", "150", "39", "14", "151", "32",
                                   "31", "38", "43", "122", "36", "123", "45", "41", "555", "654", "583", "x", ""]),
                  st.text(alphabet=st.characters(codec="latin-1"), max_size=12))
PREFIX = st.sampled_from(["", "20260221-14:30:00.000 : ", "2026/02/21 09:30:00.250000 ", "<20260221-14:30:00, "
                          "FIX.4.4:US->BRK, incoming> (", "INFO :: ", "2026-02-21 15:30:00,500+0100 x "])


@st.composite
def lines(draw: st.DrawFn) -> str:
    fields = draw(st.lists(FIELD, max_size=12))
    message = encode([("35", draw(st.sampled_from(["8", "D", "F", "G", "AB", "3", "4", "A", "W", "9"]))), *fields],
                     draw(st.sampled_from(["FIX.4.2", "FIX.4.4", "FIXT.1.1"])),
                     draw(st.sampled_from(["\x01", "|", "^A", ";"])))
    if draw(st.booleans()):  # damage it somewhere
        at = draw(st.integers(0, len(message)))
        message = message[:at] + draw(st.text(alphabet=st.characters(codec="latin-1"), max_size=4)) + message[at + 1:]
    return draw(PREFIX) + message


@settings(max_examples=300, deadline=None)
@given(st.lists(lines(), min_size=1, max_size=6), st.booleans())
def test_any_log_reads_into_rows_or_located_rejections(log: list[str], lenient: bool) -> None:
    reader = FixReader(lenient=lenient)
    reader.read_text("\n".join(log) + "\n")
    for row in reader.rows:
        assert row.get("location")
        if row.get("pre_reason") is None:
            assert row.get("type") is not None
    reader.frame()
