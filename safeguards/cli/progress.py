"""Whether a command draws progress: on a terminal, unless ``SAFEGUARDS_PROGRESS`` says otherwise (1: always, 0: never)."""

from __future__ import annotations

import os
from typing import TextIO


def wants_progress(stream: TextIO) -> bool:
    forced = os.environ.get("SAFEGUARDS_PROGRESS")
    return forced == "1" if forced in ("0", "1") else stream.isatty()
