"""Helpers shared by the watch tests (imported as ``watch_helpers``; not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

import project_helpers
from autohub.hub import Hub
from autohub.store.database import Database
from autohub.store.events import Event, EventStore
from autohub.store.todos import Todo, TodoStore
from autohub.watch.tracker import ActionTracker, Observation, UpdateResult
from project_helpers import events_of

PROJECT = "web"
KNOWN_SECRET = "K9-s3cr3t-value-77"
"""A value of the project's secrets file: never stored, not even in part."""
EVIDENCE_FIELDS = {
    "tool_name",
    "detected_keyword",
    "keyword_category",
    "confidence",
    "context_snippet",
    "todo_id",
    "old_status",
    "new_status",
}
"""The evidence of every action-item event (``no_action_taken`` adds ``reason``)."""


def passed_result(todo_id: int) -> dict[str, Any]:
    """``UpdateResult.to_dict()`` of "5 passed" (93) completing an in-progress todo."""
    return {
        "event_type": "action_item_completed",
        "changed": True,
        "reason": "test-success at confidence 93",
        "todo_id": todo_id,
        "old_status": "in_progress",
        "new_status": "completed",
        "detected_keyword": "passed",
        "keyword_category": "test-success",
        "confidence": 93,
    }


def open_project(root: Path, database_url: str, config: str = "") -> Hub:
    """A Hub on project PROJECT in ``root`` (autohub.yaml: ``config`` added; a secrets file
    holding KNOWN_SECRET) on an already migrated database."""
    secrets = {"DEPLOY_KEY": KNOWN_SECRET}
    return project_helpers.open_project(root, database_url, PROJECT, config, secrets=secrets)


def only_event(events: EventStore, event_type: str) -> Event:
    found = events_of(events, event_type)
    assert len(found) == 1, f"expected one {event_type} event, got {len(found)}"
    return found[0]


def observe(tracker: ActionTracker, text: str, **fields: Any) -> UpdateResult:
    """``tracker.observe`` of ``text`` as Bash output of project PROJECT."""
    return tracker.observe(
        Observation(
            project_id=fields.pop("project_id", PROJECT),
            tool_name=fields.pop("tool_name", "Bash"),
            text=text,
            **fields,
        )
    )


def started(todos: TodoStore, title: str, **fields: Any) -> Todo:
    """A new todo of project PROJECT, in progress."""
    return todos.add(
        fields.pop("project_id", PROJECT),
        title,
        status=fields.pop("status", "in_progress"),
        **fields,
    )


def stored_text(database: Database) -> str:
    """Everything the events and todos tables hold, as one string (to look for secrets)."""
    with database.connect() as connection:
        rows = [
            *connection.execute(sa.text("SELECT * FROM automation_events")).mappings(),
            *connection.execute(sa.text("SELECT * FROM todos")).mappings(),
        ]
    return "\n".join(str(dict(row)) for row in rows)
