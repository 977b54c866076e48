"""The Claude Code hook's fast start: standard library only, before Typer is imported.

``autohub hook claude-code`` runs after every tool call of the agent, so its time
matters: loading the configuration through pydantic and the store through SQLAlchemy
costs about a second here. When the project's settings are cached and current
(``hook_settings``) and its store is a SQLite file, the call is handled with the
``sqlite3`` module alone, taking the same decisions (``watch.hook``) and writing the
same rows. Anything else (no cache, PostgreSQL, input that is not a usable call, a
store error) hands the untouched input to the normal route (``hook_runner``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from autohub.watch.hook import HookDecision

EXIT_CONTINUE = 0
EXIT_BLOCK = 2
MAX_INPUT_BYTES = 16 * 1024 * 1024


def main(config: Path | None = None) -> int:
    """Handle the hook call on stdin: fast when it can, else the normal way."""
    raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    code = try_fast(raw, sys.stderr, config=config)
    if code is not None:
        return code
    from autohub.cli.hook_runner import run_claude_code_hook

    return run_claude_code_hook(raw, sys.stderr, config=config)


def try_fast(
    raw: bytes,
    stderr: TextIO,
    *,
    config: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> int | None:
    """The exit code of the call in ``raw`` handled the fast way, or None to take the
    normal route (nothing has been written then)."""
    env = os.environ if environ is None else environ
    if len(raw) > MAX_INPUT_BYTES:  # the normal route says so
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    from autohub.cli.hook_settings import read_settings
    from autohub.paths import find_config

    config_path = config or (Path(env["AUTOHUB_CONFIG"]) if env.get("AUTOHUB_CONFIG") else None)
    if config_path is None:
        config_path = find_config(start_directory(payload, env).resolve())
    if config_path is None:
        return None
    settings = read_settings(config_path.resolve(), env)
    if settings is None:
        return None
    from autohub.errors import AutohubError
    from autohub.watch.claude_code import InvalidHookInput, parse_call

    try:
        call = parse_call(payload)
    except InvalidHookInput:
        return None  # the normal route records why
    try:
        return _handle(call, settings, env, stderr)
    except AutohubError:
        return None  # e.g. the file is locked or not migrated: the normal route decides


def _handle(call: Any, settings: Any, env: Mapping[str, str], stderr: TextIO) -> int:
    from autohub.secret_values import Secrets
    from autohub.store.event_rows import EventLimits
    from autohub.store.sqlite_file import SqliteFile
    from autohub.store.todos import TodoStore
    from autohub.watch.claude_code import Policy
    from autohub.watch.hook import HookHandler
    from autohub.watch.tracker import ActionTracker, Thresholds

    secrets_file = Path(settings.secrets_file) if settings.secrets_file else None
    redactor = Secrets.load(secrets_file, env).redactor(settings.referenced_secrets)
    store = SqliteFile(
        Path(settings.database_path),
        schema_revision=settings.schema_revision,
        redactor=redactor,
        limits=EventLimits(settings.evidence_max_bytes, settings.string_max_chars),
    )
    try:
        todos = TodoStore(store)
        handler = HookHandler(
            project_id=settings.project_id,
            project_root=Path(settings.root),
            tracker=ActionTracker(
                todos, store, thresholds=Thresholds(settings.complete_at, settings.review_at)
            ),
            todos=todos,
            policy=Policy(settings.deny_commands, settings.protect_paths),
        )
        decision = handler.handle(call)
    finally:
        store.close()
    return exit_code(decision, stderr)


def exit_code(decision: HookDecision, stderr: TextIO) -> int:
    """The hook's exit code for a ``watch.hook`` decision: EXIT_BLOCK (its reason on
    stderr, for the agent) or EXIT_CONTINUE."""
    if decision.block_reason is not None:
        print(decision.block_reason, file=stderr)
        return EXIT_BLOCK
    return EXIT_CONTINUE


def start_directory(payload: Any, env: Mapping[str, str]) -> Path:
    """Where the project's autohub.yaml is looked for: the agent's project directory,
    else the call's cwd, else ours."""
    for candidate in (
        env.get("CLAUDE_PROJECT_DIR"),
        payload.get("cwd") if isinstance(payload, dict) else None,
    ):
        if isinstance(candidate, str) and candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path.cwd()
