"""Scratch space in TMPDIR for a log being loaded: its unpacked copy, or the pieces of a large file.

A full or missing TMPDIR is a risk manager's problem to fix, not a traceback: both
helpers turn it into an IngestError that says where and what to do.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import IngestError


@contextlib.contextmanager
def scratch_folder(log: Path, purpose: str) -> Iterator[Path]:
    """A new folder in TMPDIR for work on ``log``, removed with everything in it afterwards."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"safeguards-{purpose}-"))
    except OSError as error:
        raise no_room(log, tempfile.gettempdir(), error) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def no_room(log: Path, folder: Path | str, error: OSError) -> IngestError:
    """The error for a write into scratch space that failed."""
    return IngestError(f"{log}: cannot write into {folder} ({error.strerror}); "
                       f"point TMPDIR at a folder with room for the log")
