"""Fixtures of the store tests: a controllable clock, an event store, raw SQL reads."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from autohub.store.database import Database
from autohub.store.events import EventStore

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import store_helpers

from store_helpers import FakeClock, RawQuery, RawText


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(database: Database, clock: FakeClock) -> EventStore:
    """An EventStore (no spool, no known secrets) whose time is ``clock``."""
    return EventStore(database, clock=clock)


@pytest.fixture
def raw(database: Database) -> RawQuery:
    """Run SQL directly (not through EventStore) and return the rows as dicts."""

    def run(sql: str, **params: Any) -> list[dict[str, Any]]:
        with database.connect() as connection:
            return [dict(row) for row in connection.execute(sa.text(sql), params).mappings()]

    return run


@pytest.fixture
def raw_text(raw: RawQuery) -> RawText:
    """Everything stored for one event uid, as the database holds it, in one string."""

    def text(uid: str) -> str:
        rows = raw(
            "SELECT CAST(evidence AS TEXT) AS evidence, CAST(metadata AS TEXT) AS metadata,"
            " detected_from FROM automation_events WHERE uid = :uid",
            uid=uid,
        )
        assert len(rows) == 1, f"expected one row with uid {uid}, got {len(rows)}"
        row = rows[0]
        return "\n".join(str(row[name]) for name in ("evidence", "metadata", "detected_from"))

    return text
