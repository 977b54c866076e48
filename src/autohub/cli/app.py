"""The Typer application: global options and the commands of each area."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from autohub import __version__
from autohub.cli import check, db, definitions, events, hook, init, n8n, runs, serve, todo, tokens
from autohub.cli.output import print_error
from autohub.errors import AutohubError, InvalidInput, MigrationRequired, ProblemsError

app = typer.Typer(
    name="autohub",
    help="One hub for a team's automations: definitions, safe runs, one audit trail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"autohub {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="autohub.yaml to use (default: found upwards).",
            envvar="AUTOHUB_CONFIG",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    ctx.obj = {"config": config}


app.command("init")(init.init_command)
app.command("validate")(definitions.validate_command)
app.command("list")(definitions.list_command)
app.command("show")(definitions.show_command)
app.command("run")(runs.run_command)
app.command("runs")(runs.runs_command)
app.command("run-show")(runs.run_show_command)
app.command("cancel")(runs.cancel_command)
app.command("resume")(runs.resume_command)
app.command("serve")(serve.serve_command)
app.command("check")(check.check_command)
app.add_typer(events.app, name="events")
app.add_typer(db.app, name="db")
app.add_typer(tokens.app, name="token")
app.add_typer(todo.app, name="todo")
app.add_typer(hook.app, name="hook")
app.add_typer(n8n.app, name="n8n")


EXIT_FAILURE = 1
EXIT_USAGE = 2


def exit_code_for(error: AutohubError) -> int:
    """1 for invalid definitions and failures, 2 for bad input and an outdated schema."""
    if isinstance(error, InvalidInput | MigrationRequired):
        return EXIT_USAGE
    if isinstance(error, ProblemsError):
        return EXIT_FAILURE
    return EXIT_FAILURE


def run(args: list[str]) -> int:
    """Run the CLI; user errors are printed without a traceback and map to exit codes."""
    try:
        app(args=args, prog_name="autohub", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except AutohubError as error:
        print_error(error)
        return exit_code_for(error)
    except KeyboardInterrupt:
        return 130
    return 0
