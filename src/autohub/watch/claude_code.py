"""Claude Code hooks: the JSON Claude Code writes on a hook's stdin, read tolerantly.

The contract (../shared/claude-hooks/CONTRACT.md): every field but ``hook_event_name``
(and, on tool events, ``tool_name``/``tool_input``) may be missing, unknown fields are
ignored. PostToolUse fires only on success; a failed tool fires PostToolUseFailure with
an ``error`` string. Bash's ``tool_response.stdout`` holds stdout and stderr merged, and
there is no exit code. Write answers ``{type, filePath, content, ...}`` or, in the
reference's abbreviated example, ``{filePath, success}``: both are accepted.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

HOOK_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "Stop")
WATCHED_TOOLS = ("Bash", "Write", "Edit", "TodoWrite")
SESSION_ID_MAX_CHARS = 64
"""A session id is the events' correlation id, which holds 64 characters."""
TODO_STATUSES = {"pending": "pending", "in_progress": "in_progress", "completed": "completed"}


class InvalidHookInput(ValueError):
    """Hook input that is not a payload autohub can use (the reason is the message)."""


@dataclass(frozen=True)
class HookCall:
    """One hook invocation, with the fields autohub uses."""

    event: str
    session_id: str | None = None
    cwd: str | None = None
    tool_name: str | None = None
    tool_input: Mapping[str, Any] = field(default_factory=dict)
    tool_response: Any = None
    tool_use_id: str | None = None
    error: str | None = None
    interrupted: bool = False
    stop_hook_active: bool = False
    last_assistant_message: str | None = None

    def metadata(self) -> dict[str, Any]:
        """What the events keep of the call besides the evidence."""
        data = {
            "hook_event_name": self.event,
            "session_id": self.session_id,
            "tool_use_id": self.tool_use_id,
            "cwd": self.cwd,
        }
        return {key: value for key, value in data.items() if value is not None}


def parse_call(payload: Any) -> HookCall:
    """The hook call in ``payload`` (decoded JSON); InvalidHookInput saying what is wrong."""
    if not isinstance(payload, dict):
        raise InvalidHookInput(f"expected a JSON object, got {type(payload).__name__}")
    event = payload.get("hook_event_name")
    if not isinstance(event, str) or not event:
        raise InvalidHookInput("hook_event_name is missing")
    tool_name = _text(payload.get("tool_name"))
    tool_input = payload.get("tool_input")
    if event in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        if tool_name is None:
            raise InvalidHookInput(f"{event} without a tool_name")
        if not isinstance(tool_input, dict):
            raise InvalidHookInput(f"{event} of {tool_name} without a tool_input object")
    response = payload.get("tool_response")
    return HookCall(
        event=event,
        session_id=_text(payload.get("session_id"), SESSION_ID_MAX_CHARS),
        cwd=_text(payload.get("cwd")),
        tool_name=tool_name,
        tool_input=tool_input if isinstance(tool_input, dict) else {},
        tool_response=response,
        tool_use_id=_text(payload.get("tool_use_id"), 128),
        error=_text(payload.get("error")),
        interrupted=bool(payload.get("is_interrupt"))
        or (isinstance(response, dict) and response.get("interrupted") is True),
        stop_hook_active=payload.get("stop_hook_active") is True,
        last_assistant_message=_text(payload.get("last_assistant_message")),
    )


def tool_output(call: HookCall) -> str | None:
    """The text a successful tool call produced, as the detector should read it; None
    when the tool's response has nothing to read."""
    response = call.tool_response
    if call.tool_name == "Bash":
        if isinstance(response, str):
            return response
        if isinstance(response, dict):
            return _text(response.get("stdout")) or _text(response.get("output"))
        return None
    if call.tool_name == "Write":
        path = _written_path(call)
        if path is None:
            return None
        if isinstance(response, dict) and response.get("type") == "update":
            return f"updated {path}"
        if isinstance(response, dict) and response.get("type") == "create":
            return f"created {path}"
        return f"wrote {path}"  # the abbreviated {filePath, success} shape
    if call.tool_name == "Edit":
        path = _written_path(call)
        return f"edited {path}" if path else None
    return None


def todo_items(call: HookCall) -> list[tuple[str, str]]:
    """A TodoWrite call's list as (title, status); InvalidHookInput when it is not one."""
    todos = call.tool_input.get("todos")
    if not isinstance(todos, list):
        raise InvalidHookInput("TodoWrite without a todos list")
    items = []
    for index, item in enumerate(todos):
        if not isinstance(item, dict):
            raise InvalidHookInput(f"todos[{index}] is not an object")
        title = _text(item.get("content")) or _text(item.get("title"))
        status = TODO_STATUSES.get(str(item.get("status")))
        if title is None or status is None:
            raise InvalidHookInput(
                f"todos[{index}] needs content and a status (pending, in_progress, completed)"
            )
        items.append((title, status))
    return items


@dataclass(frozen=True)
class Policy:
    """What the hook blocks before a tool runs (``watch.claude_code``)."""

    deny_commands: Sequence[str] = ()
    protect_paths: Sequence[str] = ()

    def block_reason(self, call: HookCall, project_root: Path) -> str | None:
        """Why a PreToolUse call must be blocked, or None to let it through."""
        if call.event != "PreToolUse":
            return None
        if call.tool_name == "Bash":
            command = _text(call.tool_input.get("command")) or ""
            for pattern in self.deny_commands:
                if re.search(pattern, command):
                    return (
                        f"autohub: this command matches watch.claude_code.deny_commands {pattern!r}"
                    )
        if call.tool_name in ("Write", "Edit"):
            path = _text(call.tool_input.get("file_path"))
            relative = _relative(path, project_root) if path else None
            if relative is not None:
                for pattern in self.protect_paths:
                    if fnmatch.fnmatchcase(relative, pattern) or relative.startswith(
                        pattern.rstrip("/") + "/"
                    ):
                        return (
                            f"autohub: {relative} is protected by "
                            f"watch.claude_code.protect_paths {pattern!r}"
                        )
        return None


def _written_path(call: HookCall) -> str | None:
    response = call.tool_response
    if isinstance(response, dict):
        path = _text(response.get("filePath"))
        if path:
            return path
    return _text(call.tool_input.get("file_path"))


def _relative(path: str, root: Path) -> str | None:
    """``path`` relative to ``root``, ``..`` resolved first (``src/../.env`` is ``.env``)."""
    try:
        normal = PurePosixPath(posixpath.normpath(path))
        return normal.relative_to(posixpath.normpath(root.as_posix())).as_posix()
    except ValueError:
        return None  # outside the project: not ours to protect


def _text(value: Any, max_chars: int | None = None) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value if max_chars is None else value[:max_chars]
