"""interruptible: Ctrl-C stops DuckDB's running statement, and the signal set-up is left as it was."""

from __future__ import annotations

import os
import signal
import socket
import threading

import duckdb
import pytest

from safeguards.store.interrupt import interruptible

#: Half an hour on this machine if nothing stops it: no machine finishes it before the Ctrl-C, which would
#: then land outside the test. (If the watcher failed, DuckDB's own check stops it within about a second.)
LONG_QUERY = "SELECT count(*) FROM range(400000000000) AS r(i) WHERE hash(i) % 7 = 0"


def _ctrl_c_soon() -> threading.Timer:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.fixture
def ctrl_c_handled() -> object:
    """Python's own SIGINT handler for the test: a shell that started pytest in the background ignores SIGINT,
    and then interruptible rightly does nothing, so the half-hour query would run to its end."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_the_running_statement(ctrl_c_handled: object) -> None:
    """Without it DuckDB may run the statement to its end before it says 'Query interrupted' (a RuntimeError)."""
    con = duckdb.connect()
    timer = _ctrl_c_soon()
    with pytest.raises(KeyboardInterrupt):
        with interruptible(con):
            con.execute(LONG_QUERY).fetchall()
    timer.join()
    assert con.execute("SELECT 42").fetchone() == (42,)  # the connection is still good
    assert signal.set_wakeup_fd(-1) == -1  # and nobody's wakeup fd is left behind


def test_a_wakeup_fd_someone_else_owns_is_left_alone() -> None:
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    theirs = signal.set_wakeup_fd(writer.fileno())
    try:
        with interruptible(duckdb.connect()):
            assert signal.set_wakeup_fd(writer.fileno()) == writer.fileno()
    finally:
        assert signal.set_wakeup_fd(theirs) == writer.fileno()
        reader.close()
        writer.close()


def test_outside_the_main_thread_it_does_nothing() -> None:
    outcome: list[object] = []

    def run() -> None:
        con = duckdb.connect()
        with interruptible(con):
            outcome.append(con.execute("SELECT 1").fetchone())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert outcome == [(1,)]
