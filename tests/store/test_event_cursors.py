"""Event cursors on SQLite and PostgreSQL: created on first advance, only ever forward."""

from __future__ import annotations

from autohub.store.database import Database
from autohub.store.event_cursors import EventCursorStore


def test_a_cursor_is_created_then_only_moves_forward(database: Database) -> None:
    cursors = EventCursorStore(database)
    assert cursors.position("reader") is None

    cursors.advance("reader", 41)
    cursors.advance("reader", 7)  # a slower server: not back
    cursors.advance("other", 3)
    cursors.advance("reader", 42)

    assert cursors.position("reader") == 42
    assert cursors.position("other") == 3
