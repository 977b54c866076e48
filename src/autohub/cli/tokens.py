"""``autohub token``: API tokens for the HTTP API (created, listed, revoked)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from autohub.cli.context import open_ready_hub
from autohub.cli.output import note, print_json, stdout, when
from autohub.errors import InvalidInput

app = typer.Typer(help="Manage API tokens (bearer secrets for the HTTP API).", no_args_is_help=True)


@app.command("create")
def create_command(
    ctx: typer.Context,
    role: Annotated[str, typer.Option("--role", help="viewer, operator or admin.")],
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="A project it sees (repeat); default: this one."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime, e.g. 30d or 12h; default: none.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="A label, e.g. who uses it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a token and print its secret, once: it is stored only as a hash."""
    from datetime import timedelta

    from autohub.units import parse_duration

    lifetime = None
    if expires is not None:
        try:
            lifetime = timedelta(seconds=parse_duration(expires))
        except ValueError as exc:
            raise InvalidInput(f"--expires: {exc}") from exc
    with open_ready_hub(ctx) as hub:
        projects = project or [hub.project]
        token, secret = hub.tokens.create(role, projects, expires_in=lifetime, name=name)
        if as_json:
            print_json({**token.to_dict(), "secret": secret})
            return
        stdout.print(f"token {token.id} ({token.role}; {', '.join(token.projects)})")
        stdout.print(secret, soft_wrap=True, highlight=False)
        note("the secret is shown this once; keep it where the client can read it")


@app.command("list")
def list_command(
    ctx: typer.Context,
    show_all: Annotated[
        bool, typer.Option("--all", help="Revoked and expired tokens too.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tokens, newest first, without their secrets."""
    with open_ready_hub(ctx) as hub:
        tokens = hub.tokens.list(include_inactive=show_all)
        now = hub.tokens.clock()
        if as_json:
            print_json([{**t.to_dict(), "state": t.state(now)} for t in tokens])
            return
        if not tokens:
            stdout.print("no tokens")
            return
        table = Table(title=f"{len(tokens)} tokens, newest first", title_justify="left")
        for column in ("id", "role", "projects", "name", "created", "expires", "state"):
            table.add_column(column, no_wrap=column in ("id", "role", "state"))
        for token in tokens:
            table.add_row(
                token.id,
                token.role,
                escape(", ".join(token.projects)),
                escape(token.name or "-"),
                when(token.created_at),
                when(token.expires_at) if token.expires_at else "never",
                token.state(now),
            )
        stdout.print(table)


@app.command("revoke")
def revoke_command(
    ctx: typer.Context,
    token_id: Annotated[str, typer.Argument(help="The token's id (from `autohub token list`).")],
) -> None:
    """Revoke a token at once."""
    with open_ready_hub(ctx) as hub:
        token = hub.tokens.revoke(token_id)
        stdout.print(f"token {token.id} revoked at {when(token.revoked_at)}")
