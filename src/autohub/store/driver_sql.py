"""SQL on the driver's own cursor, for the few statements on the engine's hot path.

SQLAlchemy Core costs tens of microseconds per statement (compiled-cache lookup, bind
processing, result set-up); a durable step runs five of them. These statements are
written once per dialect and column set, with values adapted here as the tables' types
would adapt them (``schema.UTCDateTime``, ``schema.JSONValue``), so that rows written this
way read back through SQLAlchemy exactly like the others. Transactions, connections and
error translation stay with SQLAlchemy and ``Database``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from autohub.store import evidence
from autohub.store.event_rows import sqlite_time
from autohub.store.schema import JSONDocument, UTCDateTime

Adapter = Callable[[Any], Any]


def _aware_time(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware datetime")
    return moment


def _json_text(value: Any) -> str | None:
    return None if value is None else evidence.compact_json(value)


def same(value: Any) -> Any:
    """The adapter of values the driver takes as they are."""
    return value


def driver_cursor(connection: sa.Connection) -> Any:
    """A cursor of the driver connection under ``connection`` (inside its transaction)."""
    return connection.connection.driver_connection.cursor()  # type: ignore[union-attr]


@lru_cache(maxsize=2)
def for_dialect(dialect: str) -> DriverSql:
    return DriverSql(dialect)


class DriverSql:
    """Statements and value adapters of one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect: str) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no driver SQL for dialect {dialect!r}")
        self.dialect = dialect
        self._mark = "?" if dialect == "sqlite" else "%s"

    def insert(
        self, table: sa.Table, columns: Sequence[str], *, ignore_duplicates: bool = False
    ) -> tuple[str, tuple[Adapter, ...]]:
        """``INSERT INTO table (columns) VALUES (...)`` and the adapters of its values."""
        return _insert(self, table, tuple(columns), ignore_duplicates)

    def update(
        self, table: sa.Table, columns: Sequence[str], where: Sequence[str]
    ) -> tuple[str, tuple[Adapter, ...]]:
        """``UPDATE table SET columns = ... WHERE where = ...`` (values: columns, then where)."""
        return _update(self, table, tuple(columns), tuple(where))

    def owned(self, table: sa.Table) -> str:
        """``SELECT`` the row of ``table`` whose ``id`` and ``owner`` are given, locked
        until the commit (PostgreSQL: ``FOR UPDATE``; SQLite: the write transaction
        already excludes every other writer)."""
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        return (
            f'SELECT 1 FROM {table.name} WHERE "id" = {self._mark} AND "owner" = {self._mark}{lock}'
        )

    def adapter(self, column: sa.Column[Any]) -> Adapter:
        if isinstance(column.type, UTCDateTime):
            return sqlite_time if self.dialect == "sqlite" else _aware_time
        if isinstance(column.type, JSONDocument | sa.JSON):
            return _json_text
        return same

    def placeholder(self, column: sa.Column[Any]) -> str:
        if self.dialect == "postgresql" and isinstance(column.type, JSONDocument | sa.JSON):
            return "CAST(%s AS JSONB)"
        return self._mark


def adapt(adapters: Sequence[Adapter], values: Sequence[Any]) -> tuple[Any, ...]:
    """``values`` as the driver takes them (a list comprehension, and no call for the
    values taken as they are: this runs for every value the engine writes)."""
    return tuple(
        [
            value if adapter is same else adapter(value)
            for adapter, value in zip(adapters, values, strict=True)
        ]
    )


@lru_cache(maxsize=256)
def _insert(
    sql: DriverSql, table: sa.Table, columns: tuple[str, ...], ignore_duplicates: bool
) -> tuple[str, tuple[Adapter, ...]]:
    targets = [table.c[name] for name in columns]
    names = ", ".join(f'"{name}"' for name in columns)
    statement = (
        f"INSERT INTO {table.name} ({names}) "
        f"VALUES ({', '.join(sql.placeholder(column) for column in targets)})"
    )
    if ignore_duplicates:
        statement += " ON CONFLICT DO NOTHING"
    return statement, tuple(sql.adapter(column) for column in targets)


@lru_cache(maxsize=256)
def _update(
    sql: DriverSql, table: sa.Table, columns: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, tuple[Adapter, ...]]:
    targets = [table.c[name] for name in columns]
    keys = [table.c[name] for name in where]
    assignments = ", ".join(f'"{column.name}" = {sql.placeholder(column)}' for column in targets)
    conditions = " AND ".join(f'"{column.name}" = {sql.placeholder(column)}' for column in keys)
    statement = f"UPDATE {table.name} SET {assignments} WHERE {conditions}"
    return statement, tuple(sql.adapter(column) for column in (*targets, *keys))
