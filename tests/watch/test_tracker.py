"""ActionTracker on both databases: thresholds, which todo an output is about, the events
with their evidence, redaction and the one transaction of a change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from watch_helpers import (
    EVIDENCE_FIELDS,
    KNOWN_SECRET,
    PROJECT,
    events_of,
    observe,
    only_event,
    open_project,
    passed_result,
    started,
    stored_text,
)

from autohub.errors import StoreError
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.todos import Todo, TodoStore
from autohub.watch.detector import CONTEXT_CHARS
from autohub.watch.tracker import ActionTracker, Observation, Thresholds

# -- thresholds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "confidence", "event_type", "status"),
    [
        ("2 files changed, 10 insertions(+)", 100, "action_item_completed", "completed"),
        ("created 2 files", 80, "action_item_completed", "completed"),  # exactly complete_at
        ("wrote report.txt", 75, "action_item_pending_review", "pending_review"),
        ("deployed\nerror: slow start", 60, "action_item_pending_review", "pending_review"),
        ("3 passed, 1 failed", 58, "no_action_taken", "in_progress"),
    ],
)
def test_the_confidence_decides_between_complete_review_and_nothing(
    tracker: ActionTracker,
    todos: TodoStore,
    events: EventStore,
    text: str,
    confidence: int,
    event_type: str,
    status: str,
) -> None:
    todo = started(todos, "Ship it")
    result = observe(tracker, text)
    assert result.detection is not None
    assert result.detection.confidence == confidence
    assert result.event_type == event_type
    assert result.changed is (status != "in_progress")
    assert todos.get(todo.id).status == status
    assert only_event(events, event_type).evidence["confidence"] == confidence
    if status == "in_progress":
        assert result.reason == "confidence 58 is below review_at (60)"
        assert result.todo_id is None  # not even looked for


@pytest.mark.parametrize("configured", ["tracker", "autohub.yaml"])
def test_the_thresholds_are_configurable(
    tmp_path: Path, database: Database, database_url: str, configured: str
) -> None:
    config = "watch: {complete_at: 95, review_at: 90}" if configured == "autohub.yaml" else ""
    with open_project(tmp_path, database_url, config) as hub:
        tracker = hub.tracker
        if configured == "tracker":
            tracker = ActionTracker(
                hub.todos, hub.events, thresholds=Thresholds(complete_at=95, review_at=90)
            )
        committed, tested, fixed = (started(hub.todos, title) for title in ("one", "two", "3"))
        assert observe(tracker, "committed", todo_id=committed.id).new_status == "completed"
        assert observe(tracker, "5 passed", todo_id=tested.id).new_status == "pending_review"
        skipped = observe(tracker, "bug fixed", todo_id=fixed.id)  # 85
        assert (skipped.event_type, skipped.reason) == (
            "no_action_taken",
            "confidence 85 is below review_at (90)",
        )
        assert [hub.todos.get(t.id).status for t in (committed, tested, fixed)] == [
            "completed",
            "pending_review",
            "in_progress",
        ]


def test_output_without_a_keyword_changes_nothing(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    todo = started(todos, "Ship it")
    result = observe(tracker, "total 0\ndrwxr-xr-x 2 root root 4096 .")
    assert (result.event_type, result.changed, result.detection) == ("no_action_taken", False, None)
    assert result.reason == "no action-item keyword in the output"
    assert todos.get(todo.id).status == "in_progress"
    evidence = only_event(events, "no_action_taken").evidence
    assert evidence["reason"] == "no action-item keyword in the output"
    assert evidence["detected_keyword"] is None
    assert evidence["confidence"] is None


# -- which todo ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["todo-{}", "TODO #{}", "todo #{}", "todo_{}", "Todo:{}"])
def test_a_todo_named_in_the_output_is_the_one_updated(
    tracker: ActionTracker, todos: TodoStore, name: str
) -> None:
    first, second = started(todos, "Ship it"), started(todos, "Ship it too")
    result = observe(tracker, f"{name.format(second.id)} 5 passed")
    assert (result.todo_id, result.new_status) == (second.id, "completed")
    assert todos.get(first.id).status == "in_progress"


def test_the_callers_todo_id_wins_over_the_one_in_the_text(
    tracker: ActionTracker, todos: TodoStore
) -> None:
    first, second = started(todos, "Ship it"), started(todos, "Ship it too")
    result = observe(tracker, f"todo-{second.id}: 5 passed", todo_id=first.id)
    assert result.todo_id == first.id
    assert [todos.get(first.id).status, todos.get(second.id).status] == [
        "completed",
        "in_progress",
    ]


def test_a_named_todo_is_updated_even_when_it_is_not_in_progress(
    tracker: ActionTracker, todos: TodoStore
) -> None:
    pending = started(todos, "Ship it", status="pending")
    result = observe(tracker, f"todo-{pending.id} committed")
    assert (result.old_status, result.new_status) == ("pending", "completed")


def test_a_named_todo_that_does_not_exist_changes_nothing(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    todo = started(todos, "Ship it")
    result = observe(tracker, "todo-999 5 passed")
    assert (result.event_type, result.reason) == ("no_action_taken", "todo-999 does not exist")
    assert todos.get(todo.id).status == "in_progress"
    assert only_event(events, "no_action_taken").evidence["reason"] == "todo-999 does not exist"


def test_another_projects_todo_is_never_updated(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    theirs = started(todos, "Ship it", project_id="other")
    named = observe(tracker, f"todo-{theirs.id}: 5 passed")
    assert named.reason == f"todo-{theirs.id} belongs to another project"
    unnamed = observe(tracker, "5 passed")
    assert unnamed.reason == "no todo is in progress"
    assert todos.get(theirs.id).status == "in_progress"
    assert [e.project_id for e in events_of(events, "no_action_taken")] == [PROJECT, PROJECT]
    assert not events_of(events, "action_item_completed")


def test_the_in_progress_todo_whose_title_the_output_names_is_updated(
    tracker: ActionTracker, todos: TodoStore
) -> None:
    billing = started(todos, "Migrate the billing database")
    notes = started(todos, "Write the release notes")
    result = observe(tracker, "alembic: billing database at head\n12 passed in 3.1s")
    assert result.todo_id == billing.id
    assert todos.get(notes.id).status == "in_progress"


def test_the_title_the_output_overlaps_most_wins(tracker: ActionTracker, todos: TodoStore) -> None:
    started(todos, "Deploy the billing service")  # 2 of its 3 words
    database = started(todos, "Deploy the billing database")  # all 3
    assert observe(tracker, "deploy billing database: deployed v2").todo_id == database.id


def test_the_only_todo_in_progress_is_updated_when_the_output_names_none(
    tracker: ActionTracker, todos: TodoStore
) -> None:
    started(todos, "Ship it", status="pending")
    only = started(todos, "Migrate the billing database")
    assert observe(tracker, "5 passed").todo_id == only.id


@pytest.mark.parametrize(
    "text",
    [
        "5 passed",  # names neither
        "billing 5 passed",  # names both equally
    ],
)
def test_an_output_that_could_be_about_several_todos_changes_none(
    tracker: ActionTracker, todos: TodoStore, text: str
) -> None:
    todo_ids = [started(todos, title).id for title in ("Billing service", "Billing database")]
    result = observe(tracker, text)
    assert result.event_type == "no_action_taken"
    assert result.reason == "2 todos are in progress and the output names none of them"
    assert [todos.get(todo_id).status for todo_id in todo_ids] == ["in_progress"] * 2


def test_pending_todos_are_not_candidates(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    pending = started(todos, "Run the billing tests", status="pending")
    result = observe(tracker, "billing tests: 5 passed")
    assert result.reason == "no todo is in progress"
    assert todos.get(pending.id).status == "pending"


def test_the_sessions_own_todos_come_first(tracker: ActionTracker, todos: TodoStore) -> None:
    started(todos, "Ship it")
    own = started(todos, "Ship it too", session_id="s-1")
    assert observe(tracker, "5 passed", session_id="s-1").todo_id == own.id


def test_a_session_without_todos_looks_at_the_whole_project(
    tracker: ActionTracker, todos: TodoStore
) -> None:
    started(todos, "Ship it", status="pending")
    theirs = started(todos, "Ship it too", session_id="s-1")
    assert observe(tracker, "5 passed", session_id="s-2").todo_id == theirs.id


# -- todos already done ----------------------------------------------------------------------


def test_a_completed_todo_stays_completed(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    done = started(todos, "Ship it", status="completed")
    result = observe(tracker, f"todo-{done.id} 5 passed")
    assert (result.event_type, result.reason) == (
        "no_action_taken",
        f"todo-{done.id} is already completed",
    )
    assert (result.old_status, result.new_status) == ("completed", "completed")
    evidence = only_event(events, "no_action_taken").evidence
    assert (evidence["todo_id"], evidence["old_status"], evidence["new_status"]) == (
        done.id,
        "completed",
        "completed",
    )
    assert todos.get(done.id).updated_at == done.updated_at


def test_a_todo_in_review_is_not_reviewed_again_but_can_be_completed(
    tracker: ActionTracker, todos: TodoStore
) -> None:
    todo = started(todos, "Ship it")
    assert observe(tracker, "wrote it").new_status == "pending_review"
    again = observe(tracker, f"todo-{todo.id}\nwrote it")
    assert again.reason == f"todo-{todo.id} is already pending_review"
    done = observe(tracker, f"todo-{todo.id}: 5 passed")
    assert (done.old_status, done.new_status) == ("pending_review", "completed")


def test_a_todo_changed_by_somebody_else_meanwhile_is_left_alone(
    tracker: ActionTracker, todos: TodoStore, events: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The change is conditional on the status the tracker read."""
    todo = started(todos, "Ship it")
    query = todos.query

    def racing_query(*args: Any, **kwargs: Any) -> list[Todo]:
        """Another writer completes each todo right after the tracker has read it."""
        found = query(*args, **kwargs)
        for each in found:
            todos.set_status(each.id, "completed")
        return found

    monkeypatch.setattr(todos, "query", racing_query)
    result = observe(tracker, "5 passed")
    assert (result.event_type, result.changed) == ("no_action_taken", False)
    assert result.reason == f"todo-{todo.id} was changed by somebody else first"
    assert todos.get(todo.id).detection is None
    assert not events_of(events, "action_item_completed")


# -- the events ------------------------------------------------------------------------------


def test_a_completion_event_carries_the_full_evidence(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    todo = started(todos, "Run the test suite")
    result = tracker.observe(
        Observation(
            project_id=PROJECT,
            tool_name="pytest",
            text="collected 5 items\n\n5 passed in 0.12s\n",
            session_id="session-1",
            run_id="run-1",
            detected_from="automation ci, step watch",
            metadata={"hook_event_name": "PostToolUse"},
        )
    )
    event = only_event(events, "action_item_completed")
    assert event.status == "success"
    assert event.project_id == PROJECT
    assert event.evidence == {
        "tool_name": "pytest",
        "detected_keyword": "passed",
        "keyword_category": "test-success",
        "confidence": 93,
        "context_snippet": "5 passed in 0.12s",
        "todo_id": todo.id,
        "old_status": "in_progress",
        "new_status": "completed",
    }
    assert (event.correlation_id, event.run_id, event.detected_from) == (
        "session-1",
        "run-1",
        "automation ci, step watch",
    )
    assert event.metadata == {"hook_event_name": "PostToolUse"}
    assert result.to_dict() == passed_result(todo.id)
    stored = todos.get(todo.id)
    assert stored.completed_at is not None
    assert stored.detection == {
        "detected_keyword": "passed",
        "keyword_category": "test-success",
        "confidence": 93,
        "context_snippet": "5 passed in 0.12s",
    }


def test_a_review_event_has_the_pending_review_status(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    todo = started(todos, "Write the report")
    observe(tracker, "wrote report.md")
    event = only_event(events, "action_item_pending_review")
    assert event.status == "pending_review"
    assert set(event.evidence) == EVIDENCE_FIELDS
    assert (event.evidence["old_status"], event.evidence["new_status"]) == (
        "in_progress",
        "pending_review",
    )
    assert todos.get(todo.id).completed_at is None


def test_a_no_action_event_says_why_and_what_was_seen(
    tracker: ActionTracker, events: EventStore
) -> None:
    observe(tracker, "deployed v2", tool_name="Stop", session_id="s-1")
    event = only_event(events, "no_action_taken")
    assert event.status == "skipped"
    assert event.correlation_id == "s-1"
    assert event.evidence == {
        "tool_name": "Stop",
        "detected_keyword": "deployed",
        "keyword_category": "deployment",
        "confidence": 95,
        "context_snippet": "deployed v2",
        "todo_id": None,
        "old_status": None,
        "new_status": None,
        "reason": "no todo is in progress",
    }


def test_every_observation_records_exactly_one_event(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    todo = started(todos, "Ship it")
    for text in ("ls", "3 passed, 1 failed", "wrote it", "5 passed", f"todo-{todo.id} 5 passed"):
        observe(tracker, text)
    kinds = [
        e.event_type
        for e in events_of(
            events, "action_item_completed", "action_item_pending_review", "no_action_taken"
        )
    ]
    assert kinds == [
        "no_action_taken",
        "no_action_taken",
        "action_item_pending_review",
        "no_action_taken",  # a todo in review is completed only when named
        "action_item_completed",
    ]


# -- redaction and the snippet ---------------------------------------------------------------


def test_secrets_in_the_output_are_never_stored(
    tracker: ActionTracker, todos: TodoStore, database: Database
) -> None:
    todo = started(todos, "Deploy")
    result = observe(tracker, f"deployed v2 with password=hunter2 and key {KNOWN_SECRET}")
    assert result.new_status == "completed"
    snippet = todos.get(todo.id).detection
    assert snippet is not None
    assert snippet["context_snippet"] == "deployed v2 with password=[REDACTED] and key [REDACTED]"
    text = stored_text(database)
    assert "hunter2" not in text
    assert KNOWN_SECRET not in text


def test_no_part_of_a_secret_cut_by_the_snippet_is_stored(
    tracker: ActionTracker, todos: TodoStore, database: Database
) -> None:
    """The 200 characters around the keyword begin inside a GitHub token and end inside
    a known secret: neither half is stored."""
    started(todos, "Test")
    github_token = "ghp_" + "Z9y8X7w6V5" * 4
    head = "a " * 40 + github_token + " " + "b " * 28 + "5 passed "
    begin = head.index("passed") - CONTEXT_CHARS // 2
    assert head.index(github_token) < begin < head.index(github_token) + len(github_token)
    filler = "c" * (begin + CONTEXT_CHARS - 5 - len(head) - 1) + " "
    observe(tracker, head + filler + KNOWN_SECRET + " " + "d " * 50)
    text = stored_text(database)
    assert "5 passed" in text
    assert github_token[-10:] not in text
    assert KNOWN_SECRET[:5] not in text


def test_the_snippet_is_cut_to_200_characters_after_redaction(
    tracker: ActionTracker, todos: TodoStore, events: EventStore
) -> None:
    """Redaction lengthens ``token=ab``: the snippet is cut after it, and says so."""
    started(todos, "Deploy")
    observe(tracker, "deployed v2 " + " ".join(["token=ab"] * 40))
    snippet = only_event(events, "action_item_completed").evidence["context_snippet"]
    assert len(snippet) == CONTEXT_CHARS
    assert snippet.startswith("deployed v2 token=[REDACTED] token=[REDACTED]")
    assert snippet.endswith("…")
    assert "=ab" not in snippet


# -- one transaction -------------------------------------------------------------------------


def rename_table(database: Database, old: str, new: str) -> None:
    with database.begin() as connection:
        connection.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))


def test_a_todo_never_changes_without_its_event(
    tracker: ActionTracker, todos: TodoStore, events: EventStore, database: Database
) -> None:
    """The event insert fails (its table is gone): the todo's update is rolled back."""
    todo = started(todos, "Ship it")
    rename_table(database, "automation_events", "automation_events_away")
    try:
        with pytest.raises(StoreError):
            observe(tracker, "5 passed")
        unchanged = todos.get(todo.id)
    finally:
        rename_table(database, "automation_events_away", "automation_events")
    assert (unchanged.status, unchanged.detection, unchanged.updated_at) == (
        "in_progress",
        None,
        todo.updated_at,
    )
    assert not events_of(events, "action_item_completed")
    assert observe(tracker, "5 passed").new_status == "completed"  # and it works again
