"""TodoStore on both databases: add, get, query, conditional changes with their events,
changes by hand (move) and an agent's list (sync)."""

from __future__ import annotations

import pytest
from watch_helpers import PROJECT, events_of, only_event, started

from autohub.errors import Conflict, InvalidInput, NotFound
from autohub.store.events import EventStore
from autohub.store.todos import SyncItem, SyncResult, Todo, TodoStore


def statuses(todos: TodoStore, session_id: str | None = None) -> dict[str, str]:
    return {todo.title: todo.status for todo in todos.query(PROJECT, session_id=session_id)}


# -- add, get, query ------------------------------------------------------------------------


def test_add_folds_the_title_and_records_the_event(todos: TodoStore, events: EventStore) -> None:
    todo = todos.add(PROJECT, "  Write\tthe   docs \n", session_id="s-1", source="api")
    assert (todo.title, todo.status, todo.source, todo.session_id) == (
        "Write the docs",
        "pending",
        "api",
        "s-1",
    )
    assert (todo.detection, todo.completed_at) == (None, None)
    assert todo.created_at == todo.updated_at
    event = only_event(events, "todo.added")
    assert (event.project_id, event.status, event.correlation_id, event.detected_from) == (
        PROJECT,
        "success",
        "s-1",
        "api",
    )
    assert event.evidence == {
        "todo_id": todo.id,
        "title": "Write the docs",
        "status": "pending",
        "source": "api",
    }


def test_a_todo_added_completed_has_its_completion_time(todos: TodoStore) -> None:
    todo = todos.add(PROJECT, "Done already", status="completed")
    assert todo.completed_at == todo.created_at


@pytest.mark.parametrize(
    ("title", "status", "message"),
    [
        (" \n ", "pending", "title: give a non-empty title"),
        ("x" * 501, "pending", "title: longer than 500 characters"),
        ("ok", "done", "status: 'done' is not one of"),
    ],
)
def test_add_refuses_bad_titles_and_statuses(
    todos: TodoStore, events: EventStore, title: str, status: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        todos.add(PROJECT, title, status=status)
    assert todos.query() == []
    assert not events_of(events, "todo.added")


def test_a_todo_is_found_by_its_id_or_its_ref(todos: TodoStore) -> None:
    todo = todos.add(PROJECT, "Ship it")
    assert todos.get(todo.id) == todos.get(str(todo.id)) == todos.get(f" TODO-{todo.id} ") == todo
    assert todo.ref == f"todo-{todo.id}"


@pytest.mark.parametrize("ref", ["abc", "todo-", "-1", "1.5", "\u00b2", "9" * 20, "1" * 5000])
def test_a_ref_that_is_not_an_id_is_invalid_input(todos: TodoStore, ref: str) -> None:
    with pytest.raises(InvalidInput, match="is not a todo id"):
        todos.get(ref)


def test_a_missing_todo_is_not_found(todos: TodoStore) -> None:
    with pytest.raises(NotFound, match="no todo todo-9223372036854775807"):
        todos.get(2**63 - 1)  # the largest id still asks the database


def test_query_filters_by_project_status_and_session(todos: TodoStore) -> None:
    a = todos.add(PROJECT, "a")
    b = started(todos, "b", session_id="s-1")
    c = todos.add("other", "c", status="in_progress")
    d = todos.add(PROJECT, "d", status="completed", session_id="s-1")

    def ids(found: list[Todo]) -> list[int]:
        return [todo.id for todo in found]

    assert ids(todos.query()) == [a.id, b.id, c.id, d.id]  # oldest first
    assert ids(todos.query(PROJECT)) == [a.id, b.id, d.id]
    assert ids(todos.query(statuses=["in_progress"])) == [b.id, c.id]
    assert ids(todos.query(PROJECT, statuses=["pending", "completed"])) == [a.id, d.id]
    assert ids(todos.query(session_id="s-1")) == [b.id, d.id]
    assert ids(todos.query(limit=2)) == [a.id, b.id]
    with pytest.raises(InvalidInput, match="status: 'open'"):
        todos.query(statuses=["open"])


# -- changes -------------------------------------------------------------------------------


def change_event(todo_id: int) -> dict[str, object]:
    return {
        "event_type": "todo.changed_in_test",
        "project_id": PROJECT,
        "status": "success",
        "evidence": {"todo_id": todo_id},
    }


def test_a_change_is_written_with_its_events(todos: TodoStore, events: EventStore) -> None:
    todo = started(todos, "Ship it")
    changed = todos.set_status(todo.id, "completed", events=[change_event(todo.id)])
    assert changed is not None
    new, old_status = changed
    assert (new.status, old_status) == ("completed", "in_progress")
    assert new.completed_at is not None
    assert new.updated_at >= todo.updated_at
    assert new == todos.get(todo.id)  # the todo as written, with its times and detection
    assert only_event(events, "todo.changed_in_test").evidence == {"todo_id": todo.id}
    reopened = todos.set_status(todo.id, "in_progress")
    assert reopened is not None
    assert reopened[0].completed_at is None  # a todo back in progress is not completed


def test_a_change_from_a_status_the_todo_no_longer_has_changes_nothing(
    todos: TodoStore, events: EventStore
) -> None:
    todo = started(todos, "Ship it")
    assert todos.set_status(todo.id, "completed", expected="pending_review", events=[
        change_event(todo.id)
    ]) is None  # fmt: skip
    assert todos.get(todo.id) == todo
    assert not events_of(events, "todo.changed_in_test")


def test_a_change_of_a_missing_todo_is_not_found(todos: TodoStore) -> None:
    with pytest.raises(NotFound, match="no todo todo-404"):
        todos.set_status(404, "completed")
    with pytest.raises(NotFound, match="no todo todo-404"):  # not "changed meanwhile"
        todos.set_status(404, "completed", expected="in_progress")


def test_a_detection_is_kept_with_the_change(todos: TodoStore) -> None:
    todo = started(todos, "Ship it")
    found = {"detected_keyword": "passed", "confidence": 93}
    changed = todos.set_status(todo.id, "pending_review", expected="in_progress", detection=found)
    assert changed is not None
    assert changed[0].detection == found == todos.get(todo.id).detection


def test_a_change_by_hand_checks_the_project_and_the_status(
    todos: TodoStore, events: EventStore
) -> None:
    todo = todos.add(PROJECT, "Deploy", status="pending_review")
    with pytest.raises(NotFound, match=f"no todo {todo.ref} in project other"):
        todos.move(todo.id, "completed", project_id="other", event_type="todo.completed")
    with pytest.raises(Conflict, match=f"{todo.ref} is pending_review, not in_progress"):
        todos.move(
            todo.id, "completed", project_id=PROJECT, event_type="todo.x", expected="in_progress"
        )
    moved = todos.move(
        todo.ref,
        "completed",
        project_id=PROJECT,
        event_type="todo.review_accepted",
        expected="pending_review",
        by="tests",
    )
    assert moved.status == "completed"
    event = only_event(events, "todo.review_accepted")
    assert event.evidence == {
        "todo_id": todo.id,
        "old_status": "pending_review",
        "new_status": "completed",
    }
    assert event.detected_from == "tests"


def test_a_change_by_hand_of_a_todo_changed_since_it_was_read_is_a_conflict(
    todos: TodoStore, events: EventStore
) -> None:
    stale = started(todos, "Deploy")
    todos.set_status(stale.id, "completed")
    with pytest.raises(Conflict, match=f"{stale.ref} changed meanwhile"):
        todos.change(stale, "pending_review", event_type="todo.x")
    assert todos.get(stale.id).status == "completed"
    assert not events_of(events, "todo.x")


# -- an agent's list -------------------------------------------------------------------------


def test_sync_adds_new_titles_and_takes_the_agents_status_for_known_ones(
    todos: TodoStore, events: EventStore
) -> None:
    first = todos.sync(
        PROJECT, "s-1", [SyncItem("Run tests", "in_progress"), SyncItem("Write docs", "pending")]
    )
    assert (len(first.added), first.updated, first.unchanged) == (2, [], 0)
    second = todos.sync(
        PROJECT,
        "s-1",
        [
            SyncItem("Run tests", "completed"),
            SyncItem("Write  docs", "pending"),  # the same title, folded
            SyncItem("Ship", "pending"),
        ],
    )
    assert (len(second.added), second.updated, second.unchanged) == (1, [first.added[0]], 1)
    assert statuses(todos, "s-1") == {
        "Run tests": "completed",
        "Write docs": "pending",
        "Ship": "pending",
    }
    assert todos.get(first.added[0]).completed_at is not None
    added = events_of(events, "todo.added")
    assert [e.evidence["title"] for e in added] == ["Run tests", "Write docs", "Ship"]
    assert {(e.correlation_id, e.evidence["source"]) for e in added} == {("s-1", "claude-code")}


def test_sync_moves_todos_forward_only(todos: TodoStore, events: EventStore) -> None:
    """An agent's stale list does not undo a completion (by output or by hand)."""
    (todo_id,) = todos.sync(PROJECT, "s-1", [SyncItem("Run tests", "in_progress")]).added
    todos.set_status(todo_id, "completed")

    stale = todos.sync(PROJECT, "s-1", [SyncItem("Run tests", "in_progress")])

    assert (stale.updated, stale.unchanged) == ([], 1)
    assert todos.get(todo_id).status == "completed"
    assert events_of(events, "todo.synced") == []


def test_sync_keeps_titles_the_list_no_longer_has(todos: TodoStore) -> None:
    todos.sync(PROJECT, "s-1", [SyncItem("a", "in_progress"), SyncItem("b", "pending")])
    assert todos.sync(PROJECT, "s-1", [SyncItem("b", "pending")]) == SyncResult([], [], 1)
    assert statuses(todos, "s-1") == {"a": "in_progress", "b": "pending"}


def test_sync_touches_only_its_own_sessions_todos(todos: TodoStore) -> None:
    mine = todos.sync(PROJECT, "s-1", [SyncItem("Run tests", "in_progress")]).added
    theirs = todos.sync(PROJECT, "s-2", [SyncItem("Run tests", "completed")]).added
    other_project = todos.sync("other", "s-1", [SyncItem("Run tests", "pending")]).added
    assert len({*mine, *theirs, *other_project}) == 3
    assert [todos.get(i).status for i in (*mine, *theirs, *other_project)] == [
        "in_progress",
        "completed",
        "pending",
    ]


def test_a_list_with_a_bad_item_changes_nothing(todos: TodoStore, events: EventStore) -> None:
    todos.sync(PROJECT, "s-1", [SyncItem("a", "pending")])
    with pytest.raises(InvalidInput, match=r"todos\[1\]\.status: 'blocked'"):
        todos.sync(PROJECT, "s-1", [SyncItem("a", "completed"), SyncItem("b", "blocked")])
    with pytest.raises(InvalidInput, match=r"todos\[0\]\.title"):
        todos.sync(PROJECT, "s-1", [SyncItem(" ", "pending")])
    assert statuses(todos, "s-1") == {"a": "pending"}
    assert len(events_of(events, "todo.added")) == 1


def test_every_status_change_sync_makes_is_recorded(todos: TodoStore, events: EventStore) -> None:
    (todo_id,) = todos.sync(PROJECT, "s-1", [SyncItem("Run tests", "in_progress")]).added
    todos.sync(PROJECT, "s-1", [SyncItem("Run tests", "completed")])
    changes = [
        e.evidence
        for e in events_of(events)
        if e.evidence.get("todo_id") == todo_id and e.event_type != "todo.added"
    ]
    assert [change.get("new_status") for change in changes] == ["completed"]
