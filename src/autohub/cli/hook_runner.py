"""``autohub hook claude-code``: one Claude Code hook call, never in the agent's way.

Whatever happens, the exit code is 0 with nothing on stdout, unless the
``watch.claude_code`` policy blocks a call: exit 2, the reason on stderr (Claude Code
shows it to the agent). The hook's own errors go to stderr (Claude Code's debug log)
and, as a ``no_action_taken`` event, to the store or its spool.

Two routes, one decision: the fast start (``hook_fast``: the cached settings, the bare
SQLite file, standard library only) and the normal one here (the configuration loaded
and validated, the ``Hub``'s stores on SQLite or PostgreSQL), which also refreshes the
cache the fast start reads.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from autohub.cli.hook_fast import EXIT_CONTINUE, MAX_INPUT_BYTES, exit_code, start_directory

if TYPE_CHECKING:
    from autohub.hub import Hub


def run_claude_code_hook(
    raw: bytes,
    stderr: TextIO,
    *,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Handle the hook call in ``raw`` (the bytes on stdin) the normal way."""
    env = dict(os.environ if environ is None else environ)
    payload: Any = None
    problem: str | None = None
    if len(raw) > MAX_INPUT_BYTES:
        problem = f"hook input over {MAX_INPUT_BYTES} bytes"
    else:
        try:
            payload = json.loads(raw)
        except ValueError as exc:
            problem = f"hook input is not JSON: {exc}"
    cwd = start_directory(payload, env)
    from autohub.config import definition_file_references
    from autohub.hub import Hub

    try:
        hub = Hub.from_config(config, cwd=cwd)
    except Exception as exc:  # no project to record in: the nearest spool, as "default"
        message = _say(exc, stderr)
        _spool_failure(_default_spool(cwd), env.get("AUTOHUB_PROJECT") or "default", message)
        return EXIT_CONTINUE
    with hub:
        try:
            # The hook does not load the definitions: the secrets their files refer to are
            # read from the files' text (and cached for the fast start with the settings).
            hub.redact_references(definition_file_references(hub.config.automations_dir))
            return _handle(hub, payload, problem, stderr, env)
        except Exception as exc:  # never break the agent: say it, record it, let it go on
            message = _say(exc, stderr)
            _record_failure(hub, message)
            return EXIT_CONTINUE


def _handle(
    hub: Hub, payload: Any, problem: str | None, stderr: TextIO, env: dict[str, str]
) -> int:
    from autohub.watch.claude_code import InvalidHookInput, Policy, parse_call
    from autohub.watch.hook import HookHandler

    _refresh_fast_start(hub, env)
    settings = hub.config.file.watch.claude_code
    handler = HookHandler(
        project_id=hub.project,
        project_root=hub.config.root,
        tracker=hub.tracker,
        todos=hub.todos,
        policy=Policy(settings.deny_commands, settings.protect_paths),
    )
    if problem is None:
        try:
            call = parse_call(payload)
        except InvalidHookInput as exc:
            problem = str(exc)
    if problem is not None:
        handler.invalid(problem)
        print(f"autohub hook: {problem}", file=stderr)
        return EXIT_CONTINUE
    return exit_code(handler.handle(call), stderr)


def _refresh_fast_start(hub: Hub, env: dict[str, str]) -> None:
    """Write the settings the next calls' fast start reads (when the store's schema is
    current: the fast start never migrates nor checks more than the revision)."""
    from autohub.cli.hook_settings import read_settings, settings_of, write_settings
    from autohub.errors import StoreError
    from autohub.store.schema_head import SCHEMA_HEAD

    settings = settings_of(hub.config, env, SCHEMA_HEAD)
    if settings is None or hub.config.path is None:
        return
    if read_settings(hub.config.path, env) == settings:
        return  # current: this call came this way for another reason (its input, say)
    try:
        hub.require_schema()
        write_settings(settings, hub.config.path)
    except (StoreError, OSError):
        pass  # no fast start until the store is ready; this call goes on the normal way


def _say(exc: Exception, stderr: TextIO) -> str:
    message = f"autohub hook: {type(exc).__name__}: {exc}"
    print(message, file=stderr)
    return message


def _failure_event(project_id: str, message: str) -> dict[str, Any]:
    return {
        "event_type": "no_action_taken",
        "project_id": project_id,
        "status": "skipped",
        "evidence": {"tool_name": "unknown", "reason": message[:500]},
        "detected_from": "claude-code hook",
    }


def _record_failure(hub: Hub, message: str) -> None:
    """The hook's own failure as an event of the project (spooled while the database is
    down); straight into the project's spool if even that fails."""
    try:
        hub.events.add(_failure_event(hub.project, message))
    except Exception:
        _spool_failure(hub.config.spool_dir, hub.project, message)


def _default_spool(cwd: Path) -> Path:
    from autohub.paths import STATE_DIR, find_config

    found = find_config(cwd.resolve())
    return (found.parent if found else cwd) / STATE_DIR / "spool"


def _spool_failure(spool_dir: Path, project_id: str, message: str) -> None:
    """Keep a record of the hook's own failure in a spool, if it can."""
    try:
        from autohub.redact import Redactor
        from autohub.store.event_rows import spool_event
        from autohub.store.spool import EventSpool

        spool_event(EventSpool(spool_dir), _failure_event(project_id, message), Redactor())
    except Exception as exc:  # the last resort failed too: stderr is all there is
        print(f"autohub hook: could not spool the failure: {exc}", file=sys.stderr)
