"""The store's SQLite file through the standard library's ``sqlite3`` alone.

For a process that lives a few milliseconds and writes a row or two, the Claude Code
hook: importing SQLAlchemy costs more than the hook's whole time budget. It writes the
same rows the ``Database`` would (``event_rows`` builds and adapts them), in
``BEGIN IMMEDIATE`` transactions, and refuses a file whose schema is not the one it
was told to expect.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from autohub.errors import MigrationRequired, StoreError, StoreUnavailable
from autohub.redact import Redactor
from autohub.store.event_rows import (
    EVENT_COLUMNS,
    EventLimits,
    build_row,
    sqlite_values,
)

BUSY_TIMEOUT_SECONDS = 30.0
_INSERT_EVENT = (
    f"INSERT INTO automation_events ({', '.join(EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in EVENT_COLUMNS)}) ON CONFLICT DO NOTHING"
)


class SqliteFile:
    """One connection to an existing, migrated SQLite store file."""

    dialect = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        schema_revision: str,
        redactor: Redactor,
        limits: EventLimits | None = None,
    ) -> None:
        if not path.is_file():
            raise StoreUnavailable(f"no database file at {path}")
        try:
            self.connection = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None
            )
            self.connection.row_factory = sqlite3.Row
            self.connection.execute("PRAGMA synchronous=NORMAL")
            found = self.connection.execute("SELECT version_num FROM alembic_version").fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"open {path}: {exc}") from exc
        if [row[0] for row in found] != [schema_revision]:
            self.close()
            raise MigrationRequired(f"{path} is not at schema revision {schema_revision}")
        self.redactor = redactor
        self.limits = limits or EventLimits()

    # -- the TodoSessions interface --------------------------------------------------------

    @contextmanager
    def write(self, action: str) -> Iterator[SqliteFile]:
        try:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"{action}: {exc}") from exc

    @contextmanager
    def read(self, action: str) -> Iterator[SqliteFile]:
        try:
            yield self
        except sqlite3.Error as exc:
            raise StoreError(f"{action}: {exc}") from exc

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(sql, params)]

    def record_events(self, events: list[dict[str, Any]]) -> None:
        """Insert events inside the current transaction."""
        self.connection.executemany(
            _INSERT_EVENT,
            [sqlite_values(build_row(e, "event", self.redactor, self.limits)) for e in events],
        )

    # -- the tracker's EventSink interface -------------------------------------------------

    def add(self, event: dict[str, Any]) -> None:
        with self.write("record an event"):
            self.record_events([event])

    def record(self, event_type: str, project_id: str, status: str, **fields: Any) -> None:
        self.add({"event_type": event_type, "project_id": project_id, "status": status, **fields})

    def close(self) -> None:
        self.connection.close()
