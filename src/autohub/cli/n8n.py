"""``autohub n8n``: the n8n instance of the project (``watch``: the executions watcher)."""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from autohub.cli.context import open_ready_hub
from autohub.cli.events import parse_duration_option
from autohub.cli.output import note

if TYPE_CHECKING:
    from autohub.store.events import Event

app = typer.Typer(help="The project's n8n instance.", no_args_is_help=True)


class _StderrWarnings(logging.Handler):
    """The watcher's warnings (n8n down, a poll failed) as one line each on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        note(f"{record.levelname.lower()}: {record.getMessage()}")


@app.command("watch")
def watch_command(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Poll once and exit.")] = False,
    interval: Annotated[
        str | None,
        typer.Option(
            "--interval", help="Time between polls, e.g. 15s. Default: n8n.watch_interval_seconds."
        ),
    ] = None,
    lookback: Annotated[
        str,
        typer.Option(
            "--lookback",
            help="Only executions started this recently (the first poll on a new store "
            "reports no older history). Executions stopped in the last 5 s wait for the "
            "next poll.",
        ),
    ] = "1h",
    workflow: Annotated[
        list[str] | None,
        typer.Option("--workflow", help="Only this n8n workflow id (repeat)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each report as JSON.")] = False,
) -> None:
    """Report failed n8n executions (n8n_failure_detected events) that no webhook call saw,
    each once, polling until Ctrl-C."""
    from autohub.n8n.watcher import ExecutionsWatcher

    lookback_seconds = parse_duration_option(lookback, "--lookback")
    with open_ready_hub(ctx) as hub:
        settings = hub.config.file.n8n
        interval_seconds = (
            parse_duration_option(interval, "--interval")
            if interval
            else settings.watch_interval_seconds
        )
        watcher = ExecutionsWatcher.from_hub(
            hub, lookback_seconds=lookback_seconds, workflow_ids=workflow or []
        )
        logger = logging.getLogger("autohub.n8n")
        handler = _StderrWarnings(logging.WARNING)
        logger.addHandler(handler)
        if not once:
            note(
                f"watching n8n {watcher.client.base_url} every {interval_seconds:g}s (Ctrl-C stops)"
            )
        try:
            watcher.run(
                interval_seconds,
                once=once,
                on_report=lambda event: _print(event, as_json),
            )
        except KeyboardInterrupt:
            note("stopped")
        finally:
            logger.removeHandler(handler)
            watcher.client.close()
        if once:
            note(f"{watcher.status.reported} failure(s) reported")


def _print(event: Event, as_json: bool) -> None:
    evidence = event.evidence
    if as_json:
        line = json.dumps(event.to_dict(), ensure_ascii=False, default=str)
    else:
        line = (
            f"{evidence.get('failure_type')} execution {evidence.get('execution_id')} "
            f"of {evidence.get('workflow_name') or evidence.get('workflow_id')} "
            f"(/webhook/{evidence.get('webhook_path')}) at {evidence.get('started_at')}: "
            f"{evidence.get('reason')}"
        )
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@app.command("call")
def call_command(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="A workflow of n8n.workflows.")],
    payload: Annotated[
        str | None, typer.Option("--payload", help="The JSON body to send (default: none).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Call a configured workflow now, with its fallback chain, outside any run: it works
    with the database down (the events wait in the spool). Exit 0 when n8n or a fallback
    tier succeeded, 1 otherwise."""
    from autohub.cli.context import open_writable_hub
    from autohub.cli.output import print_json, stdout
    from autohub.errors import InvalidInput
    from autohub.n8n.direct import call_workflow

    body = None
    if payload is not None:
        try:
            body = json.loads(payload)
        except ValueError as exc:
            raise InvalidInput(f"--payload: not JSON: {exc}") from exc
    with open_writable_hub(ctx) as hub:
        done = call_workflow(hub, workflow, body)
    outcome = done.outcome
    if as_json:
        print_json(
            {
                "state": outcome.state,
                "method": outcome.method,
                "output": outcome.output,
                "error": outcome.error,
                "correlation_id": done.correlation_id,
                "attempts": done.attempts,
            }
        )
    else:
        stdout.print(
            f"{workflow}: {outcome.state} by {outcome.method} (correlation {done.correlation_id})",
            highlight=False,
        )
        if outcome.error and outcome.state != "succeeded":
            note(outcome.error)
    if outcome.state != "succeeded":
        raise typer.Exit(1)
