"""The archive and the batch reports on one pair of engines: `LogArchive` and
`LogReports` in the same database (SQLite has one writer: one engine, not two)."""

from __future__ import annotations

from inferline.adapters.sql.logs.archive import SqlLogArchive
from inferline.adapters.sql.logs.reports import SqlLogReports


class SqlLogStore(SqlLogArchive, SqlLogReports):
    """Both log ports on the tables of migration 0010; `start` and `close` are safe to
    call once per port (the second call finds the engines already there, or gone)."""
