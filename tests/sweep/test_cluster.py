"""Ray's start-up in the background while the driver works: its thread, its error, its end."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from safeguards.sweep import cluster
from safeguards.sweep.cluster import Cluster, _Starter

from ..backtesting import REFERENCE


def test_the_starting_thread_outlives_the_start_until_stopped() -> None:
    calls = []
    starter = _Starter(lambda: calls.append(threading.current_thread().name))
    starter.wait()
    assert calls == ["safeguards-ray-start"]
    # The runtime's processes die with the thread that started them: it waits until told.
    assert starter._thread.is_alive()
    starter.stop()
    assert not starter._thread.is_alive()


def test_a_failed_start_is_raised_where_the_driver_waits() -> None:
    def fail() -> None:
        raise RuntimeError("no runtime")

    starter = _Starter(fail)
    for _ in range(2):  # each time asked
        with pytest.raises(RuntimeError, match="no runtime"):
            starter.wait()
    starter.stop()


def test_a_failed_background_start_is_forgotten_once_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise RuntimeError("no runtime")

    monkeypatch.setattr(cluster, "_STARTING", _Starter(fail))
    with pytest.raises(RuntimeError, match="no runtime"):
        cluster._started()
    assert cluster._STARTING is None  # a later sweep tries again
    cluster._started()  # nothing under way: returns


def test_in_this_process_nothing_starts() -> None:
    assert Cluster(0).start() is False
    assert cluster._STARTING is None


def test_with_ray_up_nothing_starts(ray_runtime: None) -> None:
    assert Cluster(2).start() is False
    assert cluster._STARTING is None


def test_a_sweep_starts_its_own_local_runtime_while_the_driver_works(stores: dict[str, Path], tmp_path: Path) -> None:
    """In a process of its own (the tests' runtime is up in this one): the runtime the sweep began serves its tasks."""
    command = [sys.executable, "-m", "safeguards", "sweep", "--policy", str(REFERENCE), "--db", str(stores["history"]),
               "--labels", str(stores["labels"]), "--baseline", str(stores["baseline"]),
               "--baseline-labels", str(stores["baseline_labels"]), "--vary", "hedging.max_depth=1,2", "--out", str(tmp_path / "grid"),
               "--workers", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, "RAY_ADDRESS": ""})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "local Ray runtime, 2 workers: 4 backtests run, 0 already done" in done.stdout, done.stdout
