"""The journal's str hash seed: a checkpoint is only usable by a process with the seed it was made under.

The idempotency guard holds dedup keys and content fingerprints as Python's
salted ``hash()`` values (cheap on the hot path, compact in memory), so an
engine state taken under one ``PYTHONHASHSEED`` cannot be loaded under another,
and recovery then replays the whole journal (correct, ~3x slower). So a
journal chooses its seed once, when it is created, and keeps it beside its
segments in ``PATH/hash-seed.json``; ``safeguards run --journal`` re-executes
itself under that seed before it touches stdin or the lock (:func:`reexec_argv`).

The seed of a new journal is the creating process's own if it was pinned
(``PYTHONHASHSEED=n``: its checkpoints are then usable without a re-exec),
else a random one. A journal from before this file existed gets one when it
is next opened: its old checkpoint is replayed past once, later ones load.
The segment format is unchanged (an older release ignores the file), so the
journal format number stays the same.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from ..errors import JournalError
from .disk import not_durable
from .files import fsync_folder

SEED_FILE = "hash-seed.json"
REEXEC_MARK = "SAFEGUARDS_HASH_SEED_REEXEC"  # set in the re-executed process: never re-execute twice
_MAX_SEED = 4_294_967_295  # the largest PYTHONHASHSEED Python accepts
_PINNED_AT_IMPORT = os.environ.get("PYTHONHASHSEED")  # read early: later changes to os.environ do not change hash()


class HashSeedWarning(RuntimeWarning):
    """A checkpoint was skipped because this process's str hash seed is not the one it was made under."""


def process_seed() -> int | None:
    """This process's ``PYTHONHASHSEED`` if it was pinned to a number (and honoured), else None (random)."""
    if sys.flags.ignore_environment:
        return None
    return parse_seed(_PINNED_AT_IMPORT)


def parse_seed(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        seed = int(text)
    except ValueError:
        return None  # "random", or anything Python itself would reject
    return seed if 0 <= seed <= _MAX_SEED else None


def journal_seed(folder: Path) -> int | None:
    """The seed recorded in a journal folder, None if it has none yet; JournalError if the file is damaged."""
    path = folder / SEED_FILE
    try:
        content = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise JournalError(f"{path}: not a readable hash seed file ({error}); delete it to choose a new seed "
                           "(the next start-up then replays the whole journal once)") from None
    seed = content.get("hash_seed") if type(content) is dict else None
    if type(seed) is not int or not 0 <= seed <= _MAX_SEED:
        raise JournalError(f"{path}: hash_seed must be an integer from 0 to {_MAX_SEED}, not {seed!r}; delete the "
                           "file to choose a new seed (the next start-up then replays the whole journal once)")
    return seed


def ensure_journal_seed(folder: Path) -> int:
    """The journal's seed, recorded now if it has none: this process's pinned seed, else a random one.

    Created atomically and never replaced: two processes racing to create it
    agree on whichever landed first (the lock is not needed, nor taken).
    """
    seed = journal_seed(folder)
    if seed is not None:
        return seed
    chosen = process_seed()
    if chosen is None:
        chosen = 1 + secrets.randbelow(_MAX_SEED)
    body = json.dumps({
        "hash_seed": chosen,
        "why": "checkpoints hold str hashes: recover under PYTHONHASHSEED=hash_seed to load them, "
               "else the whole journal is replayed (safeguards run --journal does this itself)",
    }, indent=1)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f"{SEED_FILE}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, folder / SEED_FILE)  # fails if another process created it first
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        fsync_folder(folder)
    except OSError as error:
        raise not_durable(folder / SEED_FILE, "record the journal's hash seed", error) from None
    seed = journal_seed(folder)
    assert seed is not None
    return seed


def reexec_argv(folder: Path, arguments: list[str]) -> tuple[list[str], dict[str, str], int] | None:
    """What to ``os.execve`` so this command runs under the journal's seed; None if it already does.

    None as well when re-executing cannot help: already re-executed once, or
    the interpreter ignores the environment (``-E``/``-I``).
    """
    seed = ensure_journal_seed(folder)
    if process_seed() == seed or REEXEC_MARK in os.environ or sys.flags.ignore_environment:
        return None
    environment = {**os.environ, "PYTHONHASHSEED": str(seed), REEXEC_MARK: "1"}
    return [sys.executable, "-m", "safeguards", *arguments], environment, seed
