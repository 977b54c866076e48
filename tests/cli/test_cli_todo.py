"""``autohub todo``: add, list, start, done, review (accept and reject), their JSON, their
events, and one-line errors for ids and options that are not valid."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from autohub.hub import Hub

if TYPE_CHECKING:
    from conftest import Cli, Project

ReadDb = Callable[..., list[dict[str, Any]]]
TODO_KEYS = {
    "id", "ref", "project_id", "title", "status", "source", "session_id", "detection",
    "created_at", "updated_at", "completed_at",
}  # fmt: skip


def todo_json(cli: Cli, *args: str) -> Any:
    """``autohub todo ... --json``, checked to exit 0."""
    return json.loads(cli("todo", *args, "--json", check=0).stdout)


def refs(todos: list[dict[str, Any]]) -> list[str]:
    return [todo["ref"] for todo in todos]


def todo_events(read_db: ReadDb, project: Project) -> list[tuple[str, dict[str, Any], str]]:
    """(event type, evidence, detected_from) of the todo events, oldest first."""
    rows = read_db(
        project.database_url,
        "SELECT event_type, evidence, detected_from FROM automation_events"
        " WHERE event_type LIKE 'todo.%' ORDER BY id",
    )
    return [
        (
            row["event_type"],
            json.loads(row["evidence"]) if isinstance(row["evidence"], str) else row["evidence"],
            row["detected_from"],
        )
        for row in rows
    ]


def seed(project: Project, status: str, *titles: str, project_id: str | None = None) -> list[str]:
    """Todos in ``status`` set up in-process (e.g. pending_review, which only output sets)."""
    with Hub.from_config(project.path("autohub.yaml")) as hub:
        hub.config.settings.database_url = project.database_url
        return [
            hub.todos.add(project_id or hub.project, title, status=status, source="hook").ref
            for title in titles
        ]


def test_add_start_done_and_list(cli: Cli, project: Project, read_db: ReadDb) -> None:
    docs = todo_json(cli, "add", "Write  the\tdocs")
    assert set(docs) == TODO_KEYS
    assert (docs["ref"], docs["title"], docs["status"]) == (
        f"todo-{docs['id']}",
        "Write the docs",  # whitespace folded
        "pending",
    )
    assert (docs["project_id"], docs["source"], docs["completed_at"]) == ("proj", "cli", None)

    tests = cli("todo", "add", "Run the tests", "--start", check=0).stdout
    tests_ref = tests.split()[0]
    assert tests == f"{tests_ref} added: Run the tests [in_progress]\n"

    started = todo_json(cli, "start", docs["ref"])
    assert started["status"] == "in_progress"
    done = cli("todo", "done", tests_ref.removeprefix("todo-"), check=0).stdout
    assert done == f"{tests_ref} completed: Run the tests [completed]\n"

    assert refs(todo_json(cli, "list")) == [docs["ref"]]  # open ones only
    everything = todo_json(cli, "list", "--all")
    assert refs(everything) == [docs["ref"], tests_ref]  # oldest first
    assert everything[1]["completed_at"] is not None
    table = cli("todo", "list", "--all", check=0).stdout
    assert "2 todos" in table
    assert tests_ref in table
    assert "completed" in table

    docs_id = docs["id"]
    tests_id = int(tests_ref.removeprefix("todo-"))
    assert todo_events(read_db, project) == [
        ("todo.added", {"todo_id": docs_id, "title": "Write the docs", "status": "pending",
                        "source": "cli"}, "cli"),
        ("todo.added", {"todo_id": tests_id, "title": "Run the tests", "status": "in_progress",
                        "source": "cli"}, "cli"),
        ("todo.started", {"todo_id": docs_id, "old_status": "pending",
                          "new_status": "in_progress"}, "autohub todo"),
        ("todo.completed", {"todo_id": tests_id, "old_status": "in_progress",
                            "new_status": "completed"}, "autohub todo"),
    ]  # fmt: skip


def test_list_filters_by_status(cli: Cli, project: Project) -> None:
    pending, review = seed(project, "pending", "a")[0], seed(project, "pending_review", "b")[0]
    done = seed(project, "completed", "c")[0]
    assert refs(todo_json(cli, "list", "--status", "completed", "-s", "pending")) == [
        pending,
        done,
    ]
    assert refs(todo_json(cli, "review")) == [review]  # the ones to review
    assert cli("todo", "list", "--status", "in_progress", check=0).stdout == "no todos\n"


def test_review_accepts_and_rejects(cli: Cli, project: Project, read_db: ReadDb) -> None:
    first, second = seed(project, "pending_review", "Deploy", "Release notes")
    accepted = todo_json(cli, "review", first, "--accept")
    assert (accepted["ref"], accepted["status"]) == (first, "completed")
    rejected = cli("todo", "review", second, "--reject", check=0).stdout
    assert rejected == f"{second} rejected: Release notes [in_progress]\n"
    again = cli("todo", "review", first, "--reject", check=2)
    assert again.stderr == f"error: {first} is completed, not pending_review\n"
    reviews = [
        (kind, evidence["todo_id"], evidence["new_status"])
        for kind, evidence, _ in todo_events(read_db, project)
        if kind.startswith("todo.review")
    ]
    assert reviews == [
        ("todo.review_accepted", accepted["id"], "completed"),
        ("todo.review_rejected", int(second.removeprefix("todo-")), "in_progress"),
    ]


def test_another_projects_todo_is_not_found(cli: Cli, project: Project) -> None:
    (theirs,) = seed(project, "in_progress", "Theirs", project_id="other")
    result = cli("todo", "done", theirs, check=1)
    assert result.stderr == f"error: no todo {theirs} in project proj\n"
    assert todo_json(cli, "list", "--all") == []


BAD_INPUT = [
    (["done", "abc"], 2, "'abc' is not a todo id (give 12 or todo-12)"),
    (["start", "todo-x"], 2, "'todo-x' is not a todo id (give 12 or todo-12)"),
    (["done", "\u00b2"], 2, "'\u00b2' is not a todo id (give 12 or todo-12)"),
    (["done", "9" * 25], 2, f"'{'9' * 25}' is not a todo id (give 12 or todo-12)"),
    (["start", "999"], 1, "no todo todo-999"),
    (["review", "1"], 2, "give --accept or --reject"),
    (["review", "1", "--accept", "--reject"], 2, "give --accept or --reject"),
    (["review", "--accept"], 2, "--accept and --reject need the todo to decide on"),
    (["add", " "], 2, "title: give a non-empty title"),
    (["add", "x" * 501], 2, "title: longer than 500 characters"),
    (
        ["list", "--status", "done"],
        2,
        "status: 'done' is not one of pending, in_progress, pending_review, completed",
    ),
]


def test_bad_ids_and_options_are_one_line_errors(cli: Cli, project: Project) -> None:
    """Exit 2 for input that is not valid, 1 for a todo that does not exist (as for any
    record the store does not have); no traceback (the cli fixture checks)."""
    for args, code, message in BAD_INPUT:
        result = cli("todo", *args, check=code)
        assert (result.stdout, result.stderr) == ("", f"error: {message}\n"), args
