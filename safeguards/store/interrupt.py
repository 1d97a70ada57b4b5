"""Ctrl-C during a long DuckDB statement stops the statement at once, not when it ends.

Python runs its SIGINT handler only between bytecodes of the main thread, and the main
thread sits inside DuckDB for the whole of a statement (a 5M-row load is one): the
KeyboardInterrupt came when the work was done, up to the statement's whole length late.
While such statements run, a thread waits on Python's signal wakeup fd and asks DuckDB
to stop (``interrupt()``); the main thread then gets a KeyboardInterrupt straight away
(DuckDB says it in two other ways, which are turned into that).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Iterator

import duckdb


@contextlib.contextmanager
def interruptible(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Within the block, SIGINT interrupts ``con``'s running statement and raises KeyboardInterrupt.

    A no-op outside the main thread, when SIGINT has no Python handler, or when someone
    else (an asyncio loop) already owns the wakeup fd: theirs is left alone.
    """
    if threading.current_thread() is not threading.main_thread() or not callable(signal.getsignal(signal.SIGINT)):
        yield
        return
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    previous = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    if previous != -1:
        signal.set_wakeup_fd(previous)
        reader.close()
        writer.close()
        yield
        return

    def watch() -> None:
        while received := reader.recv(64):  # b"" once the writer is closed
            if signal.SIGINT in received:
                con.interrupt()

    watcher = threading.Thread(target=watch, name="safeguards-interrupt", daemon=True)
    watcher.start()
    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except RuntimeError as error:  # DuckDB's word when it saw the pending signal itself
        if str(error) != "Query interrupted":
            raise
        raise KeyboardInterrupt from None
    finally:
        signal.set_wakeup_fd(-1)
        writer.close()
        watcher.join()
        reader.close()
