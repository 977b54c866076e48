"""Event cursors: how far a named reader of the event stream has read.

A cursor is the id of the last event its reader has handled. Readers on several servers
may share one: ``advance`` only ever moves it forward, so a slower server cannot move it
back over events another has handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from autohub.clock import utcnow
from autohub.store.database import Database
from autohub.store.schema import event_cursors


@dataclass
class EventCursorStore:
    """The ``event_cursors`` table."""

    database: Database
    clock: Callable[[], datetime] = utcnow

    def position(self, name: str) -> int | None:
        """The id of the last event ``name`` has handled; None for a new reader."""
        rows = self.database.fetch(
            sa.select(event_cursors.c.position).where(event_cursors.c.name == name),
            f"read the event cursor {name}",
        )
        return int(rows[0]["position"]) if rows else None

    def advance(self, name: str, position: int) -> None:
        """Move ``name`` forward to ``position`` (never back), creating it if new."""
        table = event_cursors
        now = self.clock()
        action = f"advance the event cursor {name}"
        try:
            with self.database.begin() as connection:
                moved = connection.execute(
                    table.update()
                    .where(table.c.name == name, table.c.position < position)
                    .values(position=position, updated_at=now)
                ).rowcount
                if moved == 0:
                    connection.execute(
                        self.database.insert_ignoring_duplicates(table),
                        [{"name": name, "position": position, "updated_at": now}],
                    )
        except IntegrityError:
            pass  # another server created it first, at least as far
        except SQLAlchemyError as exc:
            raise self.database.translate(exc, action) from exc
