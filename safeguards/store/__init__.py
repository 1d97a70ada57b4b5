"""The event store: canonical events in DuckDB, with where each came from and what was rejected.

Tables (schema version in ``schema_version``; see :mod:`.schema`):

- ``events``: one row per canonical event, typed columns in DESIGN section 4's order,
  timestamps as ``TIMESTAMP_NS`` in UTC, unknown fields in the JSON column ``extra``,
  plus ``ingest_id`` and ``row_number`` (where in which file);
- ``ingests``: one row per log loaded: path, sha256 (of the unpacked bytes), format, rows
  loaded, rejected and skipped, start and end time, adapter options (and compression); a log
  grown since it was loaded keeps its row, with the path, digest and counts of the longer file;
- ``rejected_rows``: every row that is not a valid event, with its place and reason;
- ``log_checkpoints``: the sha256 of each log's first ``bytes`` bytes, every MiB and at the end of
  what was loaded, by which a log grown since, or a part of one, is known (see :mod:`.logs`);
- ``order_states`` (view): each order's last broker event type;
- ``backtest_runs`` and ``alerts``: each backtest run and its alerts; ``decisions`` (view, see
  :mod:`.decisions`): each run's ``decisions.parquet`` (named in ``decision_files``) under its ``run_id``.
"""

from .database import LoadResult, file_digest, open_store
from .ingest import ingest_file
from .reader import read_events
from .schema import SCHEMA_VERSION

__all__ = ["LoadResult", "SCHEMA_VERSION", "file_digest", "ingest_file", "open_store", "read_events"]
