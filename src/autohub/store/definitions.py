"""The definitions history: every version of every automation, with first and last seen.

A run records the version it ran; this table says what that version contained.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from autohub.clock import utcnow
from autohub.errors import NotFound
from autohub.store.database import Database
from autohub.store.evidence import StoredJson
from autohub.store.schema import definitions


@dataclass(frozen=True)
class DefinitionVersion:
    name: str
    version: str
    project_id: str
    source: str
    content: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class SeenDefinition:
    """A definition as loaded now, to be recorded."""

    name: str
    version: str
    project_id: str
    source: str
    content: dict[str, Any] | StoredJson | Callable[[], StoredJson]
    """Redacted content: JSON data, or its text from ``evidence.encode``, or a function
    that gives that text, called only when the version is new to the store."""

    def stored_content(self) -> dict[str, Any] | StoredJson:
        return self.content() if callable(self.content) else self.content


class DefinitionStore:
    """Records the versions of definitions as they are seen."""

    def __init__(self, database: Database, clock: Callable[[], datetime] = utcnow) -> None:
        self.database = database
        self.clock = clock

    def record(self, seen: Sequence[SeenDefinition]) -> list[str]:
        """Record the definitions seen now; returns the names whose version is new."""
        if not seen:
            return []
        now = self.clock()
        table = definitions
        keys = [(item.name, item.version) for item in seen]
        try:
            # Which versions are new is read first, so that their content (megabytes for
            # a large definition) is encoded outside the write transaction.
            with self.database.connect() as connection:
                existing = {
                    (row.name, row.version)
                    for row in connection.execute(
                        sa.select(table.c.name, table.c.version).where(
                            sa.tuple_(table.c.name, table.c.version).in_(keys)
                        )
                    )
                }
            new_rows = [
                {
                    "name": item.name,
                    "version": item.version,
                    "project_id": item.project_id,
                    "source": item.source,
                    "content": item.stored_content(),
                    "first_seen_at": now,
                    "last_seen_at": now,
                }
                for item in seen
                if (item.name, item.version) not in existing
            ]
            with self.database.begin() as connection:
                if new_rows:  # a version another process stored meanwhile is kept as it is
                    connection.execute(self.database.insert_ignoring_duplicates(table), new_rows)
                if existing:
                    connection.execute(
                        table.update()
                        .where(sa.tuple_(table.c.name, table.c.version).in_(list(existing)))
                        .values(last_seen_at=now)
                    )
        except self.database.errors as exc:
            raise self.database.translate(exc, "record definitions") from exc
        return sorted(str(row["name"]) for row in new_rows)

    def history(self, name: str) -> list[DefinitionVersion]:
        """Every version of ``name``, the most recently seen first."""
        table = definitions
        statement = (
            sa.select(table)
            .where(table.c.name == name)
            .order_by(table.c.last_seen_at.desc(), table.c.first_seen_at.desc())
        )
        return self._fetch(statement)

    def get(self, name: str, version: str) -> DefinitionVersion:
        table = definitions
        rows = self._fetch(sa.select(table).where(table.c.name == name, table.c.version == version))
        if not rows:
            raise NotFound(f"no version {version} of automation {name!r}")
        return rows[0]

    def _fetch(self, statement: sa.Select[Any]) -> list[DefinitionVersion]:
        rows = self.database.fetch(statement, "read definitions")
        return [DefinitionVersion(**row) for row in rows]
