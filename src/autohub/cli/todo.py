"""``autohub todo``: the action items that tool output completes (add, list, start, done,
review)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from autohub.cli.context import open_ready_hub
from autohub.cli.output import print_json, stdout, when
from autohub.errors import InvalidInput

if TYPE_CHECKING:
    from autohub.hub import Hub
    from autohub.store.todos import Todo

app = typer.Typer(
    help="Action items: added by people and agents, completed from tool output.",
    no_args_is_help=True,
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TodoRef = Annotated[str, typer.Argument(help="The todo: 12 or todo-12.")]


@app.command("add")
def add_command(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="What is to be done.")],
    start: Annotated[
        bool, typer.Option("--start", help="Mark it in progress at once (output completes it).")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Add a todo (pending, or in progress with --start)."""
    with open_ready_hub(ctx) as hub:
        todo = hub.todos.add(hub.project, title, status="in_progress" if start else "pending")
        _show(todo, as_json, "added")


@app.command("list")
def list_command(
    ctx: typer.Context,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            help="pending, in_progress, pending_review or completed (repeat); default: open.",
        ),
    ] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Completed todos too.")] = False,
    as_json: AsJson = False,
) -> None:
    """The project's todos, oldest first (open ones unless asked)."""
    from autohub.store.todos import OPEN_STATUSES

    statuses = status or ([] if show_all else list(OPEN_STATUSES))
    with open_ready_hub(ctx) as hub:
        todos = hub.todos.query(hub.project, statuses=statuses)
        if as_json:
            print_json([todo.to_dict() for todo in todos])
            return
        if not todos:
            stdout.print("no todos")
            return
        table = Table(title=f"{len(todos)} todos", title_justify="left")
        for column in ("id", "status", "title", "source", "updated", "detected"):
            table.add_column(column, no_wrap=column in ("id", "status"))
        for todo in todos:
            found = todo.detection or {}
            detected = (
                f"{found.get('keyword_category')} ({found.get('confidence')})" if found else "-"
            )
            table.add_row(
                todo.ref,
                todo.status,
                escape(todo.title),
                todo.source,
                when(todo.updated_at),
                escape(detected),
            )
        stdout.print(table)


@app.command("start")
def start_command(ctx: typer.Context, todo: TodoRef, as_json: AsJson = False) -> None:
    """Mark a todo in progress: tool output may now complete it."""
    with open_ready_hub(ctx) as hub:
        _show(_move(hub, todo, "in_progress", "todo.started"), as_json, "in progress")


@app.command("done")
def done_command(ctx: typer.Context, todo: TodoRef, as_json: AsJson = False) -> None:
    """Complete a todo by hand."""
    with open_ready_hub(ctx) as hub:
        _show(_move(hub, todo, "completed", "todo.completed"), as_json, "completed")


@app.command("review")
def review_command(
    ctx: typer.Context,
    todo: Annotated[
        str | None, typer.Argument(help="The todo to decide on; none: list those to review.")
    ] = None,
    accept: Annotated[bool, typer.Option("--accept", help="It is done: complete it.")] = False,
    reject: Annotated[
        bool, typer.Option("--reject", help="It is not done: back to in progress.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Todos that output said were probably done (pending_review): list them, or accept or
    reject one."""
    if todo is None:
        if accept or reject:
            raise InvalidInput("--accept and --reject need the todo to decide on")
        ctx.invoke(list_command, ctx=ctx, status=["pending_review"], as_json=as_json)
        return
    if accept == reject:
        raise InvalidInput("give --accept or --reject")
    with open_ready_hub(ctx) as hub:
        if accept:
            changed = _move(hub, todo, "completed", "todo.review_accepted", "pending_review")
        else:
            changed = _move(hub, todo, "in_progress", "todo.review_rejected", "pending_review")
        _show(changed, as_json, "accepted" if accept else "rejected")


def _move(hub: Hub, ref: str, status: str, event_type: str, expected: str | None = None) -> Todo:
    return hub.todos.move(
        ref,
        status,
        project_id=hub.project,
        event_type=event_type,
        expected=expected,
        by="autohub todo",
    )


def _show(todo: Todo, as_json: bool, what: str) -> None:
    if as_json:
        print_json(todo.to_dict())
    else:
        stdout.print(f"{todo.ref} {what}: {escape(todo.title)} {escape(f'[{todo.status}]')}")
