"""Opening the project a command works on."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from autohub.errors import MigrationRequired

if TYPE_CHECKING:
    from autohub.hub import Hub


def open_hub(ctx: typer.Context, *, strict: bool = True) -> Hub:
    from autohub.hub import Hub  # config (pydantic) only when a command runs, not for --help

    config: Path | None = (ctx.obj or {}).get("config")
    return Hub.from_config(config, strict=strict)


def open_ready_hub(ctx: typer.Context) -> Hub:
    """A hub whose database schema is current (else MigrationRequired)."""
    hub = open_hub(ctx)
    require_schema(hub)
    return hub


def open_writable_hub(ctx: typer.Context) -> Hub:
    """A hub to record events with: its schema must be current, but while the database
    is unreachable events still go to the spool, to be flushed when it returns."""
    from autohub.errors import StoreUnavailable

    hub = open_hub(ctx)
    with contextlib.suppress(StoreUnavailable):  # the event store spools meanwhile
        require_schema(hub)
    return hub


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that does not exist yet (None for anything else).

    Opening such a URL would create the file (and its directory): commands that only
    read must not leave an empty database behind; ``autohub db upgrade`` creates it.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None  # Database.create reports a malformed URL
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path.startswith(":memory:"):
        return None
    if path.startswith("file:") or Path(path).exists():
        return None
    return Path(path)


def require_schema(hub: Hub) -> None:
    """MigrationRequired unless the schema is current; never creates a SQLite file."""
    missing = missing_sqlite_file(hub.config.database_url)
    if missing is not None:
        raise MigrationRequired(
            f"database {missing} does not exist: run `autohub db upgrade` to create it"
        )
    hub.require_schema()
