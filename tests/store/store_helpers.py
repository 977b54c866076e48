"""Helpers shared by the store tests (imported as ``store_helpers``; not a test module)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

RawQuery = Callable[..., list[dict[str, Any]]]
"""``raw(sql, **params)``: rows of a SQL statement run directly, as dicts."""

RawText = Callable[[str], str]
"""``raw_text(uid)``: the evidence, metadata and detected_from of one row, as stored."""


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def event_fields(**fields: Any) -> dict[str, Any]:
    """A valid event as a dict, with ``fields`` overriding the defaults."""
    return {"event_type": "production_check", "project_id": "web", "status": "success", **fields}
