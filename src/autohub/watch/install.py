"""Merging autohub's hook registration into Claude Code's ``.claude/settings.json``.

The file nests event -> matcher groups -> handlers. autohub's handler is the one whose
command contains the marker (``hook claude-code``): it is updated in place, or added in
a matcher group of its own; every other key, group and handler is kept as it was. The
result does not depend on how many times it runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autohub.errors import InvalidInput


@dataclass(frozen=True)
class InstallResult:
    path: Path
    changed: bool


def install_hooks(
    path: Path,
    command: str,
    registrations: Mapping[str, str | None],
    *,
    marker: str,
    timeout_seconds: int,
) -> InstallResult:
    """Register ``command`` for each event of ``registrations`` (event -> matcher, None
    for events without matchers) in the settings file at ``path``."""
    before, settings = _read(path)
    hooks = settings.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InvalidInput(f"{path}: 'hooks' is not an object")
    for event, matcher in registrations.items():
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise InvalidInput(f"{path}: hooks.{event} is not a list")
        group = _own_group(groups, marker)
        if group is None:
            group = {}
            groups.append(group)
        if matcher is None:
            group.pop("matcher", None)
        else:
            group["matcher"] = matcher
        group["hooks"] = [{"type": "command", "command": command, "timeout": timeout_seconds}]
    text = json.dumps(settings, indent=2, ensure_ascii=False) + "\n"
    if text == before:
        return InstallResult(path, changed=False)
    _write(path, text)
    return InstallResult(path, changed=True)


def _own_group(groups: list[Any], marker: str) -> dict[str, Any] | None:
    """The group holding only autohub's handler; autohub's handler is taken out of any
    group it shares with other handlers (whose matcher is not autohub's to change)."""
    own = None
    for group in groups:
        if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
            continue
        ours = [item for item in group["hooks"] if _is_ours(item, marker)]
        if ours and len(ours) == len(group["hooks"]) and own is None:
            own = group
        elif ours:
            group["hooks"] = [item for item in group["hooks"] if not _is_ours(item, marker)]
    groups[:] = [
        group
        for group in groups
        if group is own or not (isinstance(group, dict) and group.get("hooks") == [])
    ]
    return own


def _is_ours(item: Any, marker: str) -> bool:
    return isinstance(item, dict) and marker in str(item.get("command", ""))


def _read(path: Path) -> tuple[str | None, dict[str, Any]]:
    """The file's text (None: there is no file) and its settings."""
    if not path.exists():
        return None, {}
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text or "{}")
    except ValueError as exc:
        raise InvalidInput(f"{path}: not valid JSON ({exc}); nothing was changed") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a JSON object; nothing was changed")
    return text, data


def _write(path: Path, text: str) -> None:
    """Replace the file atomically (a crash leaves the old or the new one, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".settings.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
