"""A small filesystem for the journal's fault tests: a real tmpfs where the machine allows mounting one, else an emulation.

As root, :func:`small_disk` mounts a tmpfs of the given size (unmounted
afterwards, whatever happens); elsewhere it replaces the journal's writes
(:mod:`safeguards.journal.disk`) with a quota that takes bytes up to its size,
then a short count, then ENOSPC. ``kind`` says which one a test ran on.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from safeguards.cli import main
from safeguards.journal import disk
from tests.eventkit import REFERENCE

TMPFS = "tmpfs"
WRAPPER = "write wrapper"


@dataclass
class Quota:
    """Emulated capacity: every journal write counts against it; the write that crosses it is cut short."""

    capacity: int
    used: int = 0

    def write(self, descriptor: int, data) -> int:
        room = self.capacity - self.used
        if room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = os.write(descriptor, data[:room])
        self.used += taken
        return taken

    def free(self, folder: Path) -> int:
        return max(0, self.capacity - self.used)


@dataclass
class SmallDisk:
    kind: str
    folder: Path
    quota: Quota | None = None

    def make_room(self) -> None:
        """As if the operator freed space: the filesystem grows to 64 MB."""
        if self.quota is not None:
            self.quota.capacity = 64 << 20
        else:
            _mount(["-o", "remount,size=64m", str(self.folder)])

    def make_read_only(self) -> None:
        assert self.kind == TMPFS, "the write wrapper emulates no read-only filesystem"
        _mount(["-o", "remount,ro", str(self.folder)])


def _mount(arguments: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *arguments], capture_output=True, text=True, check=True)


def can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def small_disk(folder: Path, size: int, monkeypatch: pytest.MonkeyPatch, *, mount: bool = True) -> Iterator[SmallDisk]:
    """A filesystem of `size` bytes at `folder`: tmpfs if asked and mounting works here, else the write wrapper."""
    folder.mkdir(parents=True, exist_ok=True)
    if mount and can_mount():
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                                 capture_output=True)
        if mounted.returncode == 0:
            try:
                yield SmallDisk(TMPFS, folder)
            finally:
                subprocess.run(["umount", "-l", str(folder)], capture_output=True)
            return
    quota = Quota(size)
    monkeypatch.setattr(disk, "write", quota.write)
    monkeypatch.setattr(disk, "free_bytes", quota.free)
    yield SmallDisk(WRAPPER, folder, quota)


def run_journaled_sidecar(journal: Path, lines: list[bytes], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                          checkpoint_every: int = 5000) -> tuple[int, list[dict], str]:
    """`safeguards run --journal` over `lines`: its exit code, its output lines, its stderr."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"".join(line + b"\n" for line in lines))))
    code = main(["run", "--policy", str(REFERENCE), "--journal", str(journal), "--tick", "0",
                 "--checkpoint-every", str(checkpoint_every)])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines()], captured.err
