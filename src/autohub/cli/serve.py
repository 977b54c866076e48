"""``autohub serve``: the HTTP server (FastAPI on uvicorn)."""

from __future__ import annotations

from typing import Annotated

import typer

from autohub.cli.context import open_ready_hub
from autohub.cli.output import note


def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Default: server.host.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Default: server.port.")] = None,
    executor: Annotated[
        bool,
        typer.Option(
            "--executor/--no-executor",
            help="Execute runs here (off: an API-only server; other servers or "
            "`autohub resume` execute them).",
        ),
    ] = True,
    scheduler: Annotated[
        bool | None,
        typer.Option(
            "--scheduler/--no-scheduler",
            help="Fire cron and event triggers. Default: server.scheduler.",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API until SIGINT or SIGTERM."""
    import uvicorn

    from autohub.server.app import create_app

    with open_ready_hub(ctx) as hub:
        settings = hub.config.file.server
        if scheduler is not None:
            settings.scheduler = scheduler
        bind_host, bind_port = host or settings.host, port or settings.port
        note(f"autohub serving {hub.project} on http://{bind_host}:{bind_port}")
        uvicorn.run(
            create_app(hub, execute_runs=executor),
            host=bind_host,
            port=bind_port,
            log_level="warning",
            access_log=False,
        )
