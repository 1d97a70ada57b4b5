"""Opening the store: a database another process holds is named as such, with that process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from safeguards.errors import StoreError
from safeguards.store.database import open_store

_HOLD = "import sys, time; from safeguards.store.database import open_store; " \
        "con = open_store(sys.argv[1]); print('held', flush=True); time.sleep(60)"


def test_a_store_another_process_holds_says_which_and_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "events.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(StoreError, match=rf"events.duckdb: in use by another process \(PID {holder.pid}, .*\); "
                                             r"wait for it to finish, or stop it"):
            open_store(db)
    finally:
        holder.kill()
        holder.wait()
    open_store(db).close()  # and free again once it is gone
