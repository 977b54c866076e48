"""SQL on the driver's own cursor, for the few statements on the engine's hot path.

SQLAlchemy Core costs tens of microseconds per statement (compiled-cache lookup, bind
processing, result set-up); a durable step runs five of them. These statements are
written once per dialect and column set, with values adapted here as the tables' types
would adapt them (``schema.UTCDateTime``, ``schema.JSONValue``), so that rows written this
way read back through SQLAlchemy exactly like the others. Transactions, connections and
error translation stay with SQLAlchemy and ``Database``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from autohub.store import evidence
from autohub.store.event_rows import from_sqlite_time, sqlite_time
from autohub.store.schema import JSONDocument, UTCDateTime, utc_time

Adapter = Callable[[Any], Any]
"""Turns one non-null value into what the driver takes (null stays null)."""


def _aware_time(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        raise ValueError("naive datetime: give a timezone-aware datetime")
    return moment


def _json_text(value: Any) -> str | None:
    return None if value is None else evidence.compact_json(value)


def _json_value(value: Any) -> Any:
    """A JSON column's value read from SQLite: text to decode, or a number (the column's
    numeric affinity stores JSON ``42`` as an integer)."""
    return json.loads(value) if isinstance(value, str) else value


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
    ) -> tuple[str, Adapters]:
        """``INSERT INTO table (columns) VALUES (...)`` and the adapters of its values."""
        return _insert(self, table, tuple(columns), ignore_duplicates)

    def update(
        self, table: sa.Table, columns: Sequence[str], where: Sequence[str]
    ) -> tuple[str, Adapters]:
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

    def select(
        self, table: sa.Table, columns: Sequence[str], where: Sequence[str], order_by: str
    ) -> tuple[str, Adapters]:
        """``SELECT columns FROM table WHERE where = ... ORDER BY order_by`` and the readers
        that turn a row's values into what the table's types read (``UTCDateTime``: an aware
        UTC datetime; JSON: the data)."""
        return _select(self, table, tuple(columns), tuple(where), order_by)

    def reader(self, column: sa.Column[Any]) -> Adapter:
        if isinstance(column.type, UTCDateTime):
            return from_sqlite_time if self.dialect == "sqlite" else utc_time
        if isinstance(column.type, JSONDocument | sa.JSON):  # psycopg decodes JSONB itself
            return _json_value if self.dialect == "sqlite" else same
        return same

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


class Adapters:
    """The adapters of one statement's values, column by column: only the columns whose
    type needs one are visited (this runs for every row the engine writes)."""

    __slots__ = ("conversions", "size")

    def __init__(self, adapters: Sequence[Adapter]) -> None:
        self.size = len(adapters)
        self.conversions = tuple(
            (index, adapter) for index, adapter in enumerate(adapters) if adapter is not same
        )


def adapt(adapters: Adapters, values: Sequence[Any]) -> tuple[Any, ...]:
    """``values`` as the driver takes them."""
    if len(values) != adapters.size:
        raise ValueError(f"{len(values)} values for {adapters.size} columns")
    adapted = list(values)
    for index, adapter in adapters.conversions:
        value = adapted[index]
        if value is not None:
            adapted[index] = adapter(value)
    return tuple(adapted)


@lru_cache(maxsize=256)
def _insert(
    sql: DriverSql, table: sa.Table, columns: tuple[str, ...], ignore_duplicates: bool
) -> tuple[str, Adapters]:
    targets = [table.c[name] for name in columns]
    names = ", ".join(f'"{name}"' for name in columns)
    statement = (
        f"INSERT INTO {table.name} ({names}) "
        f"VALUES ({', '.join(sql.placeholder(column) for column in targets)})"
    )
    if ignore_duplicates:
        statement += " ON CONFLICT DO NOTHING"
    return statement, Adapters([sql.adapter(column) for column in targets])


@lru_cache(maxsize=256)
def _update(
    sql: DriverSql, table: sa.Table, columns: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, Adapters]:
    targets = [table.c[name] for name in columns]
    keys = [table.c[name] for name in where]
    assignments = ", ".join(f'"{column.name}" = {sql.placeholder(column)}' for column in targets)
    conditions = " AND ".join(f'"{column.name}" = {sql.placeholder(column)}' for column in keys)
    statement = f"UPDATE {table.name} SET {assignments} WHERE {conditions}"
    return statement, Adapters([sql.adapter(column) for column in (*targets, *keys)])


@lru_cache(maxsize=64)
def _select(
    sql: DriverSql, table: sa.Table, columns: tuple[str, ...], where: tuple[str, ...], order: str
) -> tuple[str, Adapters]:
    targets = [table.c[name] for name in columns]
    names = ", ".join(f'"{name}"' for name in columns)
    conditions = " AND ".join(f'"{name}" = {sql.placeholder(table.c[name])}' for name in where)
    statement = (
        f'SELECT {names} FROM {table.name} WHERE {conditions} ORDER BY "{table.c[order].name}"'
    )
    return statement, Adapters([sql.reader(column) for column in targets])
