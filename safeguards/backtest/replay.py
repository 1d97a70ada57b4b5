"""The backtest: replay stored events in arrival order through the production engine, and record it.

One pass over the events, in batches of Arrow columns, read once (:class:`~.reading.Reading`)
and fed to every policy's :class:`~.lane.Lane`: each lane's engine decides the batch in
the core (columns in, decision and alert columns out, no Python object per event), its
decisions and alerts go to Parquet parts (memory flat in the number of events),
labelled decisions are kept for scoring. :func:`run_backtest` replays one policy (and
with ``compare`` a second, on the same batches); :func:`run_backtests` replays many
policies of a store in the same pass (a sweep's group of variants), each into its own
run folder, the same as its own :func:`run_backtest` would write. At the end, per lane:
``decisions.parquet``, ``alerts.parquet``, ``summary.json``, ``scoring.json`` (labels),
``metrics.json`` (the evidence promotion reads) and, in the store, the ``alerts`` table
and the run's ``decisions.parquet`` behind its ``decisions`` view.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ..collector import rare_collections
from ..errors import UsageError
from ..events import parse_timestamp
from ..policy import CompiledPolicy, load_policy
from .audit import METRICS_FILE
from .batch import SharedBatch
from .compare import Comparison, why_nothing_differs
from .lane import BacktestResult, Lane
from .reading import Reading
from .scoring import find_labels, read_labels
from .source import BATCH, EventSource, Window, from_database, from_log

__all__ = ["BacktestResult", "open_run_folder", "rare_collections", "run_backtest", "run_backtests"]

#: ``progress(events_done, events_total)``; called after each batch.
Progress = Callable[[int, int], None]
#: After each batch, with every lane still going: what else looks at the batch's decisions (the comparison).
Observer = Callable[[list[Lane]], None]
EVENTS_DB = "events.duckdb"
OTHER_DIR = "other"

#: Everything a backtest writes in its folder; cleared first so a re-run leaves nothing stale behind.
OUTPUTS = ("decisions.parquet", "alerts.parquet", "summary.json", "scoring.json", METRICS_FILE, "comparison.json",
           "verdict_changes.parquet", "alert_changes.parquet", EVENTS_DB, EVENTS_DB + ".wal")


def open_run_folder(folder: Path) -> None:
    """Make the run folder (and its parents), or say why it cannot be one, before any work is done."""

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--out {folder}: a file of that name exists; a run writes a folder: "
                         "name a new folder, or remove the file") from None
    except NotADirectoryError:
        raise UsageError(f"--out {folder}: part of that path is a file, not a folder; name a folder") from None
    except OSError as error:
        raise UsageError(f"--out {folder}: cannot make the folder ({error.strerror}); "
                         "check the path is writable") from None
    clear_outputs(folder)


def clear_outputs(folder: Path) -> None:
    for name in OUTPUTS:
        (folder / name).unlink(missing_ok=True)
    if (folder / OTHER_DIR).is_dir():
        clear_outputs(folder / OTHER_DIR)


def _policy(policy: CompiledPolicy | str | Path) -> CompiledPolicy:
    return policy if isinstance(policy, CompiledPolicy) else load_policy(policy)


def open_source(events: str | Path | None, db: str | Path | None, out_dir: Path, window: Window) -> EventSource:

    if events is not None and db is None:
        return from_log(events, out_dir / EVENTS_DB, window)
    if db is not None and events is None:
        return from_database(db, window)
    raise UsageError("give exactly one of --events LOG or --db DB")


def _open_reading(source: EventSource, labels: str | Path | None, started_at: datetime,
                  started_clock: float) -> Reading:
    """The replay's shared part over ``source`` (closed again if the labels do not fit it)."""
    try:
        label_rows = read_labels(labels) if labels is not None else None
        return Reading(source, label_rows, Path(labels) if labels is not None else None, started_at, started_clock)
    except BaseException:
        source.close()
        raise


def _replay(reading: Reading, lanes: list[Lane], progress: Progress | None, batch_size: int,
            observe: Observer | None = None, isolate: bool = False) -> dict[int, Exception]:
    """Feed every lane each batch of the reading's events, in arrival order: the one backtest loop.

    With ``isolate``, a lane whose step fails is discarded and the others go on;
    the errors come back by the lane's index. Otherwise the first error is raised.
    """
    failed: dict[int, Exception] = {}
    going = list(enumerate(lanes))
    done = 0
    for events in reading.source.record_batches(batch_size):
        batch = SharedBatch(events)
        for index, lane in list(going):
            try:
                lane.step(batch, reading.logs)
            except Exception as error:
                if not isolate:
                    raise
                failed[index] = error
                going.remove((index, lane))
                lane.discard()
        if observe is not None:
            observe([lane for _, lane in going])
        done += events.num_rows
        if progress is not None:
            progress(done, reading.total)
        if not going:
            break
    return failed


def run_backtest(
    policy: CompiledPolicy | str | Path,
    out: str | Path,
    *,
    events: str | Path | None = None,
    db: str | Path | None = None,
    labels: str | Path | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    account: str | None = None,
    compare: CompiledPolicy | str | Path | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH,
) -> BacktestResult:
    """Backtest ``policy`` on a log (``events``) or an event store (``db``); write the run folder ``out``.

    Labels default to the simulator's file beside ``events`` when present.
    ``compare`` replays the same events through a second policy: its own run
    goes to ``out/other`` and the differences to ``out/comparison.json``.
    """
    started_clock, started_at = time.perf_counter(), datetime.now(UTC)
    window = Window.parse(start, end, account)
    main_policy = _policy(policy)
    other_policy = _policy(compare) if compare is not None else None
    out_dir = Path(out)
    open_run_folder(out_dir)
    if labels is None and events is not None:
        labels = find_labels(Path(events))
    reading = _open_reading(open_source(events, db, out_dir, window), labels, started_at, started_clock)
    lanes: list[Lane] = []
    comparison: Comparison | None = None
    try:
        for chosen, folder in ((main_policy, out_dir), (other_policy, out_dir / OTHER_DIR)):
            if chosen is not None:
                lanes.append(Lane.open(chosen, folder, reading))
        observe: Observer | None = None
        if other_policy is not None:
            comparison = Comparison(out_dir, main_policy.identity, other_policy.identity)
            observe = lambda ab: comparison.observe(ab[0].decisions, ab[1].decisions, ab[0].alerts, ab[1].alerts)  # noqa: E731
        with rare_collections():
            _replay(reading, lanes, progress, batch_size, observe)
            # Still rare: scoring allocates a list per alert key, and each young collection would
            # trigger, now and then, a full one over the engine's whole state (0.5 s at 1M events).
            results = [lane.finish(reading) for lane in lanes]
            if comparison is not None and other_policy is not None:
                span = results[0].summary["time_span"]
                span_ns = (parse_timestamp(span["last_broker_ts"]) - parse_timestamp(span["first_broker_ts"])
                           if span["first_broker_ts"] and span["last_broker_ts"] else None)
                results[0].comparison = comparison.finish(
                    reading.source.con, why_nothing_differs(main_policy, other_policy, span_ns))
                results[0].other = results[1]
        return results[0]
    except BaseException:
        for lane in lanes:
            lane.discard()
        if comparison is not None:
            comparison.discard()
        raise
    finally:
        for lane in lanes:
            lane.close()
        reading.close()


def run_backtests(
    runs: Sequence[tuple[CompiledPolicy | str | Path, str | Path]],
    *,
    db: str | Path,
    labels: str | Path | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    account: str | None = None,
    progress: Progress | None = None,
    batch_size: int = BATCH,
) -> list[BacktestResult | Exception]:
    """Backtest each ``(policy, out)`` of ``runs`` on the store ``db`` in one pass over its events.

    The store is read, decoded and asked about its logs and labels once, and
    every policy's engine decides the same batches; each run folder gets what
    :func:`run_backtest` of that policy alone would write. One run's failure (a
    folder that cannot be made, an engine that raises) is its own: it comes back
    in that run's place and the others go on. What fails for all (the store, the
    labels) is raised.
    """
    started_clock, started_at = time.perf_counter(), datetime.now(UTC)
    window = Window.parse(start, end, account)
    outcomes: list[BacktestResult | Exception | None] = [None] * len(runs)
    chosen: dict[int, tuple[CompiledPolicy, Path]] = {}
    for index, (policy, out) in enumerate(runs):
        try:
            compiled, folder = _policy(policy), Path(out)
            open_run_folder(folder)
            chosen[index] = (compiled, folder)
        except Exception as error:
            outcomes[index] = error
    reading = _open_reading(from_database(db, window), labels, started_at, started_clock)
    lanes: dict[int, Lane] = {}
    try:
        for index, (compiled, folder) in chosen.items():
            try:
                lanes[index] = Lane.open(compiled, folder, reading)
            except Exception as error:
                outcomes[index] = error
        indexes, going = list(lanes), list(lanes.values())
        with rare_collections():
            failed = _replay(reading, going, progress, batch_size, isolate=True) if going else {}
            for position, error in failed.items():
                outcomes[indexes[position]] = error
                del lanes[indexes[position]]
            for index, lane in list(lanes.items()):
                try:
                    outcomes[index] = lane.finish(reading)
                except Exception as error:
                    outcomes[index] = error
                    lane.discard()
                finally:
                    lane.close()
                    del lanes[index]
    except BaseException:
        for lane in lanes.values():
            lane.discard()
        raise
    finally:
        for lane in lanes.values():
            lane.close()
        reading.close()
    return [outcome if outcome is not None else RuntimeError("not run") for outcome in outcomes]
