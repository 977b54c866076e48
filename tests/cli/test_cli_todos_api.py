"""``/v1/todos`` over real HTTP on SQLite and PostgreSQL: viewers read, operators change,
tool output posted to ``/v1/todos/observe`` completes a todo, other projects' todos are
404."""

from __future__ import annotations

from serve_helpers import bearer, serving, token


def test_operators_add_start_and_complete_todos_viewers_only_read(cli, project, read_db):
    viewer, operator = bearer(token(cli, "viewer")), bearer(token(cli, "operator"))

    with serving(cli) as client:
        denied = client.post("/v1/todos", json={"title": "Ship it"}, headers=viewer)
        added = client.post("/v1/todos", json={"title": "Ship it"}, headers=operator)
        ref = added.json()["ref"]
        started = client.post(f"/v1/todos/{ref}/start", headers=operator)
        listed = client.get("/v1/todos", headers=viewer)
        done = client.post(f"/v1/todos/{ref}/done", headers=operator)
        open_after = client.get("/v1/todos", headers=viewer)
        completed = client.get("/v1/todos?status=completed", headers=viewer)
        shown = client.get(f"/v1/todos/{ref}", headers=viewer)

    assert denied.status_code == 403
    assert added.status_code == 201
    assert added.json()["status"] == "pending"
    assert started.json()["status"] == "in_progress"
    assert [todo["ref"] for todo in listed.json()] == [ref]
    assert done.json()["status"] == "completed"
    assert open_after.json() == []
    assert [todo["ref"] for todo in completed.json()] == [ref]
    assert shown.json()["completed_at"] is not None
    events = read_db(
        project.database_url,
        "SELECT event_type, evidence FROM automation_events "
        "WHERE event_type LIKE 'todo.%' ORDER BY id",
    )
    assert [event["event_type"] for event in events] == [
        "todo.added",
        "todo.started",
        "todo.completed",
    ]


def test_observed_output_completes_or_sends_to_review(cli, project):
    operator = bearer(token(cli, "operator"))

    with serving(cli) as client:
        first = client.post(
            "/v1/todos", json={"title": "Run the tests", "status": "in_progress"}, headers=operator
        ).json()
        passed = client.post(
            "/v1/todos/observe",
            json={"tool_name": "pytest", "text": "===== 12 passed in 0.52s ====="},
            headers=operator,
        )
        second = client.post(
            "/v1/todos", json={"title": "Write notes", "status": "in_progress"}, headers=operator
        ).json()
        created = client.post(
            "/v1/todos/observe",
            json={"tool_name": "Write", "text": "created notes.md", "todo": second["ref"]},
            headers=operator,
        )
        review_queue = client.get("/v1/todos?status=pending_review", headers=operator)
        accepted = client.post(
            f"/v1/todos/{second['ref']}/review", json={"accept": True}, headers=operator
        )
        again = client.post(
            f"/v1/todos/{second['ref']}/review", json={"accept": True}, headers=operator
        )
        nothing = client.post(
            "/v1/todos/observe", json={"tool_name": "Bash", "text": "ls"}, headers=operator
        )

    assert passed.status_code == 200
    assert passed.json() | {"reason": None} == {
        "event_type": "action_item_completed",
        "changed": True,
        "reason": None,
        "todo_id": first["id"],
        "old_status": "in_progress",
        "new_status": "completed",
        "detected_keyword": "passed",
        "keyword_category": "test-success",
        "confidence": 93,
    }
    assert created.json()["event_type"] == "action_item_pending_review"
    assert created.json()["confidence"] == 75
    assert [todo["id"] for todo in review_queue.json()] == [second["id"]]
    assert accepted.json()["status"] == "completed"
    assert again.status_code == 409
    assert "not pending_review" in again.json()["error"]["message"]
    assert nothing.json()["event_type"] == "no_action_taken"
    assert nothing.json()["changed"] is False


def test_other_projects_todos_are_not_found_and_bad_input_is_422(cli, project):
    operator = bearer(token(cli, "operator"))
    cli("token", "create", "--role", "operator", "--project", "elsewhere", check=0)

    with serving(cli) as client:
        todo = client.post("/v1/todos", json={"title": "Mine"}, headers=operator).json()
        foreign = client.post(
            "/v1/todos", json={"title": "Theirs", "project": "elsewhere"}, headers=operator
        )
        missing = client.get("/v1/todos/todo-999999", headers=operator)
        bad_ref = client.get("/v1/todos/banana", headers=operator)
        empty_title = client.post("/v1/todos", json={"title": ""}, headers=operator)
        bad_status = client.get("/v1/todos?status=done", headers=operator)
        shown = client.get(f"/v1/todos/{todo['ref']}", headers=operator)

    assert foreign.status_code == 404
    assert missing.status_code == 404
    assert bad_ref.status_code == 400
    assert "todo id" in bad_ref.json()["error"]["message"]
    assert empty_title.status_code == 422
    assert bad_status.status_code == 422
    assert shown.json()["title"] == "Mine"
