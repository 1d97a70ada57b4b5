"""Overlapping the backtest's I/O with the engine, on a second core.

The engine is CPU-bound Python and holds the GIL; DuckDB running a query and
Arrow writing Parquet release it. So a thread that fetches the next Arrow batch
(:func:`prefetched`) or writes the last one (:class:`Worker`) runs beside the
engine instead of before or after it. Queues are short, so memory stays flat: at
most a couple of batches wait on either side.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_DONE = object()
_POLL = 0.1  # seconds a blocked thread waits before checking whether it should stop


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``items``, produced by a background thread up to ``depth`` ahead; its errors re-raised here."""
    ready: queue.Queue[Any] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        ready.put(item, timeout=_POLL)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put(_DONE)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer
            ready.put(error)

    thread = threading.Thread(target=produce, name="backtest-read", daemon=True)
    thread.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=_POLL)
            except queue.Empty:
                pass
        thread.join()


class Worker:
    """One background thread running submitted jobs in order; after an error it skips the rest and re-raises it."""

    def __init__(self, depth: int = 2) -> None:
        self._jobs: queue.Queue[Callable[[], None] | threading.Event | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="backtest-write", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            if isinstance(job, threading.Event):
                job.set()
            elif self._error is None:
                try:
                    job()
                except BaseException as error:  # noqa: BLE001 - re-raised by submit or drain
                    self._error = error

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, job: Callable[[], None]) -> None:
        """Queue ``job`` (waits while the queue is full); raises an earlier job's error first."""
        self._raise()
        self._jobs.put(job)

    def drain(self) -> None:
        """Wait for every queued job; raise the first error."""
        done = threading.Event()
        self._jobs.put(done)
        done.wait()
        self._raise()

    def close(self) -> None:
        """Stop the thread after the queued jobs (errors are dropped: call :meth:`drain` first to see them)."""
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()
