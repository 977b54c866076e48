"""Opening the project a command works on."""

from __future__ import annotations

from pathlib import Path

import typer

from autohub.hub import Hub


def open_hub(ctx: typer.Context) -> Hub:
    config: Path | None = (ctx.obj or {}).get("config")
    return Hub.from_config(config)


def open_ready_hub(ctx: typer.Context) -> Hub:
    """A hub whose database schema is current (else MigrationRequired)."""
    hub = open_hub(ctx)
    hub.require_schema()
    return hub
