"""`safeguards ingest LOG... --db DB.duckdb [--format F]`: load broker logs into the event store."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import duckdb

from ..adapters import FORMATS, STAGE_SHARE, AdapterOptions, guess_format, stager
from ..adapters.columns import parse_mapping
from ..adapters.fix import INTENT_MODES, INTENTS_FROM_SUBMITS
from ..errors import IngestError
from ..store.database import LoadResult, logs_interleave, logs_overlap, one_row, open_store
from ..store.ingest import ingest_file
from ..store.progress import LoadProgress
from .progress import wants_progress

#: Inputs at least this large (in total) get a progress bar when stderr is a terminal.
PROGRESS_BYTES = 32 << 20
#: The summary lists this many rejection reasons, most frequent first; the table has all.
SUMMARY_REASONS = 12


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="load broker event logs (JSON lines, CSV, Parquet, FIX, Alpaca) into DuckDB",
        description="Load broker event logs into a DuckDB event store. Rows that are not valid "
                    "canonical events are kept in the rejected_rows table with the reason; a file "
                    "already loaded (same sha256 of its content) is not loaded twice. A log loaded "
                    "while it was still being written is known when it comes back longer: only its new "
                    "rows are loaded (a last line with no newline yet waits until it has one); a file "
                    "that is the first part of a stored log is already stored. Logs compressed "
                    "with gzip, bzip2 or xz are read as they are.",
    )
    parser.add_argument("logs", nargs="+", metavar="LOG", type=Path, help="log files to load")
    parser.add_argument("--db", required=True, type=Path, metavar="DB.duckdb", help="event database (created if absent)")
    parser.add_argument("--format", choices=FORMATS, help="input format (default: guessed from each file's content)")
    parser.add_argument("--map", dest="mapping", action="append", default=[], metavar="THEIRS=OURS",
                        help="CSV/Parquet: read column THEIRS as canonical field OURS (repeatable)")
    parser.add_argument("--fix-intents", choices=INTENT_MODES, default=INTENTS_FROM_SUBMITS,
                        help="FIX: 'from-submits' (the default) records each of our NewOrderSingles and "
                             "NewOrderMultileg legs as an intent too (orders with none in the log still have "
                             "none); 'none' records no intent (every order is then an orphan)")
    parser.add_argument("--fix-lenient", action="store_true",
                        help="FIX: do not check CheckSum (10) and BodyLength (9), for hand-written examples "
                             "(a specification's); every other check still applies")
    parser.add_argument("--replace", action="store_true",
                        help="remove the stored log each LOG is (the same bytes, the same log longer or shorter, "
                             "else the log loaded from the same path: its events, rejected rows and ingest "
                             "record) and load LOG in its place, e.g. again with the right --map")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    folders = [str(p) for p in args.logs if p.is_dir()]
    if folders:
        raise IngestError(f"{folders[0]} is a folder: name the logs in it (for example {folders[0]}/*.jsonl)")
    missing = [str(p) for p in args.logs if not p.is_file()]
    if missing:
        raise IngestError(f"no such file: {', '.join(missing)}")
    options = AdapterOptions(mapping=parse_mapping(args.mapping), fix_intents=args.fix_intents,
                             fix_lenient=args.fix_lenient)
    plan = [(path, args.format or guess_format(path)) for path in args.logs]
    con = open_store(args.db)
    try:
        results = _ingest_all(con, plan, options, sys.stderr, replace=args.replace)
        _print_summary(con, results, sys.stdout)
    finally:
        con.close()
    return 0


def _ingest_all(
    con: duckdb.DuckDBPyConnection, plan: list[tuple[Path, str]], options: AdapterOptions, err: TextIO,
    replace: bool = False,
) -> list[LoadResult]:
    total = sum(path.stat().st_size for path, _ in plan) or 1
    bar = _wants_bar(err, total)
    done = 0
    results = []
    for number, (path, format) in enumerate(plan, start=1):
        label = f"{path.name} ({format})"
        size = path.stat().st_size
        progress = None
        if bar:
            _draw_bar(err, done / total, label)
            progress = LoadProgress(con, _file_bar(err, done, size, total, label), STAGE_SHARE[format])
        started = time.perf_counter()
        stage = stager(format, options, progress)
        try:
            result = ingest_file(con, path, format, stage, options.describe(), progress, replace=replace)
        except KeyboardInterrupt:
            err.write(("\n" if bar else "") + f"[{number}/{len(plan)}] {path}: interrupted. A load is all or nothing: "
                      f"this file is in the store whole or not at all. Run the same command again to load the "
                      f"rest; files already loaded are skipped.\n")
            raise
        seconds = time.perf_counter() - started
        done += size
        if bar:
            _draw_bar(err, done / total, label)
            err.write("\n")
        place = f"[{number}/{len(plan)}] {path}"
        if result.already_ingested and result.relation == "part":
            err.write(f"{place}: already stored: its {result.shared:,} bytes are the first of ingest "
                      f"{result.ingest_id}'s; skipped\n")
        elif result.already_ingested:
            err.write(f"{place}: already ingested (ingest {result.ingest_id}); skipped\n")
        else:
            counts = (f"{result.loaded:,} loaded, {result.rejected:,} rejected, {result.skipped:,} skipped "
                      f"in {seconds:.2f}s")
            if result.relation == "grown":
                err.write(f"{place} ({format}): ingest {result.ingest_id} grown since it was loaded (its first "
                          f"{result.shared:,} bytes are stored): {counts} of its new rows\n")
            elif result.replaced is not None:
                old, old_path, old_loaded, old_rejected, old_options = result.replaced
                err.write(f"{place} ({format}): replaced ingest {old} ({old_path}: {old_loaded:,} loaded, "
                          f"{old_rejected:,} rejected, options {old_options}): {counts}\n")
            else:
                if replace:
                    err.write(f"{place}: no stored log to replace: loaded as a new one\n")
                err.write(f"{place} ({format}): {counts}\n")
            if result.held_back:
                err.write(f"{place}: its last line has no newline yet (still being written?) and is no valid event: "
                          f"not loaded; ingest the file again once it is complete to load it\n")
        results.append(result)
    return results


def _wants_bar(err: TextIO, total: int) -> bool:
    """A bar for large inputs on a terminal (SAFEGUARDS_PROGRESS=1 forces it, =0 hides it)."""
    return wants_progress(err) and (total >= PROGRESS_BYTES or os.environ.get("SAFEGUARDS_PROGRESS") == "1")


def _file_bar(err: TextIO, before: int, size: int, total: int, label: str) -> Callable[[float], None]:
    """Draws the whole run's bar from how far one file (of ``size`` bytes, after ``before``) has got."""
    return lambda fraction: _draw_bar(err, (before + fraction * size) / total, label)


def _draw_bar(err: TextIO, fraction: float, label: str, width: int = 30) -> None:
    filled = int(width * min(fraction, 1.0))
    err.write(f"\r[{'#' * filled}{' ' * (width - filled)}] {fraction:6.1%} {label}")
    err.flush()


def _print_summary(con: duckdb.DuckDBPyConnection, results: list[LoadResult], out: TextIO) -> None:
    """Rows loaded, rejected by reason, time span, orders and groups of what this run loaded."""
    fresh = [r for r in results if not r.already_ingested and r.ingest_id is not None]
    already = len(results) - len(fresh)
    loaded = sum(r.loaded for r in fresh)
    rejected = sum(r.rejected for r in fresh)
    skipped = sum(r.skipped for r in fresh)
    out.write(f"ingested {len(fresh)} file(s)" + (f", {already} already ingested" if already else "") + "\n")
    out.write(f"rows loaded:   {loaded:,}\n")
    out.write(f"rows rejected: {rejected:,}\n")
    _print_reasons(con, fresh, out)
    skipped_by_what: dict[str, int] = {}
    for result in fresh:
        if result.skipped:
            skipped_by_what[result.skipped_what] = skipped_by_what.get(result.skipped_what, 0) + result.skipped
    for what, count in skipped_by_what.items():
        out.write(f"skipped ({what}): {count:,}\n")
    for result in fresh:
        for note in result.notes:
            out.write(f"note: {Path(result.path).name}: {note}\n" if len(fresh) > 1 else f"note: {note}\n")
    if not fresh:
        return
    ids = ", ".join(str(r.ingest_id) for r in fresh)
    first, last, groups = one_row(
        con, f"SELECT min(coalesce(broker_ts, recv_ts)), max(coalesce(broker_ts, recv_ts)), count(DISTINCT group_id) "
        f"FROM events WHERE ingest_id IN ({ids})"
    )
    out.write(f"time span:     {first} .. {last} (UTC)\n" if first else "time span:     (no events)\n")
    orders, states, no_intent = _order_counts(con, ids)
    out.write(f"orders:        {orders:,}\n")
    out.write(f"groups:        {groups:,}\n")
    if states:
        ranked_states = sorted(states.items(), key=lambda item: (-item[1], item[0]))
        out.write("final broker state per order: " + ", ".join(f"{s} {n:,}" for s, n in ranked_states) + "\n")
    if no_intent:
        out.write(f"orders with broker events but no intent: {no_intent:,}\n")
    if logs_overlap(con):
        out.write("the store's logs overlap in time: a backtest merges them by arrival (recv_ts), "
                  "each log in its own order and with its own message numbering\n")
    elif logs_interleave(con):
        out.write("the store's logs were ingested out of time order: a backtest replays them in time order, "
                  "each log in its own order and with its own message numbering\n")


#: A reason's values (quoted, but not a field's name; after "got"; a closing number), replaced to give its kind.
_VALUES = re.compile(r"(?<!field )'(?:[^'\\]|\\.)*'|\"[^\"]*\"|(?<=got ).*$|-?\d+(?:\.\d+)?$")


def reason_kind(reason: str) -> str:
    """What a rejection reason says, without the values that vary row to row (a field's name stays)."""
    return _VALUES.sub("…", reason)


def _print_reasons(con: duckdb.DuckDBPyConnection, fresh: list[LoadResult], out: TextIO) -> None:
    """Rejection reasons grouped by kind, commonest first, each with its count and its first example and place."""
    if not any(result.rejected for result in fresh):
        return
    ids = ", ".join(str(r.ingest_id) for r in fresh)
    rows = con.execute(
        f"SELECT reason, count(*), arg_min(location, (ingest_id, row_number)), arg_min(path, (ingest_id, row_number)), "
        f"min((ingest_id, row_number)) FROM rejected_rows WHERE ingest_id IN ({ids}) GROUP BY reason").fetchall()
    kinds: dict[str, list] = {}
    for reason, count, location, path, first in sorted(rows, key=lambda row: row[4]):
        kind = kinds.setdefault(reason_kind(reason), [0, reason, location, path])
        kind[0] += count
    ranked = sorted(kinds.items(), key=lambda item: -item[1][0])
    for kind, (count, example, location, path) in ranked[:SUMMARY_REASONS]:
        out.write(f"  {count:>9,}  {example if count == 1 else kind}\n")
        if count > 1 and kind != example:
            out.write(f"  {'':>9}  first: {Path(path).name}: {location}: {example}\n")
    if len(ranked) > SUMMARY_REASONS:
        rest = sum(count for _, (count, *_) in ranked[SUMMARY_REASONS:])
        out.write(f"  {rest:>9,}  ({len(ranked) - SUMMARY_REASONS:,} other kinds of reason: see the rejected_rows table)\n")


def _order_counts(con: duckdb.DuckDBPyConnection, ids: str) -> tuple[int, dict[str, int], int]:
    """(orders, orders by final broker state, orders at the broker with no intent) of these ingests.

    One pass over the orders, where three separate queries took twice as long (0.9 s
    for 5M rows). An intent may be in another log of the store (the journal's), so
    those are looked up too.
    """
    rows = con.execute(
        f"WITH orders AS (SELECT account, order_id, "
        f"arg_max(type, (coalesce(broker_ts, recv_ts), seq)) FILTER (source = 'broker') AS state, "
        f"bool_or(type = 'intent') AS has_intent "
        f"FROM events WHERE ingest_id IN ({ids}) AND order_id IS NOT NULL GROUP BY account, order_id), "
        f"intended_elsewhere AS (SELECT DISTINCT account, order_id FROM events "
        f"WHERE type = 'intent' AND ingest_id NOT IN ({ids})) "
        f"SELECT o.state, NOT o.has_intent AND e.order_id IS NULL, count(*) "
        f"FROM orders AS o LEFT JOIN intended_elsewhere AS e USING (account, order_id) GROUP BY ALL"
    ).fetchall()
    states: dict[str, int] = {}
    no_intent = 0
    for state, unintended, count in rows:
        if state is not None:
            states[state] = states.get(state, 0) + count
            no_intent += count if unintended else 0
    return sum(count for _, _, count in rows), states, no_intent
