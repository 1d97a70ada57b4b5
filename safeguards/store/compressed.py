"""Compressed logs (gzip, bzip2, xz): unpacked once to a temporary file, then loaded like any other.

Rotated FIX logs and brokers' daily drops usually come gzipped. DuckDB decompresses
in some of its readers but not all, and the FIX reader is ours, so one place unpacks
for every format. The digest recorded for a log is that of its unpacked bytes: a log
and its gzip are the same log, and load once.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..errors import IngestError
from .database import file_digest
from .scratch import no_room, scratch_folder

_OPENERS: dict[str, Callable[[Path | BinaryIO], io.BufferedIOBase]] = {
    "gzip": lambda path: gzip.open(path, "rb"),
    "bzip2": lambda path: bz2.open(path, "rb"),
    "xz": lambda path: lzma.open(path, "rb"),
}
#: What a broken stream of each kind raises (a truncated one raises EOFError).
_BROKEN = (OSError, EOFError, zlib.error, lzma.LZMAError)
_CHUNK = 1 << 20


def compression_of(path: Path) -> str | None:
    """``gzip``, ``bzip2``, ``xz`` or None, from the file's first bytes; IngestError for kinds we cannot unpack."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(10)
    except OSError as error:
        raise IngestError(f"{path}: cannot read ({error.strerror})") from None
    if magic.startswith(b"\x1f\x8b"):
        return "gzip"
    if magic[:3] == b"BZh" and magic[3:4].isdigit() and magic[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if magic.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raise IngestError(f"{path}: is zstd-compressed, which safeguards cannot unpack; "
                          f"unpack it first (zstd -d {path}) and load the result")
    if magic.startswith(b"PK\x03\x04"):
        raise IngestError(f"{path}: is a zip archive; unzip it and load the logs inside")
    return None


def packed_digest(path: Path) -> str | None:
    """sha256 of a compressed file's own bytes (None for a plain one): a second load of the same
    compressed file is found by it without unpacking."""
    return file_digest(path) if compression_of(path) is not None else None


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of the log, unpacked if it is compressed."""
    kind = compression_of(path)
    if kind is None:
        with open(path, "rb") as handle:
            return handle.read(size)
    try:
        with _OPENERS[kind](path) as handle:
            return handle.read(size)
    except _BROKEN as error:
        raise _broken(path, kind, error) from None


@contextlib.contextmanager
def unpacked(path: Path, report: Callable[[float], None] | None = None) -> Iterator[tuple[Path, str, str | None]]:
    """(plain file, sha256 of its bytes, compression): ``path`` itself when it is not compressed, else a
    temporary unpacked copy that is removed afterwards. ``report`` hears the share of ``path`` read so far."""
    kind = compression_of(path)
    if kind is None:
        yield path, file_digest(path), None
        return
    size = path.stat().st_size or 1
    with scratch_folder(path, "unpack") as folder:
        plain = folder / (path.stem if path.suffix else path.name)
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as raw, _OPENERS[kind](raw) as packed, open(plain, "wb") as out:
                while chunk := packed.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    if report is not None:
                        report(raw.tell() / size)
        except _BROKEN as error:
            if isinstance(error, OSError) and error.errno is not None:  # the disk, not the stream
                raise no_room(path, folder, error) from None
            raise _broken(path, kind, error) from None
        yield plain, digest.hexdigest(), kind


def _broken(path: Path, kind: str | None, error: BaseException) -> IngestError:
    reason = str(error) or type(error).__name__
    return IngestError(f"{path}: is not a whole {kind} file ({reason}); nothing was loaded from it. "
                       f"A log still being written or copied is often cut short: take a complete copy")
