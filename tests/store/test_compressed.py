"""Compressed logs: unpacked for every format, digested as their content, refused whole when broken."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tempfile
from collections.abc import Callable
from pathlib import Path

import duckdb
import polars as pl
import pytest

from safeguards.adapters import guess_format
from safeguards.errors import IngestError
from safeguards.store import ingest as ingest_module
from safeguards.store.compressed import unpacked
from safeguards.store.database import open_store
from safeguards.store.progress import UNPACK_SHARE, LoadProgress
from tests.ingesting import ingest, real_file

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress,
}
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample.jsonl"


@pytest.fixture(autouse=True)
def own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Unpacking happens in a folder of the test's own, to see that nothing is left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def packed(path: Path, kind: str, name: str | None = None) -> Path:
    out = path.with_name(name or f"{path.name}.{kind}")
    out.write_bytes(COMPRESSORS[kind](path.read_bytes()))
    return out


def events_table(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * EXCLUDE (ingest_id) FROM events ORDER BY seq").fetchall()


def loaded_alone(path: Path, format: str, db: Path) -> tuple[list[tuple], tuple[int, int, int]]:
    """The events and (loaded, rejected, skipped) of ``path`` loaded into a store of its own."""
    con = open_store(db)
    try:
        result = ingest(con, path, format)
        return events_table(con), (result.loaded, result.rejected, result.skipped)
    finally:
        con.close()


@pytest.mark.parametrize("kind", COMPRESSORS)
def test_a_compressed_log_loads_as_its_content_and_is_that_log(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, kind: str, own_temp_dir: Path
) -> None:
    plain = tmp_path / "sample.jsonl"
    plain.write_bytes(SAMPLE.read_bytes())
    log = packed(plain, kind)
    assert guess_format(log) == "jsonl"
    result = ingest(store, log, "jsonl")
    assert result.loaded == sum(1 for _ in SAMPLE.open()) and result.rejected == 0
    assert store.execute("SELECT path, options->>'compression' FROM ingests").fetchall() == [(str(log), kind)]
    assert events_table(store) == loaded_alone(plain, "jsonl", tmp_path / "plain.duckdb")[0]
    # The plain log is the same log: it is not loaded again.
    assert ingest(store, plain, "jsonl").already_ingested
    assert list(own_temp_dir.iterdir()) == []


def test_the_same_compressed_file_again_is_known_without_unpacking(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "sample.jsonl.gz"
    log.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    first = ingest(store, log, "jsonl")
    monkeypatch.setattr(ingest_module, "unpacked", lambda *_: pytest.fail("unpacked again"))
    again = ingest(store, log, "jsonl")
    assert again.already_ingested and again.ingest_id == first.ingest_id
    # A different compression of the same content is unpacked, and known by its content.
    monkeypatch.undo()
    recompressed = tmp_path / "sample.jsonl.xz"
    recompressed.write_bytes(lzma.compress(SAMPLE.read_bytes()))
    assert ingest(store, recompressed, "jsonl").already_ingested


#: A real log of each format read from text of its own.
REAL_LOGS = {"fix": "nyse_ccg_examples/ccg_examples.pipe.log",
             "binance": "nexustrader-binance-usdm/ORDER_TRADE_UPDATE.log",
             "okx": "nexustrader-okx-orders/okx_orders.log"}


@pytest.mark.parametrize("format", ["csv", "parquet", "fix", "binance", "okx"])
def test_every_format_loads_the_same_gzipped(tmp_path: Path, format: str) -> None:
    if format in REAL_LOGS:
        plain = tmp_path / f"{format}.log"
        plain.write_bytes(real_file(REAL_LOGS[format]).read_bytes())
    else:
        plain = tmp_path / f"sample.{format}"
        frame = pl.read_ndjson(SAMPLE).head(2000)
        frame.write_csv(plain) if format == "csv" else frame.write_parquet(plain)
    log = packed(plain, "gzip")
    assert guess_format(log) == format
    gzipped = loaded_alone(log, format, tmp_path / "gzipped.duckdb")
    assert gzipped == loaded_alone(plain, format, tmp_path / "plain.duckdb")
    assert gzipped[1][0] > 0


def test_a_log_cut_short_is_refused_whole(store: duckdb.DuckDBPyConnection, tmp_path: Path, own_temp_dir: Path) -> None:
    whole = gzip.compress(SAMPLE.read_bytes())
    log = tmp_path / "cut.jsonl.gz"
    log.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IngestError, match=r"cut.jsonl.gz: is not a whole gzip file \(.*\); nothing was loaded"):
        ingest(store, log, "jsonl")
    assert store.execute("SELECT count(*) FROM ingests").fetchone() == (0,)
    assert store.execute("SELECT count(*) FROM events").fetchone() == (0,)
    assert list(own_temp_dir.iterdir()) == []


def test_a_stream_that_is_not_what_its_header_says_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "bad.jsonl.gz"
    log.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"this is not deflate")
    with pytest.raises(IngestError, match="bad.jsonl.gz: is not a whole gzip file"):
        guess_format(log)


@pytest.mark.parametrize(
    ("magic", "message"),
    [(b"\x28\xb5\x2f\xfd", r"is zstd-compressed, .*zstd -d "), (b"PK\x03\x04", "is a zip archive; unzip it")],
)
def test_kinds_we_cannot_unpack_are_refused_with_what_to_do(
    store: duckdb.DuckDBPyConnection, tmp_path: Path, magic: bytes, message: str
) -> None:
    log = tmp_path / "events.bin"
    log.write_bytes(magic + b"\x00" * 100)
    with pytest.raises(IngestError, match=message):
        guess_format(log)
    with pytest.raises(IngestError, match=message):
        ingest(store, log, "jsonl")


def test_no_room_to_unpack_says_where_and_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder))
    log = tmp_path / "x.jsonl.gz"
    log.write_bytes(gzip.compress(b"{}\n"))
    with pytest.raises(IngestError, match=r"x.jsonl.gz: cannot write into .*file .*point TMPDIR at a folder"):
        with unpacked(log):
            pass


def test_a_plain_text_starting_like_bzip2_is_plain(tmp_path: Path) -> None:
    log = tmp_path / "odd.csv"
    log.write_text("BZh9,source,type\n1,local,submit\n")
    with unpacked(log) as (plain, _, kind):
        assert (plain, kind) == (log, None)


def test_unpacking_takes_the_first_share_of_the_bar_and_moves_the_rest_up() -> None:
    seen: list[float] = []
    progress = LoadProgress(duckdb.connect(), seen.append, stage_share=0.5)
    progress.unpacked(0.5)
    progress.unpacked(1.0)
    progress.staged(0.5)
    progress.storing()
    start = UNPACK_SHARE
    assert seen == pytest.approx([start / 2, start, start + (1 - start) * 0.25, start + (1 - start) * 0.5])
