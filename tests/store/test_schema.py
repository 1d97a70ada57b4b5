"""Schema versions: fresh databases, forward migration, refusal of newer or foreign databases."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from safeguards.errors import StoreError
from safeguards.store.database import open_store
from safeguards.store.schema import MIGRATIONS, SCHEMA_VERSION, migrate


def versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [row[0] for row in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]


def older_store(tmp_path: Path, version: int) -> tuple[Path, duckdb.DuckDBPyConnection]:
    """A database as safeguards left it at schema ``version``, open to add rows as that version stored them."""
    path = tmp_path / f"v{version}.duckdb"
    con = duckdb.connect(str(path))
    migrate(con, str(path), upto=version)
    return path, con


def reopened(path: Path) -> duckdb.DuckDBPyConnection:
    """``path`` opened by today's safeguards: migrated to the current version."""
    con = open_store(path)
    assert versions(con) == list(range(1, SCHEMA_VERSION + 1))
    return con


def test_a_new_database_gets_every_migration_in_order(tmp_path: Path) -> None:
    con = open_store(tmp_path / "new.duckdb")
    assert versions(con) == [m[0] for m in MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    columns = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())
    assert columns["recv_ts"] == "TIMESTAMP_NS" and columns["qty"] == "DOUBLE" and columns["extra"] == "JSON"
    sql = con.execute("SELECT sql FROM duckdb_tables() WHERE table_name = 'event_rows'").fetchone()[0]
    assert "event_id VARCHAR USING COMPRESSION ZSTD" in sql  # migration 4
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = 'events'").fetchone() == (1,)  # 5
    assert columns["type"].startswith("ENUM('intent', 'submit'") and columns["side"] == "ENUM('buy', 'sell')"  # 6


def test_migration_6_turns_every_shape_tables_closed_sets_into_enums_keeping_the_rows(tmp_path: Path) -> None:
    """A version 5 store with two shapes (every column; broker columns only) reads back the same after migration 6."""
    from safeguards.events import CHOICES, TYPES_BY_SOURCE
    from safeguards.store.schema import ENUM_TYPES

    assert {name: set(values) for name, (_, values) in ENUM_TYPES.items()} == {
        "source": set(TYPES_BY_SOURCE), "type": {t for types in TYPES_BY_SOURCE.values() for t in types},
        **{name: set(values) for name, values in CHOICES.items()}}, "a canonical value was added: widen its enum in a new migration"
    path, con = older_store(tmp_path, 5)
    con.execute("INSERT INTO event_rows (ingest_id, row_number, seq, source, type, event_id, order_id, group_id, role, "
                "symbol, side, qty, recv_ts) VALUES (1, 1, 1, 'local', 'intent', 'i1', 'o1', 'g1', 'hedge', 'SPY', "
                "'sell', 3, TIMESTAMP_NS '2026-02-21 14:30:00')")
    table = "event_rows_1"  # as a version 5 ingest of a broker-only file made it (by hand: today's code makes enums)
    con.execute(f"CREATE TABLE {table} (ingest_id INTEGER NOT NULL, row_number BIGINT NOT NULL, seq BIGINT, "
                "source VARCHAR, type VARCHAR, event_id VARCHAR, order_id VARCHAR, cum_qty DOUBLE, leaves_qty DOUBLE, "
                "broker_ts TIMESTAMP_NS, recv_ts TIMESTAMP_NS)")
    con.execute(f"INSERT INTO {table} VALUES (2, 1, 1, 'broker', 'fill', 'x1', 'o1', 3, 0, "
                "TIMESTAMP_NS '2026-02-21 14:30:01', TIMESTAMP_NS '2026-02-21 14:30:01')")
    before = [con.execute(f"SELECT * FROM {name}").fetchall() for name in ("event_rows", table)]
    con.close()

    con = reopened(path)
    assert [con.execute(f"SELECT * FROM {name}").fetchall() for name in ("event_rows", table)] == before
    assert con.execute("SELECT ingest_id, type, side, cum_qty FROM events ORDER BY ingest_id").fetchall() == [
        (1, "intent", "sell", None), (2, "fill", None, 3.0)]
    for name in (table, "event_rows", "events"):
        types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall())
        assert types["type"].startswith("ENUM(") and types["source"].startswith("ENUM("), name
    assert con.execute("SELECT state FROM order_states").fetchall() == [("fill",)]


def test_migration_4_keeps_the_rows_their_order_and_the_order_states_view(tmp_path: Path) -> None:
    path, con = older_store(tmp_path, 3)
    con.execute("INSERT INTO events (ingest_id, row_number, seq, source, type, event_id, order_id, broker_ts, recv_ts) "
                "SELECT 1, i, i, 'broker', 'new', 'E' || i, 'o' || i, TIMESTAMP_NS '2026-02-21 14:30:00', "
                "TIMESTAMP_NS '2026-02-21 14:30:00' FROM range(1, 3001) AS t(i)")
    before = con.execute("SELECT * FROM events").fetchall()
    con.close()

    con = reopened(path)
    assert con.execute("SELECT * FROM events").fetchall() == before
    assert con.execute("SELECT * FROM event_rows").fetchall() == before  # migration 5: the table behind the view
    assert con.execute("SELECT count(*), min(state) FROM order_states").fetchone() == (3000, "new")


def test_an_older_database_is_migrated_forward_keeping_its_rows(tmp_path: Path) -> None:
    path, con = older_store(tmp_path, 1)
    con.execute("INSERT INTO events (ingest_id, row_number, source, type, order_id, recv_ts) "
                "VALUES (1, 1, 'local', 'submit', 'o1', TIMESTAMP_NS '2026-02-21 14:30:00')")
    con.close()

    con = reopened(path)
    assert con.execute("SELECT order_id FROM events").fetchall() == [("o1",)]
    assert con.execute("SELECT count(*) FROM order_states").fetchone() == (0,)  # added by migration 2


def test_reopening_a_current_database_applies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    open_store(path).close()
    con = duckdb.connect(str(path))
    assert migrate(con, str(path)) == []
    assert versions(con) == list(range(1, SCHEMA_VERSION + 1))


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.duckdb"
    open_store(path).close()
    con = duckdb.connect(str(path))
    con.execute("INSERT INTO schema_version VALUES (?, 'from the future', now()::TIMESTAMP)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match=rf"newer safeguards \(schema version {SCHEMA_VERSION + 1}"):
        open_store(path)


def test_a_database_with_event_tables_but_no_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE events (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="no schema_version"):
        open_store(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "text.duckdb"
    path.write_text("not a database\n")
    with pytest.raises(StoreError, match="cannot open"):
        open_store(path)


def test_migration_8_widens_the_event_type_for_replace_requests_and_done_for_day(tmp_path: Path) -> None:
    """A version 7 store (event_type without the two new types) keeps its rows and then takes the new types."""
    path, con = older_store(tmp_path, 7)
    con.execute("INSERT INTO event_rows (ingest_id, row_number, seq, source, type, event_id, order_id, cum_qty, "
                "leaves_qty, broker_ts, recv_ts) VALUES (1, 1, 1, 'broker', 'new', 'x1', 'o1', 0, 3, "
                "TIMESTAMP_NS '2026-02-21 14:30:01', TIMESTAMP_NS '2026-02-21 14:30:01')")
    with pytest.raises(duckdb.ConversionException):
        con.execute("INSERT INTO event_rows (ingest_id, row_number, source, type) VALUES (1, 2, 'broker', 'done_for_day')")
    con.close()

    con = reopened(path)
    con.execute("INSERT INTO event_rows (ingest_id, row_number, seq, source, type, event_id, order_id, cum_qty, "
                "leaves_qty, broker_ts, recv_ts) VALUES (1, 2, 2, 'broker', 'done_for_day', 'x2', 'o1', 0, 0, "
                "TIMESTAMP_NS '2026-02-21 14:30:02', TIMESTAMP_NS '2026-02-21 14:30:02')")
    assert con.execute("SELECT type FROM events ORDER BY seq").fetchall() == [("new",), ("done_for_day",)]
    assert con.execute("SELECT state FROM order_states").fetchall() == [("done_for_day",)]
    assert dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE events)").fetchall())["type"].endswith(
        "'replace_request', 'done_for_day')")


def test_migration_10_keeps_stored_decisions_behind_the_view_and_adds_each_runs_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from safeguards.backtest.sink import DECISIONS_SCHEMA
    from safeguards.store.decisions import make_view, record_decisions

    path, con = older_store(tmp_path, 9)
    con.execute("INSERT INTO decisions (run_id, seq, verdict, policy, ingest_id) VALUES ('old', 1, 'accept', 'p', 1)")
    con.close()

    con = reopened(path)
    assert con.execute("SELECT run_id, seq, verdict FROM decisions").fetchall() == [("old", 1, "accept")]
    run = tmp_path / "run"
    run.mkdir()
    row = {name: [None] for name in DECISIONS_SCHEMA.names} | {"seq": [2], "verdict": ["reject"], "policy": ["p"]}
    pq.write_table(pa.table(row, schema=DECISIONS_SCHEMA), run / "decisions.parquet")
    record_decisions(con, "new", run / "decisions.parquet")
    assert con.execute("SELECT run_id, seq, verdict FROM decisions ORDER BY seq").fetchall() == [
        ("old", 1, "accept"), ("new", 2, "reject")]
    assert con.execute("SELECT path FROM decision_files").fetchall() == [("run/decisions.parquet",)]
    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE decisions)").fetchall())
    assert types["recv_ts"] == "TIMESTAMP_NS" and types["ingest_id"] == "INTEGER"
    (run / "decisions.parquet").unlink()  # a run folder removed: its run leaves the view, the rest still reads
    make_view(con)
    assert con.execute("SELECT run_id FROM decisions").fetchall() == [("old",)]
    con.close()
