"""``/v1/todos``: action items, and tool output observed over HTTP (the API face of the
action tracker, for agents and CI that cannot run ``autohub hook``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from autohub.hub import Hub
from autohub.server.auth import chosen_project
from autohub.server.visibility import Grant
from autohub.store.todos import OPEN_STATUSES, TITLE_MAX_CHARS, Todo, TodoStatus, parse_ref
from autohub.watch.tracker import Observation


class NewTodo(BaseModel):
    """``POST /v1/todos``."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=TITLE_MAX_CHARS)
    status: Literal["pending", "in_progress"] = "pending"
    project: str | None = None


class Review(BaseModel):
    """``POST /v1/todos/{id}/review``: the decision on a pending_review todo."""

    model_config = ConfigDict(extra="forbid")

    accept: bool


class ToolOutput(BaseModel):
    """``POST /v1/todos/observe``: a tool's output to detect action items in."""

    model_config = ConfigDict(extra="forbid")

    tool_name: str = Field(min_length=1, max_length=100)
    text: str = Field(max_length=1_000_000)
    todo: str | None = Field(default=None, description="12 or todo-12; default: found.")
    session_id: str | None = Field(default=None, max_length=64)
    project: str | None = None


def todo_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    """Todos of the token's projects: viewers read, operators change."""

    async def visible(request: Request, ref: str, role: str) -> Todo:
        token = await grant(request, role)
        todo = await run_in_threadpool(hub.todos.get, ref)
        chosen_project(token, todo.project_id)  # another project's todo: 404
        return todo

    @router.get("/todos", tags=["todos"])
    async def list_todos(
        request: Request,
        status: Annotated[
            list[TodoStatus] | None, Query(description="Default: the open ones.")
        ] = None,
        project: str | None = None,
    ) -> Any:
        """The project's todos, oldest first."""
        token = await grant(request, "viewer")
        chosen = chosen_project(token, project)
        statuses: list[str] = list(status or OPEN_STATUSES)
        todos = await run_in_threadpool(lambda: hub.todos.query(chosen, statuses=statuses))
        return [todo.to_dict() for todo in todos]

    @router.post("/todos", tags=["todos"], status_code=201)
    async def add_todo(request: Request, body: NewTodo) -> Any:
        """A new todo (``in_progress``: tool output may complete it at once)."""
        token = await grant(request, "operator")
        chosen = chosen_project(token, body.project)
        todo = await run_in_threadpool(
            lambda: hub.todos.add(chosen, body.title, status=body.status, source="api")
        )
        return todo.to_dict()

    @router.get("/todos/{ref}", tags=["todos"])
    async def show_todo(request: Request, ref: str) -> Any:
        """One todo, with the detection that last changed it."""
        return (await visible(request, ref, "viewer")).to_dict()

    async def move(
        request: Request, ref: str, status: str, event_type: str, expected: str | None = None
    ) -> Any:
        todo = await visible(request, ref, "operator")
        changed = await run_in_threadpool(
            lambda: hub.todos.change(
                todo, status, event_type=event_type, expected=expected, by="api"
            )
        )
        return changed.to_dict()

    @router.post("/todos/{ref}/start", tags=["todos"])
    async def start_todo(request: Request, ref: str) -> Any:
        """Mark a todo in progress."""
        return await move(request, ref, "in_progress", "todo.started")

    @router.post("/todos/{ref}/done", tags=["todos"])
    async def complete_todo(request: Request, ref: str) -> Any:
        """Complete a todo by hand."""
        return await move(request, ref, "completed", "todo.completed")

    @router.post("/todos/{ref}/review", tags=["todos"])
    async def review_todo(request: Request, ref: str, body: Review) -> Any:
        """Accept (complete) or reject (back to in progress) a pending_review todo."""
        if body.accept:
            return await move(request, ref, "completed", "todo.review_accepted", "pending_review")
        return await move(request, ref, "in_progress", "todo.review_rejected", "pending_review")

    @router.post("/todos/observe", tags=["todos"])
    async def observe_output(request: Request, body: ToolOutput) -> Any:
        """Detect an action item in a tool's output and update its todo (or record why
        not): the same decision as the Claude Code hook's."""
        token = await grant(request, "operator")
        chosen = chosen_project(token, body.project)
        observation = Observation(
            project_id=chosen,
            tool_name=body.tool_name,
            text=body.text,
            todo_id=parse_ref(body.todo) if body.todo else None,
            session_id=body.session_id,
            detected_from="api",
        )
        result = await run_in_threadpool(hub.tracker.observe, observation)
        return result.to_dict()
