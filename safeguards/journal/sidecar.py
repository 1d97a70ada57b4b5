"""`safeguards run --journal PATH`: start-up of the journaled sidecar, then the one loop of :mod:`safeguards.sidecar`.

Start-up: recover the journal (refusing a foreign, corrupt or locked one), write
the last run's unanswered decisions and alerts again (flagged ``replayed``),
reconcile against the broker's open orders if given, start a new session if
asked, then serve with the journal behind the loop's seam: every complete input
line already waiting on stdin is journaled in ONE :meth:`JournaledEngine.submit`
(one fdatasync), decided, written and flushed, and only then marked answered. So
a caller that has read an ``accept`` knows the intent is on disk, and anything
it sent but never saw answered is either re-sent by it (a ``duplicate`` if it
was journaled) or re-sent by us on restart (``replayed``).
"""

from __future__ import annotations

import json
from pathlib import Path
from collections.abc import Callable
from typing import IO, Any

from ..core import Engine
from ..errors import UsageError
from ..idle_clock import IdleClock
from ..policy.compiled import CompiledPolicy
from ..sidecar import JOURNAL_READ_SIZE, LineReader, follow, serve, summary, write_answers
from ..shadow import Shadow
from ..swap import Follower
from .journaled import JournaledEngine


def serve_journaled(policy: str | CompiledPolicy, journal: str | Path, source: IO[bytes], out: IO[str], err: IO[str], *,
                    broker_open_orders: str | Path | None = None, checkpoint_every: int | None = None,
                    tick: float = 0.0, new_session: bool = False, follower: Follower | None = None,
                    shadow: Callable[[Engine], Shadow] | None = None) -> int:
    """Recover, replay unanswered output, reconcile, start a new session if asked, then serve stdin until EOF or SIGTERM.

    With a `follower`, a journal left on another version than the registry's live one is switched (or the
    switch refused) before serving, and promotions and rollbacks are taken while serving. `shadow` makes the
    shadow (:mod:`safeguards.shadow`) from the recovered engine.
    """
    journaled = JournaledEngine(policy, journal, checkpoint_every=checkpoint_every, follower=follower)
    try:
        print(f"safeguards run: journal {journal}: {journaled.recovery.describe()}", file=err, flush=True)
        write_answers(journaled.recovery.unanswered, out, replayed=True)
        out.flush()
        if journaled.recovery.unanswered:
            journaled.answered()
        if broker_open_orders is not None:
            alerts = journaled.reconcile(load_open_orders(broker_open_orders))
            write_answers([({}, alerts)], out)
            out.flush()
            journaled.answered()
            print(f"safeguards run: reconciled with {broker_open_orders}: {len(alerts)} finding(s)", file=err, flush=True)
        if new_session:  # journaled: a replay after a crash knows the numbering restarted here
            journaled.new_session()
            print("safeguards run: new session: broker message numbers start over", file=err, flush=True)
        if follower is not None and journaled.policy.hash != journaled.requested.hash:
            follower.forced = True  # the journal runs another version than the live one: switch to it now
            follow(journaled, follower, out, err)
        beside = shadow(journaled.engine) if shadow is not None else None
        if beside is not None:
            print(f"safeguards run: {beside.describe()}", file=err, flush=True)
        print(f"safeguards run: {journaled.engine.identity} ready", file=err, flush=True)
        ended_by = serve(journaled, LineReader(source, JOURNAL_READ_SIZE), out, err, IdleClock(tick), follower, beside)
        journaled.shutdown()
        if beside is not None:
            print(beside.finish(), file=err, flush=True)
        print(json.dumps(summary(journaled.engine, ended_by)), file=err, flush=True)
        return 0
    finally:
        journaled.close()


def load_open_orders(path: str | Path) -> list[dict[str, Any]]:
    """The broker's open orders: JSON lines of order_id, broker_order_id, status, cum_qty."""
    orders = []
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise UsageError(f"{path}: cannot read the broker's open orders: {error.strerror}") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            order = json.loads(line)
        except ValueError as error:
            raise UsageError(f"{path}:{number}: not valid JSON: {error}; fix the broker's open-order list") from None
        if type(order) is not dict or not isinstance(order.get("order_id"), str):
            raise UsageError(f"{path}:{number}: each line needs a string order_id; fix the broker's open-order list")
        cum = order.get("cum_qty", 0)
        if type(cum) not in (int, float) or cum < 0:
            raise UsageError(f"{path}:{number}: cum_qty must be a non-negative number; fix the broker's open-order list")
        orders.append(order)
    return orders
