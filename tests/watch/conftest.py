"""Fixtures of the watch tests: a project's Hub, its todos and its action tracker, on
both databases."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from autohub.hub import Hub
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.todos import TodoStore
from autohub.watch.tracker import ActionTracker

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import watch_helpers

from watch_helpers import open_project


@pytest.fixture
def hub(tmp_path: Path, database: Database, database_url: str) -> Iterator[Hub]:
    """Project ``web`` on the migrated test database (its secrets file: KNOWN_SECRET)."""
    with open_project(tmp_path, database_url) as opened:
        yield opened


@pytest.fixture
def events(hub: Hub) -> EventStore:
    return hub.events


@pytest.fixture
def todos(hub: Hub) -> TodoStore:
    return hub.todos


@pytest.fixture
def tracker(hub: Hub) -> ActionTracker:
    """The tracker with the default thresholds (complete at 80, review at 60)."""
    return hub.tracker
