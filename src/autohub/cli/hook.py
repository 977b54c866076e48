"""``autohub hook``: AI coding-agent hooks (Claude Code), and their installation.

``autohub hook claude-code`` itself is handled by ``hook_fast`` and ``hook_runner``
(``autohub.cli.main`` goes there before Typer is even imported).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from autohub.cli.output import print_json, stdout

app = typer.Typer(help="Hooks for AI coding agents (Claude Code).", no_args_is_help=True)
install_app = typer.Typer(help="Register autohub's hooks with an agent.", no_args_is_help=True)
app.add_typer(install_app, name="install")


@app.command("claude-code")
def claude_code_command(ctx: typer.Context) -> None:
    """Handle one Claude Code hook call: the hook JSON on stdin (exit 0, or 2 to block)."""
    from autohub.cli.hook_fast import main

    config: Path | None = (ctx.obj or {}).get("config")
    raise typer.Exit(main(config))


# -- installation -----------------------------------------------------------------------

HOOK_MARKER = "hook claude-code"
REGISTRATIONS: dict[str, str | None] = {
    "PreToolUse": "Bash|Write|Edit",
    "PostToolUse": "Bash|Write|Edit|TodoWrite",
    "PostToolUseFailure": "Bash|Write|Edit",
    "Stop": None,
}
"""The events autohub's hook is registered for, and their matchers (Stop has none)."""
HOOK_TIMEOUT_SECONDS = 10


@install_app.command("claude-code")
def install_claude_code_command(
    project_dir: Annotated[
        Path,
        typer.Option("--project-dir", help="The project whose .claude/settings.json to edit."),
    ] = Path("."),
    command: Annotated[
        str | None,
        typer.Option("--command", help="The hook command (default: this autohub's path)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Merge autohub's hook registration into .claude/settings.json (run it again: no
    change; the other hooks there are kept)."""
    from autohub.watch.install import install_hooks

    hook_command = command or f"{_autohub_command()} {HOOK_MARKER}"
    result = install_hooks(
        project_dir / ".claude" / "settings.json",
        hook_command,
        REGISTRATIONS,
        marker=HOOK_MARKER,
        timeout_seconds=HOOK_TIMEOUT_SECONDS,
    )
    if as_json:
        print_json({"path": str(result.path), "changed": result.changed, "command": hook_command})
        return
    state = "updated" if result.changed else "already up to date"
    stdout.print(f"{result.path}: {state} ({', '.join(REGISTRATIONS)} → {hook_command})")


def _autohub_command() -> str:
    """This autohub's command, shell-quoted, by absolute path (an agent's shell may lack
    our PATH)."""
    import shlex

    script = Path(sys.argv[0])
    if script.name == "autohub" and script.exists():
        return shlex.quote(str(script.resolve()))
    beside = Path(sys.executable).parent / "autohub"
    if beside.exists():
        return shlex.quote(str(beside))
    return f"{shlex.quote(sys.executable)} -m autohub"
