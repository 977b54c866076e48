"""Shared fixtures: every database test runs on SQLite *and* PostgreSQL.

How the matrix works:

* ``database_url`` is parametrised with the ids ``sqlite`` and ``postgresql``, so a
  test that uses it (or ``database`` / ``empty_database``, which build on it) runs
  twice: ``test_x[sqlite]`` and ``test_x[postgresql]``.
* ``sqlite`` is a fresh file in the test's ``tmp_path``.
* ``postgresql`` is a database of its own per pytest-xdist worker
  (``autohub_test_gw0``, ``autohub_test_gw1``..., ``autohub_test_main`` without ``-n``)
  on the server named by ``AUTOHUB_TEST_POSTGRES_URL``. Everything in it (all tables,
  ``alembic_version`` included) is dropped before each test, so each test starts
  from an empty database. A session-long advisory lock on the server keeps two
  concurrent pytest runs from sharing a worker database: the second run uses
  ``autohub_test_gw0_1`` and so on.
* ``database`` is that database migrated to head; ``empty_database`` is not migrated.

There is no silent skipping: without ``AUTOHUB_TEST_POSTGRES_URL`` every
PostgreSQL test fails and says how to start the test services
(``make test``, or ``eval "$(python3 tests/services.py up)"``).
"""

from __future__ import annotations

import os
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from autohub.store import migrations
from autohub.store.database import Database

sys.path.insert(0, str(Path(__file__).parent))  # so tests can `from services import ...`

POSTGRES_URL_ENV = "AUTOHUB_TEST_POSTGRES_URL"
_LOCK_NAMESPACE = 0x4155  # first key of the two-key advisory lock ("AU")
_MAX_PARALLEL_RUNS = 20


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The URL of the test PostgreSQL server's main database (never skipped)."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        pytest.fail(
            f"{POSTGRES_URL_ENV} is not set: the store tests run on SQLite and PostgreSQL. "
            "Run the tests through `make test`, or start the test services first with "
            '`eval "$(python3 tests/services.py up)"`.',
            pytrace=False,
        )
    return url


@pytest.fixture(scope="session")
def postgres_worker_url(postgres_url: str) -> Iterator[str]:
    """The URL of this xdist worker's own database, created on the server if missing."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    admin = sa.create_engine(
        make_url(postgres_url).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    try:
        lock = admin.connect()
    except OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"cannot connect to the test PostgreSQL server ({POSTGRES_URL_ENV}): {exc.orig}. "
            'Is it running? `eval "$(python3 tests/services.py up)"`',
            pytrace=False,
        )
    try:
        name = _claim_worker_database(lock, f"autohub_test_{worker}")
        exists = lock.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).scalar()
        if not exists:
            quoted = admin.dialect.identifier_preparer.quote(name)
            lock.execute(sa.text(f"CREATE DATABASE {quoted}"))
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        lock.close()  # ends the session, releasing the advisory lock
        admin.dispose()


def _claim_worker_database(lock: sa.Connection, base: str) -> str:
    """The first of ``base``, ``base_1``... that no concurrent pytest run holds."""
    for index in range(_MAX_PARALLEL_RUNS):
        name = base if index == 0 else f"{base}_{index}"
        key = zlib.crc32(name.encode()) & 0x7FFFFFFF
        claimed = lock.execute(
            sa.text("SELECT pg_try_advisory_lock(:namespace, :key)"),
            {"namespace": _LOCK_NAMESPACE, "key": key},
        ).scalar()
        if claimed:
            return name
    pytest.fail(f"{_MAX_PARALLEL_RUNS} pytest runs already use {base}*", pytrace=False)


def _empty_postgres_database(url: str) -> None:
    """Drop everything in the database (tables, alembic_version, types, sequences)."""
    engine = sa.create_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    try:
        with engine.connect() as connection:
            # Fail loudly instead of hanging if a leaked connection holds a lock.
            connection.execute(sa.text("SET lock_timeout = '30s'"))
            connection.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(sa.text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database's URL: a SQLite file, or this worker's emptied PostgreSQL db."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'autohub.db'}"
    url: str = request.getfixturevalue("postgres_worker_url")
    _empty_postgres_database(url)
    return url


@pytest.fixture
def empty_database(database_url: str) -> Iterator[Database]:
    """A Database on an empty, unmigrated database (for migration tests)."""
    database = Database.create(database_url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def database(empty_database: Database) -> Database:
    """A Database migrated to head."""
    migrations.upgrade(empty_database)
    return empty_database
