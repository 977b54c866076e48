"""One database behind one interface: SQLite by default, PostgreSQL in production.

``Database.create(url)`` picks the subclass; each overrides only dialect details
(SQLite: WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes; PostgreSQL: psycopg 3,
pre-ping, connect timeout).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from autohub.errors import InvalidInput, StoreError, StoreUnavailable
from autohub.store.evidence import compact_json

if TYPE_CHECKING:
    from autohub.store.checkpoints import Checkpointer

WAL_AUTOCHECKPOINT_PAGES = 10_000
"""SQLite's own checkpoints: fewer, larger ones (the writer that commits pays for each)."""

_SQLITE_UNAVAILABLE = (
    "database is locked",
    "unable to open database",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
)


class Database:
    """A SQLAlchemy engine plus the few things that differ between dialects."""

    dialect = "generic"
    errors: tuple[type[Exception], ...] = (SQLAlchemyError,)
    """What a database call can raise for ``translate``: SQLAlchemy's errors and, for
    statements sent to the driver's cursor (``driver_sql``), the driver's own."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.write_lock: AbstractContextManager[Any] = nullcontext()
        """Held by a thread for each write transaction where the database admits one
        writer at a time (SQLite); nothing elsewhere."""

    @staticmethod
    def create(url: str) -> Database:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise InvalidInput(f"invalid database URL: {exc}") from exc
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            return SQLiteDatabase.from_url(url)
        if backend == "postgresql":
            return PostgresDatabase.from_url(url)
        raise InvalidInput(
            f"unsupported database {backend!r} in URL {parsed.render_as_string()}: "
            "use sqlite:///path or postgresql://user:password@host/db"
        )

    @property
    def display_url(self) -> str:
        """The URL with its password hidden."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A write transaction."""
        with self.write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads."""
        with self.engine.connect() as connection:
            yield connection

    def insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        """An INSERT that skips rows whose unique keys already exist (built once per table)."""
        cache: dict[str, Any] = self.__dict__.setdefault("_insert_ignoring", {})
        if table.name not in cache:
            cache[table.name] = self._insert_ignoring_duplicates(table)
        return cache[table.name]

    def _insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        raise NotImplementedError

    def is_unavailable(self, exc: BaseException) -> bool:
        """Whether a driver error means the database cannot be reached right now."""
        raise NotImplementedError

    def translate(self, exc: Exception, action: str) -> StoreError:
        """Our error for a driver error, keeping the message but not the traceback."""
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if self.is_unavailable(exc):
            return StoreUnavailable(f"{action}: database {self.display_url} unavailable: {detail}")
        return StoreError(f"{action}: {detail}")

    def fetch(self, statement: Any, action: str) -> list[dict[str, Any]]:
        """The rows of a read, as dicts; a driver error becomes ours, naming ``action``."""
        try:
            with self.connect() as connection:
                return [dict(row) for row in connection.execute(statement).mappings()]
        except SQLAlchemyError as exc:
            raise self.translate(exc, action) from exc

    def ping(self) -> None:
        """Raise StoreUnavailable unless a trivial query succeeds."""
        try:
            with self.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise self.translate(exc, "ping") from exc

    def checkpointer(self) -> Checkpointer | None:
        """The started background WAL checkpointer of a SQLite file (``checkpoints``), for
        writers that turn their own autocheckpoint off; None where there is none."""
        return None

    def dispose(self) -> None:
        self.engine.dispose()


POOL_SIZE = 16
POOL_OVERFLOW = 48


class SQLiteDatabase(Database):
    """SQLite in WAL mode; writers take the lock up front to avoid upgrade deadlocks."""

    dialect = "sqlite"
    errors = (SQLAlchemyError, sqlite3.Error)
    _checkpointer: Checkpointer | None = None

    def __init__(self, url: str, engine: Engine) -> None:
        super().__init__(url, engine)
        # Threads that queue on this lock are woken at once, where SQLite's busy handler
        # would have them sleep and retry (throughput fell 3x with 16 writing threads).
        self.write_lock = threading.RLock()

    @classmethod
    def from_url(cls, url: str) -> SQLiteDatabase:
        path = _file_path(url)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            json_serializer=compact_json,
            connect_args={"timeout": 30, "check_same_thread": False},
            # a server's threads share these: a connection made past the pool costs its
            # PRAGMAs and is thrown away after one use
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return cls(url, engine)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            yield connection.execution_options(sqlite_begin="DEFERRED")

    def checkpointer(self) -> Checkpointer | None:
        path = _file_path(self.url)
        if path is None:
            return None
        if self._checkpointer is None:
            from autohub.store.checkpoints import Checkpointer

            self._checkpointer = Checkpointer(path)
        self._checkpointer.start()
        return self._checkpointer

    def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        super().dispose()

    def _insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table).on_conflict_do_nothing()

    def is_unavailable(self, exc: BaseException) -> bool:
        message = str(getattr(exc, "orig", exc)).lower()
        return isinstance(exc, DBAPIError | sqlite3.Error) and any(
            m in message for m in _SQLITE_UNAVAILABLE
        )


def _file_path(url: str) -> str | None:
    """The database file of a SQLite URL (None in memory or for a ``file:`` URI)."""
    path = make_url(url).database
    return path if path and path != ":memory:" and not path.startswith("file:") else None


class PostgresDatabase(Database):
    """PostgreSQL through psycopg 3."""

    dialect = "postgresql"

    @property
    def errors(self) -> tuple[type[Exception], ...]:  # type: ignore[override]
        import psycopg

        return (SQLAlchemyError, psycopg.Error)

    @classmethod
    def from_url(cls, url: str) -> PostgresDatabase:
        parsed = make_url(url)
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = sa.create_engine(
            parsed,
            json_serializer=compact_json,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"connect_timeout": 5, "application_name": "autohub"},
        )
        return cls(parsed.render_as_string(hide_password=False), engine)

    def _insert_ignoring_duplicates(self, table: sa.Table) -> Any:
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()

    def is_unavailable(self, exc: BaseException) -> bool:
        import psycopg

        original = getattr(exc, "orig", exc)
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            return True
        return isinstance(original, psycopg.OperationalError)
