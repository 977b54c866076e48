"""``autohub hook``: AI coding-agent hooks (Claude Code), and their installation.

``autohub hook claude-code`` runs after (and before) every tool call of the agent, so it
must never get in the way: it exits 0 with nothing on stdout, whatever happens, unless
the ``watch.claude_code`` policy blocks a call (exit 2, the reason on stderr, which
Claude Code shows to the agent). Its own errors go to stderr (Claude Code's debug log)
and, as a ``no_action_taken`` event, to the store or its spool.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TextIO

import typer

from autohub.cli.output import print_json, stdout

app = typer.Typer(help="Hooks for AI coding agents (Claude Code).", no_args_is_help=True)
install_app = typer.Typer(help="Register autohub's hooks with an agent.", no_args_is_help=True)
app.add_typer(install_app, name="install")

EXIT_CONTINUE = 0
EXIT_BLOCK = 2
MAX_INPUT_BYTES = 16 * 1024 * 1024


@app.command("claude-code")
def claude_code_command(ctx: typer.Context) -> None:
    """Handle one Claude Code hook call: the hook JSON on stdin."""
    config: Path | None = (ctx.obj or {}).get("config")
    raise typer.Exit(run_claude_code_hook(sys.stdin.buffer, sys.stderr, config=config))


def run_claude_code_hook(
    stdin: BinaryIO,
    stderr: TextIO,
    *,
    config: Path | None = None,
    environ: dict[str, str] | None = None,
) -> int:
    """Handle the hook call on ``stdin``; the exit code Claude Code should see."""
    env = dict(os.environ if environ is None else environ)
    raw = stdin.read(MAX_INPUT_BYTES + 1)
    payload: Any = None
    problem: str | None = None
    if len(raw) > MAX_INPUT_BYTES:
        problem = f"hook input over {MAX_INPUT_BYTES} bytes"
    else:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            problem = f"hook input is not JSON: {exc}"
    cwd = _start_directory(payload, env)
    try:
        return _handle(payload, problem, cwd, config, stderr)
    except Exception as exc:  # never break the agent: say it, spool it, let it go on
        message = f"autohub hook: {type(exc).__name__}: {exc}"
        print(message, file=stderr)
        _spool_failure(cwd, message, env)
        return EXIT_CONTINUE


def _handle(
    payload: Any, problem: str | None, cwd: Path, config: Path | None, stderr: TextIO
) -> int:
    from autohub.hub import Hub
    from autohub.watch.claude_code import InvalidHookInput, Policy, parse_call
    from autohub.watch.hook import HookHandler

    with Hub.from_config(config, cwd=cwd) as hub:
        settings = hub.config.file.watch.claude_code
        handler = HookHandler(
            project_id=hub.project,
            project_root=hub.config.root,
            tracker=hub.tracker,
            todos=hub.todos,
            policy=Policy(settings.deny_commands, settings.protect_paths),
        )
        if problem is not None:
            handler.invalid(problem)
            print(f"autohub hook: {problem}", file=stderr)
            return EXIT_CONTINUE
        try:
            call = parse_call(payload)
        except InvalidHookInput as exc:
            handler.invalid(str(exc))
            print(f"autohub hook: {exc}", file=stderr)
            return EXIT_CONTINUE
        decision = handler.handle(call)
        if decision.block_reason is not None:
            print(decision.block_reason, file=stderr)
            return EXIT_BLOCK
        return EXIT_CONTINUE


def _start_directory(payload: Any, env: dict[str, str]) -> Path:
    """Where the project's autohub.yaml is looked for: the agent's project directory,
    else the call's cwd, else ours."""
    for candidate in (
        env.get("CLAUDE_PROJECT_DIR"),
        payload.get("cwd") if isinstance(payload, dict) else None,
    ):
        if isinstance(candidate, str) and candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path.cwd()


def _spool_failure(cwd: Path, message: str, env: dict[str, str]) -> None:
    """Keep a record of the hook's own failure in the project's spool, if it can."""
    try:
        from autohub.config import STATE_DIR, find_config
        from autohub.redact import Redactor
        from autohub.store.events import spool_event
        from autohub.store.spool import EventSpool

        found = find_config(cwd.resolve())
        root = found.parent if found else cwd
        spool_event(
            EventSpool(root / STATE_DIR / "spool"),
            {
                "event_type": "no_action_taken",
                "project_id": env.get("AUTOHUB_PROJECT") or "default",
                "status": "skipped",
                "evidence": {"tool_name": "unknown", "reason": message[:500]},
                "detected_from": "claude-code hook",
            },
            Redactor(),
        )
    except Exception as exc:  # the last resort failed too: stderr is all there is
        print(f"autohub hook: could not spool the failure: {exc}", file=sys.stderr)


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

    hook_command = command or f"{_quoted(_autohub_executable())} {HOOK_MARKER}"
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


def _autohub_executable() -> str:
    """The absolute path of this autohub's command (an agent's shell may lack our PATH)."""
    script = Path(sys.argv[0])
    if script.name == "autohub" and script.exists():
        return str(script.resolve())
    beside = Path(sys.executable).parent / "autohub"
    if beside.exists():
        return str(beside)
    return f"{sys.executable} -m autohub"


def _quoted(command: str) -> str:
    import shlex

    return command if " -m " in command else shlex.quote(command)
