"""The ``watch`` step kind: an automation hands an earlier step's output to the action
tracker (run with Hub.run on both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from watch_helpers import PROJECT, only_event, open_project, passed_result, started

from autohub.hub import Hub
from autohub.store.database import Database

AUTOMATIONS = """
automations:
  ci:
    steps:
      - {id: test, shell: [echo, "5 passed in 0.1s"]}
      - id: watch
        needs: [test]
        watch: {text: "{{ steps.test.output.stdout }}", tool: pytest}
  named:
    params:
      todo: {type: string}
    steps:
      - id: watch
        watch: {text: "deployed", todo: "{{ params.todo }}"}
  short:
    steps:
      - {id: watch, watch: "wrote the release notes"}
  elsewhere:
    project: other
    steps:
      - {id: watch, watch: "5 passed"}
"""


@pytest.fixture
def hub(tmp_path: Path, database: Database, database_url: str) -> Iterator[Hub]:
    """Project ``web`` with AUTOMATIONS, on the migrated test database."""
    with open_project(tmp_path, database_url, AUTOMATIONS) as opened:
        yield opened


def step_outputs(hub: Hub, run_id: str) -> dict[str, object]:
    return {step.step_id: step.output for step in hub.runs.steps(run_id)}


def test_a_watch_step_completes_the_todo_a_shell_steps_output_reports(hub: Hub) -> None:
    todo = started(hub.todos, "Run the test suite")
    run = hub.run("ci")
    assert run.state == "succeeded"
    assert step_outputs(hub, run.id)["watch"] == passed_result(todo.id)
    assert hub.todos.get(todo.id).status == "completed"
    event = only_event(hub.events, "action_item_completed")
    assert (event.project_id, event.run_id, event.detected_from) == (
        PROJECT,
        run.id,
        "automation ci, step watch",
    )
    assert event.evidence["tool_name"] == "pytest"
    assert event.evidence["context_snippet"] == "5 passed in 0.1s"


def test_a_watch_step_updates_the_todo_it_names(hub: Hub) -> None:
    other = started(hub.todos, "Something else")
    pending = started(hub.todos, "Deploy", status="pending")
    run = hub.run("named", {"todo": pending.ref})
    assert run.state == "succeeded"
    assert hub.todos.get(pending.id).status == "completed"
    assert hub.todos.get(other.id).status == "in_progress"
    assert only_event(hub.events, "action_item_completed").evidence["tool_name"] == "automation"


def test_the_short_form_and_the_watch_thresholds_of_autohub_yaml(
    tmp_path: Path, database: Database, database_url: str
) -> None:
    """``watch: "<text>"``; "wrote" (75) completes once complete_at is 70."""
    with open_project(tmp_path, database_url, AUTOMATIONS + "watch: {complete_at: 70}") as hub:
        todo = started(hub.todos, "Release notes")
        run = hub.run("short")
        assert run.state == "succeeded"
        assert hub.todos.get(todo.id).status == "completed"


def test_output_that_completes_nothing_is_a_successful_step(hub: Hub) -> None:
    run = hub.run("short")  # no todo in progress
    assert run.state == "succeeded"
    output = step_outputs(hub, run.id)["watch"]
    assert isinstance(output, dict)
    assert (output["event_type"], output["reason"]) == (
        "no_action_taken",
        "no todo is in progress",
    )
    assert only_event(hub.events, "no_action_taken").run_id == run.id


def test_an_automation_of_another_project_updates_that_projects_todos(hub: Hub) -> None:
    ours = started(hub.todos, "Tests")
    theirs = started(hub.todos, "Tests", project_id="other")
    assert hub.run("elsewhere").state == "succeeded"
    assert hub.todos.get(theirs.id).status == "completed"
    assert hub.todos.get(ours.id).status == "in_progress"
    assert only_event(hub.events, "action_item_completed").project_id == "other"


def test_a_todo_reference_that_is_not_one_fails_the_step(hub: Hub) -> None:
    todo = started(hub.todos, "Deploy")
    run = hub.run("named", {"todo": "the deploy one"})
    assert run.state == "failed"
    attempts = [a for a in hub.runs.attempts(run.id) if a.step_id == "watch"]
    assert attempts
    assert "is not a todo id" in str(attempts[-1].error)
    assert hub.todos.get(todo.id).status == "in_progress"
