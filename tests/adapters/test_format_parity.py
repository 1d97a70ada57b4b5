"""The same events written as JSON lines, CSV and Parquet are stored alike: every field, every extra, every row."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from safeguards.events import BOOL, FIELDS, INT, NUM, STR, TS, format_timestamp, parse_timestamp
from safeguards.store.database import open_store
from tests.ingesting import ingest, rows
from tests.test_events import valid_events

_POLARS = {STR: pl.String, INT: pl.Int64, NUM: pl.Float64, TS: pl.Datetime("ns", "UTC"), BOOL: pl.Boolean}
_EXTRAS = ("venue", "note")


def _write_jsonl(events: list[dict[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(event) + "\n" for event in events), encoding="utf-8")


def _write_parquet(events: list[dict[str, Any]], path: Path) -> None:
    """Typed columns, as a producer with a schema writes them: timestamps as instants, numbers as doubles."""
    def typed(name: str, value: Any) -> Any:
        if value is None or name not in FIELDS:
            return value
        kind = FIELDS[name]
        return parse_timestamp(value) if kind == TS else float(value) if kind == NUM else value

    names = [name for name in (*FIELDS, *_EXTRAS) if any(name in event for event in events)]
    pl.DataFrame([pl.Series(name, [typed(name, event.get(name)) for event in events],
                            dtype=_POLARS[FIELDS[name]] if name in FIELDS else pl.String)
                  for name in names]).write_parquet(path)


def _write_csv(events: list[dict[str, Any]], path: Path) -> None:
    """Text, as a spreadsheet export: RFC 3339 timestamps, numbers as Python writes them, true/false."""
    def text(name: str, value: Any) -> str | None:
        if value is None:
            return None
        if name in FIELDS and FIELDS[name] == TS:
            return format_timestamp(parse_timestamp(value))
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else repr(value)

    names = [name for name in (*FIELDS, *_EXTRAS) if any(name in event for event in events)]
    pl.DataFrame({name: pl.Series(name, [text(name, event.get(name)) for event in events], dtype=pl.String)
                  for name in names}).write_csv(path)


def _stored(path: Path, format: str) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as folder:
        con = open_store(Path(folder) / "events.duckdb")
        try:
            result = ingest(con, path, format)
            assert result.rejected == 0, (format, result.reasons)
            stored = rows(con, "SELECT * EXCLUDE (ingest_id) REPLACE (extra::VARCHAR AS extra) FROM events ORDER BY seq")
            return [{**row, "extra": json.loads(row["extra"]) if row["extra"] else None} for row in stored]
        finally:
            con.close()


#: What CSV can carry: printable text, spaces inside but not at the edges (a CSV reader trims those).
_csv_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x2FFF), min_size=1, max_size=10).filter(
    lambda text: text == text.strip())


@settings(max_examples=25, deadline=None)
@given(st.lists(valid_events(), min_size=1, max_size=30), st.data())
def test_json_lines_csv_and_parquet_store_the_same_events(tmp_path_factory, events: list[dict[str, Any]], data) -> None:
    for event in events:  # CSV cannot tell '' from nothing, or keep edge spaces: give it text it can carry
        for name, value in event.items():
            if isinstance(value, str) and FIELDS.get(name, STR) == STR and name not in ("source", "type", "side", "role"):
                event[name] = data.draw(_csv_text)
    folder = tmp_path_factory.mktemp("parity")
    _write_jsonl(events, folder / "e.jsonl")
    _write_csv(events, folder / "e.csv")
    _write_parquet(events, folder / "e.parquet")
    from_jsonl = _stored(folder / "e.jsonl", "jsonl")
    assert len(from_jsonl) == len(events)
    assert _stored(folder / "e.parquet", "parquet") == from_jsonl
    assert _stored(folder / "e.csv", "csv") == from_jsonl
