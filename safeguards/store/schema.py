"""The event store's DuckDB schema and its ordered migrations.

A database records the schema version it was written with. Opening an older one
applies the missing migrations in order, in one transaction; opening one written by
a newer safeguards is refused, because reading tables whose meaning we do not know
would be silently wrong.

Timestamps are ``TIMESTAMP_NS`` holding UTC: nanosecond-exact, as broker clocks
and the canonical JSON allow.

``events`` is a view (since version 5) over tables of one *shape* each: a shape is
the set of canonical columns an ingest stored. ``event_rows`` holds every column;
a file that lacks some (a Parquet or CSV log with broker fields only, a FIX log)
is stored in ``event_rows_<n>``, which has only the columns the file had, and
the view gives the others as NULL (``account`` as ``'default'``, the value ingest
stores for an absent account). DuckDB spends about as much on storing a column of
NULLs as on a column of numbers (0.1-0.15 CPU-s per 5M rows each; a column of
``'default'`` strings 0.3-0.4), so a 5M-row broker file no longer pays about
1.5 CPU-s for the ten columns it does not have. Readers see one relation with
every column, typed as before.

Fields with a closed set of values (``source``, ``type``, ``side``, ``role``)
are DuckDB ``ENUM`` types (since version 6): a small integer per row instead of a
string, which costs ingest about half as much per column and compares the same
(``type = 'fill'``); values read back as text. A canonical type added later needs
a migration that widens its enum.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import duckdb

from ..errors import StoreError
from ..events import BOOL, DEFAULT_ACCOUNT, FIELDS, INT, NUM, STR, TS
from .sql import ident, lit
from .rows import first_row
from .decisions import STORED_DECISIONS, make_view

#: DuckDB column type per canonical field kind.
SQL_TYPES = {STR: "VARCHAR", INT: "BIGINT", NUM: "DOUBLE", TS: "TIMESTAMP_NS", BOOL: "BOOLEAN"}

_EVENT_COLUMNS = ",\n    ".join(f"{name} {SQL_TYPES[kind]}" for name, kind in FIELDS.items())

#: Fields stored as a DuckDB ENUM: (type name, its values), as migration 6 created them. Never edit:
#: a migration that widens an enum creates a new type (see ENUM_TYPES).
ENUM_TYPES_V6: dict[str, tuple[str, tuple[str, ...]]] = {
    "source": ("event_source", ("local", "broker", "market")),
    "type": ("event_type", (
        "intent", "submit", "cancel_request", "pending_new", "new", "partial_fill", "fill", "pending_cancel",
        "canceled", "cancel_rejected", "pending_replace", "replaced", "rejected", "expired", "quote",
    )),
    "side": ("order_side", ("buy", "sell")),
    "role": ("order_role", ("leg", "hedge", "stop")),
}

#: Migration 8's event type: migration 6's values, then ``replace_request`` and ``done_for_day``.
EVENT_TYPE_V8 = ("event_type_v8", (*ENUM_TYPES_V6["type"][1], "replace_request", "done_for_day"))

#: Fields stored as a DuckDB ENUM now: (type name, its values).
ENUM_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {**ENUM_TYPES_V6, "type": EVENT_TYPE_V8}


def column_type(name: str) -> str:
    """The DuckDB type of canonical field ``name`` in the store (now: after every migration)."""
    return ENUM_TYPES[name][0] if name in ENUM_TYPES else SQL_TYPES[FIELDS[name]]


#: Columns stored with a compression of our choosing rather than DuckDB's pick (see
#: migration 4): ``event_id`` is unique per row, where DuckDB's dictionary+FSST
#: analysis and encoding cost 0.5-1 CPU-s more per 5M rows on ingest than zstd
#: (bench/bench_ingest.py), for 0-30% less space.
_COMPRESSION = {"event_id": "zstd"}

_EVENT_COLUMNS_V4 = ",\n    ".join(
    f"{name} {SQL_TYPES[kind]}" + (f" USING COMPRESSION {_COMPRESSION[name]}" if name in _COMPRESSION else "")
    for name, kind in FIELDS.items()
)

_ORDER_STATES = """CREATE VIEW order_states AS
SELECT account, order_id,
       arg_max(type, (broker_ts, seq)) AS state,
       count(*) AS broker_events,
       min(broker_ts) AS first_broker_ts,
       max(broker_ts) AS last_broker_ts
FROM events
WHERE source = 'broker'
GROUP BY account, order_id"""

#: (version, what it does, statements). Append only: never edit a released migration.
MIGRATIONS: Sequence[tuple[int, str, Sequence[str | Callable[[duckdb.DuckDBPyConnection], None]]]] = (
    (
        1,
        "events, ingests and rejected_rows tables",
        (
            """CREATE TABLE ingests (
    ingest_id INTEGER PRIMARY KEY,
    path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL UNIQUE,
    format VARCHAR NOT NULL,
    rows_loaded BIGINT NOT NULL,
    rows_rejected BIGINT NOT NULL,
    rows_skipped BIGINT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    options JSON
)""",
            f"""CREATE TABLE events (
    ingest_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL,
    {_EVENT_COLUMNS},
    extra JSON
)""",
            """CREATE TABLE rejected_rows (
    ingest_id INTEGER NOT NULL,
    path VARCHAR NOT NULL,
    row_number BIGINT,
    location VARCHAR,
    reason VARCHAR NOT NULL,
    raw VARCHAR
)""",
        ),
    ),
    (
        2,
        "order_states view: each order's last broker event",
        (_ORDER_STATES,),
    ),
    (
        3,
        "backtest_runs, decisions and alerts tables: what a backtest decided (issue 6)",
        (
            """CREATE TABLE backtest_runs (
    run_id VARCHAR PRIMARY KEY,
    policy VARCHAR NOT NULL,
    policy_hash VARCHAR NOT NULL,
    data_digest VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    events BIGINT NOT NULL,
    alerts BIGINT NOT NULL,
    out_dir VARCHAR
)""",
            """CREATE TABLE decisions (
    run_id VARCHAR NOT NULL,
    seq BIGINT,
    event_id VARCHAR,
    order_id VARCHAR,
    group_id VARCHAR,
    verdict VARCHAR NOT NULL,
    guard VARCHAR,
    rule VARCHAR,
    reason VARCHAR,
    policy VARCHAR NOT NULL,
    type VARCHAR,
    account VARCHAR,
    recv_ts TIMESTAMP_NS,
    broker_ts TIMESTAMP_NS
)""",
            """CREATE TABLE alerts (
    run_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL,
    guard VARCHAR,
    seq BIGINT,
    order_id VARCHAR,
    group_id VARCHAR,
    broker_ts TIMESTAMP_NS,
    detail VARCHAR,
    policy VARCHAR NOT NULL
)""",
        ),
    ),
    (
        4,
        "events.event_id stored with zstd compression (Parquet ingest 5M rows: about 1 CPU-s less, database 1.17x)",
        (
            f"""CREATE TABLE events_v4 (
    ingest_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL,
    {_EVENT_COLUMNS_V4},
    extra JSON
)""",
            "INSERT INTO events_v4 SELECT * FROM events",
            "DROP VIEW order_states",
            "DROP TABLE events",
            "ALTER TABLE events_v4 RENAME TO events",
            _ORDER_STATES,
        ),
    ),
    (
        5,
        "events becomes a view over one table per shape (the columns an ingest stored): event_rows has them all",
        (
            "ALTER TABLE events RENAME TO event_rows",
            "CREATE VIEW events AS SELECT * FROM event_rows",
        ),
    ),
    (
        6,
        "source, type, side and role stored as ENUM types (Parquet ingest 5M rows: about 0.4 CPU-s less)",
        (
            *(f"CREATE TYPE {type_name} AS ENUM ({', '.join(lit(v) for v in values)})"
              for type_name, values in ENUM_TYPES_V6.values()),
            lambda con: _retype_shape_tables(con, ENUM_TYPES_V6),
        ),
    ),
    (
        7,
        "decisions.ingest_id and alerts.ingest_id: the log of the event (seq repeats across a store's logs)",
        ("ALTER TABLE decisions ADD COLUMN ingest_id INTEGER", "ALTER TABLE alerts ADD COLUMN ingest_id INTEGER"),
    ),
    (
        8,
        "event types replace_request (OrderCancelReplaceRequest) and done_for_day (ExecType 3): type widened",
        (
            f"CREATE TYPE {EVENT_TYPE_V8[0]} AS ENUM ({', '.join(lit(v) for v in EVENT_TYPE_V8[1])})",
            lambda con: _retype_shape_tables(con, {"type": EVENT_TYPE_V8}),
            f"DROP TYPE {ENUM_TYPES_V6['type'][0]}",
        ),
    ),
    (
        9,
        "log_checkpoints: the sha256 of each log's first bytes, so that a log grown since, or a part of one, is "
        "known (issue 15 item 8; logs loaded before are known by their whole digest only)",
        (
            """CREATE TABLE log_checkpoints (
    ingest_id INTEGER NOT NULL,
    bytes BIGINT NOT NULL,
    sha256 VARCHAR NOT NULL,
    record_end BOOLEAN NOT NULL
)""",
        ),
    ),
    (
        10,
        "decisions becomes a view over each run's decisions.parquet (decision_files names them) and the rows "
        "stored before (stored_decisions): a backtest no longer copies every decision into the store",
        (
            f"ALTER TABLE decisions RENAME TO {STORED_DECISIONS}",
            "CREATE TABLE decision_files (run_id VARCHAR PRIMARY KEY, path VARCHAR NOT NULL)",
            make_view,
        ),
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1][0]

#: The table of the shape with every column (``events`` before version 5).
EVENT_ROWS = "event_rows"


def _retype_shape_tables(con: duckdb.DuckDBPyConnection, types: dict[str, tuple[str, tuple[str, ...]]]) -> None:
    """Migrations 6 and 8: these closed-set columns of every shape table become their (new) ENUM type."""
    tables = _shape_tables(con)
    con.execute("DROP VIEW IF EXISTS order_states")
    con.execute("DROP VIEW IF EXISTS events")
    for table, columns in tables.items():
        for name, (type_name, _) in types.items():
            if name in columns:
                con.execute(f"ALTER TABLE {table} ALTER COLUMN {ident(name)} TYPE {type_name}")
    _create_events_view(con, tables)
    con.execute(_ORDER_STATES)


def shape_table(con: duckdb.DuckDBPyConnection, stored: Sequence[str], extra: bool) -> str:
    """The table that holds events of this shape, created (and added to ``events``) if new.

    ``stored``: the canonical fields the ingest stores (the others are NULL in every
    row); ``extra``: whether it stores the ``extra`` column. A shape's table is found
    by its columns, not by its name. Runs in the caller's transaction.
    """
    names = [name for name in FIELDS if name in stored]
    wanted = ["ingest_id", "row_number", *names, *(["extra"] if extra else [])]
    tables = _shape_tables(con)
    for table, columns in tables.items():
        if sorted(columns) == sorted(wanted):
            return table
    taken = set(tables)
    table = next(f"{EVENT_ROWS}_{n}" for n in range(1, len(taken) + 2) if f"{EVENT_ROWS}_{n}" not in taken)
    definitions = ",\n    ".join(
        f"{ident(name)} {column_type(name)}"
        + (f" USING COMPRESSION {_COMPRESSION[name]}" if name in _COMPRESSION else "")
        for name in names
    )
    con.execute(f"""CREATE TABLE {table} (
    ingest_id INTEGER NOT NULL,
    row_number BIGINT NOT NULL{',' if names else ''}
    {definitions}{',' if extra else ''}
    {'extra JSON' if extra else ''}
)""")
    tables[table] = wanted
    _create_events_view(con, tables)
    return table


def shape_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables behind ``events``, one per shape."""
    return list(_shape_tables(con))


def _shape_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Each table behind ``events`` with its column names."""
    rows = con.execute(
        "SELECT table_name, list(column_name ORDER BY column_index) FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = current_schema() "
        f"AND regexp_full_match(table_name, '{EVENT_ROWS}(_[0-9]+)?') "
        "GROUP BY table_name ORDER BY table_name"
    ).fetchall()
    return {table: columns for table, columns in rows}


def _create_events_view(con: duckdb.DuckDBPyConnection, tables: dict[str, list[str]]) -> None:
    """``events`` as the union of every shape table, each missing column filled in.

    A later migration that adds a canonical field must add it to ``event_rows`` and
    create this view again, so that the other shapes give it as NULL.
    """
    branches = []
    for table, present in sorted(tables.items()):
        have = set(present)
        columns = ["ingest_id", "row_number"]
        for name, kind in FIELDS.items():
            if name in have:
                columns.append(ident(name))
            elif name == "account":
                columns.append(f"{lit(DEFAULT_ACCOUNT)} AS account")
            else:
                columns.append(f"NULL::{column_type(name)} AS {ident(name)}")
        columns.append("extra" if "extra" in have else "NULL::JSON AS extra")
        branches.append(f"SELECT {', '.join(columns)} FROM {table}")
    con.execute("CREATE OR REPLACE VIEW events AS\n" + "\nUNION ALL\n".join(branches))


def current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The database's recorded schema version; None for an empty database."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "schema_version" not in tables:
        if tables & {"events", "ingests", "rejected_rows"}:
            raise StoreError(
                "this database has event tables but no schema_version table: "
                "it was not written by safeguards; use a new --db file"
            )
        return None
    row = first_row(con, "SELECT max(version) FROM schema_version")
    return row[0] if row else None


def migrate(con: duckdb.DuckDBPyConnection, path: str, upto: int = SCHEMA_VERSION) -> list[int]:
    """Bring the database to version ``upto``; return the versions applied."""
    version = current_version(con)
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: written by a newer safeguards (schema version {version}; this one knows up to "
            f"{SCHEMA_VERSION}); upgrade safeguards to read it"
        )
    pending = [m for m in MIGRATIONS if (version or 0) < m[0] <= upto]
    if not pending:
        return []
    con.execute("BEGIN TRANSACTION")
    try:
        if version is None:
            con.execute(
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description VARCHAR, applied_at TIMESTAMP)"
            )
        for number, description, statements in pending:
            for statement in statements:
                if callable(statement):  # a step that depends on what the database holds
                    statement(con)
                else:
                    con.execute(statement)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)", [number, description]
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return [m[0] for m in pending]
