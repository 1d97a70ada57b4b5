"""A journal on a read-only filesystem is refused in words, not with ``OSError: [Errno 30]`` on LOCK (issue 15 item 2).

On a real tmpfs remounted read-only when the test may mount one (as root);
else ``open`` in :mod:`safeguards.journal.files` is replaced by one that
answers EROFS for writing, as a read-only filesystem would. The test prints which.
"""

from __future__ import annotations

import builtins
import errno
import json
import os

import pytest

from safeguards.journal import files
from safeguards.journal.journaled import JournaledEngine
from tests.eventkit import reference_policy
from tests.journal.small_disk import TMPFS, run_journaled_sidecar, small_disk

EVENT = {"source": "local", "type": "intent", "event_id": "i-1", "order_id": "O1", "group_id": "G1", "role": "leg",
         "symbol": "SPY", "side": "buy", "qty": 1, "recv_ts": 1_771_684_200_000_000_000}


@pytest.mark.parametrize("mount", [True, False], ids=["tmpfs-if-allowed", "open-wrapper"])
def test_a_read_only_journal_is_refused_with_what_to_do(mount, tmp_path, monkeypatch, capsys):
    with small_disk(tmp_path / "disk", 8 << 20, monkeypatch, mount=mount) as small:
        journal = small.folder / "journal"
        with JournaledEngine(reference_policy(), journal) as journaled:
            journaled.submit([dict(EVENT)])
            journaled.answered()
        if small.kind == TMPFS:
            small.make_read_only()
        else:
            def read_only_open(path, mode="r", *args, **kwargs):
                if any(flag in mode for flag in "wa+"):
                    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
                return builtins.open(path, mode, *args, **kwargs)
            monkeypatch.setattr(files, "open", read_only_open, raising=False)
        code, outputs, err = run_journaled_sidecar(journal, [json.dumps(EVENT).encode()], monkeypatch, capsys)
    assert code == 2 and outputs == [] and "Traceback" not in err
    assert f"{journal}/LOCK: cannot lock the journal: Read-only file system [EROFS]" in err, err
    assert "remount it read-write" in err
    print(f"\nread-only test on {'a tmpfs remounted read-only' if small.kind == TMPFS else 'an open() answering EROFS'}")
