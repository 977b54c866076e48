"""Following the event table as it grows, without missing an event that commits late.

Ids are handed out when a row is inserted but become visible when its transaction
commits, so on PostgreSQL id 41 may appear after id 42 was read. The tail remembers the
ids it skipped over (gaps) and asks for them again on each poll until they show up or
``gap_seconds`` pass (a rolled-back insert leaves a gap forever). On SQLite, one writer
at a time, there are no such gaps and the tail costs one indexed range read a poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from autohub.store.events import Event, EventStore
from autohub.store.schema import automation_events

MAX_GAPS = 10_000
"""Gaps remembered at most (the oldest are given up first)."""


@dataclass
class EventTail:
    """Every event stored after ``last_id``, each returned once, in id order per poll."""

    events: EventStore
    last_id: int
    gap_seconds: float = 10.0
    clock: Callable[[], float] = time.monotonic
    _gaps: dict[int, float] = field(default_factory=dict, init=False)

    @classmethod
    def from_now(cls, events: EventStore, gap_seconds: float = 10.0) -> EventTail:
        """A tail that starts after the newest stored event."""
        return cls(events, events.last_id(), gap_seconds)

    @property
    def settled_id(self) -> int:
        """The id up to which every event has been returned: below the oldest gap still
        awaited, for a cursor that a restarted reader resumes from."""
        return min(self._gaps) - 1 if self._gaps else self.last_id

    def poll(self, limit: int = 1000) -> list[Event]:
        """The events that became visible since the last poll."""
        now = self.clock()
        self._gaps = {i: seen for i, seen in self._gaps.items() if now - seen < self.gap_seconds}
        table = automation_events
        newer = table.c.id > self.last_id
        condition = sa.or_(newer, table.c.id.in_(list(self._gaps))) if self._gaps else newer
        found = self.events.select(condition, order=(table.c.id.asc(),), limit=limit)
        for event in found:
            event_id = event.id or 0
            if event_id > self.last_id:
                for missing in range(self.last_id + 1, event_id):
                    if len(self._gaps) < MAX_GAPS:
                        self._gaps.setdefault(missing, now)
                self.last_id = event_id
            else:
                self._gaps.pop(event_id, None)
        return found
