"""Where windows are built and rendered: worker processes, or this process.

Both kinds answer the same messages (see :class:`.window.WindowWorker`), one
reply per message, and a worker is only sent a message when it waits for one,
so pipes never fill up in both directions at once. Processes are spawned, not
forked: the parent may hold library threads (polars, pyarrow) a fork would copy
mid-flight.
"""

from __future__ import annotations

import gc
import multiprocessing
import traceback
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Protocol

from ..errors import SimulatorError
from .window import WindowWorker


class Workers(Protocol):
    count: int

    def send(self, worker: int, message: tuple) -> None: ...
    def receive(self) -> tuple[int, tuple]: ...
    def close(self) -> None: ...


class LocalWorkers:
    """One worker, in this process: each message is handled as it is sent."""

    count = 1

    def __init__(self, format_name: str, run_tag: str) -> None:
        self.worker = WindowWorker(format_name, run_tag)
        self.replies: deque[tuple] = deque()

    def send(self, worker: int, message: tuple) -> None:
        self.replies.append(self.worker.handle(message))

    def receive(self) -> tuple[int, tuple]:
        return 0, self.replies.popleft()

    def close(self) -> None:
        self.replies.clear()


def _serve(conn: Connection, format_name: str, run_tag: str) -> None:
    # A window leaves no reference cycles behind (a test checks), so the cyclic collector,
    # woken by the millions of short-lived containers a window makes, only costs time (~8%).
    gc.disable()
    worker = WindowWorker(format_name, run_tag)
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        try:
            reply = worker.handle(message)
        except BaseException:  # noqa: BLE001 - reported to the parent, which raises
            reply = ("error", traceback.format_exc())
        conn.send(reply)


class ProcessWorkers:
    """``count`` spawned processes, each with its own pipe."""

    def __init__(self, count: int, format_name: str, run_tag: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.count = count
        self.conns: list[Connection] = []
        self.processes = []
        for _ in range(count):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child, format_name, run_tag), daemon=True)
            process.start()
            child.close()
            self.conns.append(parent)
            self.processes.append(process)

    def send(self, worker: int, message: tuple) -> None:
        self.conns[worker].send(message)

    def receive(self) -> tuple[int, tuple]:
        ready = wait(self.conns)[0]
        worker = self.conns.index(ready)  # type: ignore[arg-type]
        try:
            reply: tuple = self.conns[worker].recv()
        except (EOFError, OSError):
            raise SimulatorError(f"simulator worker {worker} died (exit code {self.processes[worker].exitcode}); "
                                 "a script using worker processes needs an `if __name__ == '__main__':` guard") from None
        if reply[0] == "error":
            raise SimulatorError(f"simulator worker {worker} failed:\n{reply[1]}")
        return worker, reply

    def close(self) -> None:
        """Stop the workers; one may still be building a window the run turned out not to need."""
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process, conn in zip(self.processes, self.conns):
            process.join()
            conn.close()


def open_workers(count: int, format_name: str, run_tag: str) -> Workers:
    """``count`` worker processes, or this process when ``count`` is 0."""
    if count == 0:
        return LocalWorkers(format_name, run_tag)
    return ProcessWorkers(count, format_name, run_tag)
