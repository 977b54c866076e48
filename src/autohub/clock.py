"""The time every part of autohub uses: aware UTC. Stores and runners take a clock
argument (defaulting to this) so tests can control time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)
