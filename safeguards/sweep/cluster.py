"""Where a sweep's backtests run: Ray (a local runtime it starts, or a cluster), or this process.

Ray is an optional extra (``pip install 'safeguards[scale]'``); ``workers=0``
needs none of it. Tasks are plain functions of small arguments (paths, policy
text), so the data stays where the workers read it and only a run's small
result comes back.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

#: A task's outcome as the driver sees it: the task, and its result or the error it raised.
Outcome = tuple[Any, Any, BaseException | None]


@dataclass(frozen=True)
class Cluster:
    """How to run tasks: ``workers`` processes on a local Ray runtime, a Ray cluster at ``address``, or in-process (0)."""

    workers: int = 2
    address: str | None = None

    @classmethod
    def choose(cls, workers: int | None, address: str | None) -> "Cluster":
        if workers is not None and workers < 0:
            raise UsageError(f"--workers {workers}: give 0 (in this process, no Ray) or a number of workers")
        if workers == 0 and address:
            raise UsageError("--workers 0 runs in this process; it cannot be combined with --ray-address")
        # RAY_ADDRESS names the cluster unless the sweep is asked to stay in this process.
        address = address or (os.environ.get("RAY_ADDRESS") if workers != 0 else None) or None
        return cls((os.cpu_count() or 1) if workers is None else workers, address)

    @property
    def in_process(self) -> bool:
        return self.workers == 0 and self.address is None

    def describe(self) -> str:
        if self.in_process:
            return "in this process"
        return f"Ray cluster at {self.address}" if self.address else f"local Ray runtime, {self.workers} workers"

    def start(self) -> bool:
        """Begin connecting to Ray (starting the local runtime) in the background; :meth:`map` waits for it.

        Starting a local runtime takes seconds (its processes start and import
        Ray), which the driver can spend on its own work before the first task:
        compiling the variants, writing the plan, exporting the stores. In this
        process, or with Ray already up, it does nothing. True when it began a start-up
        (which :func:`release` ends, should the driver give up before any task).
        """
        global _STARTING
        if self.in_process:
            return False
        ray = _ray()
        if ray.is_initialized() or _STARTING is not None:
            return False
        _STARTING = _Starter(lambda: self._connect(ray, warm=True))
        return True

    def map(self, function: Callable[..., Any], tasks: Sequence[Any], poll: Callable[[], None] | None = None,
            every: float = 1.0) -> Iterator[Outcome]:
        """Run ``function(*task)`` for every task; yield ``(task, result, error)`` as each finishes, failures included.

        ``poll`` is called every ``every`` seconds while Ray's tasks run and none
        has finished (in this process a task runs to its end first).
        """
        if self.in_process:
            for task in tasks:
                try:
                    yield task, function(*task), None
                except Exception as error:  # noqa: BLE001 - reported per task; the sweep goes on
                    yield task, None, error
            return
        ray = _ray()
        _started()  # the start-up begun by start(), if any
        self._connect(ray)
        remote = ray.remote(num_cpus=1, max_retries=0)(function)
        pending = {remote.remote(*task): task for task in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=every if poll is not None else None)
            if not done and poll is not None:
                poll()
            for ref in done:
                task = pending.pop(ref)
                try:
                    yield task, ray.get(ref), None
                except ray.exceptions.RayTaskError as error:
                    yield task, None, error.cause if isinstance(error.cause, BaseException) else error
                except ray.exceptions.RayError as error:  # a worker died (out of memory, killed)
                    yield task, None, error

    def _connect(self, ray: Any, warm: bool = False) -> None:
        """Start (or join) the runtime; with ``warm``, a local runtime's workers then import the tasks' code.

        The warm-up tasks are not waited for: each worker imports the backtest's
        modules (a fraction of a second) while the driver is still at its own work,
        rather than when its first task arrives.
        """
        global _STARTED, _WARMING
        if ray.is_initialized():
            return  # a runtime this process started already (a test's, or an earlier sweep's)
        # Ray's own start-up chatter (a local instance started, its token) is not the sweep's report.
        quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
        if self.address:
            ray.init(address=self.address, **quiet)
        else:
            ray.init(num_cpus=self.workers, include_dashboard=False, **quiet)
        _STARTED = True
        if warm and not self.address:
            task = ray.remote(num_cpus=1, max_retries=0)(_warm)
            _WARMING = [task.remote() for _ in range(self.workers)]


#: Whether a sweep in this process started (or connected) Ray, so that :func:`release` leaves others' alone.
_STARTED = False
#: The warm-up tasks of the runtime started last (kept so their results are not dropped under them).
_WARMING: list[Any] = []


def _warm() -> None:
    """On a worker: import what a sweep's or a partition's task runs, before the first such task arrives."""
    from . import partition, tasks  # noqa: F401 - imported for their modules' sake


class _Starter:
    """``connect()`` run in a thread of its own, which then stays alive until :meth:`stop` (or the process ends).

    Ray starts a local runtime's processes to be killed when the thread that
    started them ends (Linux's parent-death signal is per thread), so the thread
    that called ``ray.init`` must outlive the runtime: it waits here, doing nothing.
    """

    def __init__(self, connect: Callable[[], None]) -> None:
        self._connect, self._error = connect, None
        self._ready, self._done = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="safeguards-ray-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._connect()
        except BaseException as error:  # noqa: BLE001 - raised in the driver's thread by wait()
            self._error = error
        finally:
            self._ready.set()
        self._done.wait()

    def wait(self) -> None:
        """Until ``connect()`` has returned; raise what it raised (each time asked)."""
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Let the thread end (after the runtime it started has been shut down)."""
        self._done.set()
        self._thread.join()


#: The background start-up :meth:`Cluster.start` began, while its runtime is up (None: none).
_STARTING: _Starter | None = None


def _started() -> None:
    """Wait for the background start-up, if one is under way; one that failed is forgotten and its error raised."""
    global _STARTING
    starting = _STARTING
    if starting is None:
        return
    try:
        starting.wait()
    except BaseException:
        _STARTING = None
        starting.stop()
        raise


def release() -> None:
    """Stop the Ray runtime a sweep of this process started (or leave the cluster it joined).

    A command exits and Ray goes with it; a notebook's kernel goes on to its
    plots, and a local runtime's idle workers would hold their memory until the
    kernel ends. A runtime someone else started (a test's) is left running.
    """
    global _STARTED, _STARTING
    starting, _STARTING = _STARTING, None
    if starting is not None:
        try:
            starting.wait()  # a start-up still under way ends first; one that failed started nothing
        except BaseException:  # noqa: BLE001 - nothing to stop
            pass
    if _STARTED:
        import ray

        _WARMING.clear()
        ray.shutdown()
        _STARTED = False
    if starting is not None:
        starting.stop()


def _ray() -> Any:
    # Imported in a notebook's kernel, Ray says it misses ipywidgets (a log line) and tqdm that it misses
    # IProgress (a warning): words on the report's page about widgets it does not use.
    widgets = logging.getLogger("ray.widgets.util")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            widgets.disabled = True
            import ray
    except ImportError:
        raise UsageError("a sweep on Ray needs Ray: pip install 'safeguards[scale]' (or run in this process "
                         "with --workers 0)") from None
    finally:
        widgets.disabled = False
    return ray
