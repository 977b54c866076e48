"""Plain-SQL sessions on the store's ``Database`` (SQLAlchemy, SQLite or PostgreSQL), for
stores written as ``:name``-parameter SQL (``store/todos.py``); events recorded in a
session go into the same transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import sqlalchemy as sa

from autohub.store.database import Database
from autohub.store.events import EventStore


class DatabaseSession:
    """One SQLAlchemy connection (in a transaction, for writes)."""

    def __init__(self, connection: sa.Connection, dialect: str, events: EventStore) -> None:
        self.connection = connection
        self.dialect = dialect
        self._events = events

    def rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(row) for row in self.connection.execute(sa.text(sql), params).mappings()]

    def record_events(self, events: list[dict[str, Any]]) -> None:
        self._events.insert_rows(self.connection, [self._events.prepare(e) for e in events])


class DatabaseSessions:
    """Sessions on ``database``, whose driver errors become the store's, naming the
    action."""

    def __init__(self, database: Database, events: EventStore) -> None:
        self.database = database
        self.events = events

    def write(self, action: str) -> AbstractContextManager[DatabaseSession]:
        return self._session(self.database.begin, action)

    def read(self, action: str) -> AbstractContextManager[DatabaseSession]:
        return self._session(self.database.connect, action)

    @contextmanager
    def _session(
        self, open_connection: Callable[[], AbstractContextManager[sa.Connection]], action: str
    ) -> Iterator[DatabaseSession]:
        try:
            with open_connection() as connection:
                yield DatabaseSession(connection, self.database.dialect, self.events)
        except self.database.errors as exc:
            raise self.database.translate(exc, action) from exc
