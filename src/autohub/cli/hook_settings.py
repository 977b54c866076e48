"""What the Claude Code hook needs of a project's configuration, cached as JSON.

The hook runs after every tool call; loading autohub.yaml (YAML, pydantic) and opening
the store through SQLAlchemy takes longer than its whole budget. So the first call
loads the configuration the normal way and writes ``.autohub/hook-settings.json``; the
next calls read that file instead, as long as its fingerprint still matches: the
path, size and modification time of autohub.yaml and of the YAML definition files, the
``AUTOHUB_*`` variables that override it, and autohub's version. Anything else is a
miss, and the normal path runs (and writes the file again).

Only a project whose store is a SQLite file given literally gets the file: a URL built
from secrets (``${DATABASE_URL}``) or a PostgreSQL store always takes the normal path.
No secret value is written: the redactor's secrets are read from the environment and
the secrets file at each call.

Standard library only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autohub.paths import STATE_DIR, definition_files

CACHE_FILE = "hook-settings.json"
FORMAT = 2
OVERRIDES = ("AUTOHUB_CONFIG", "AUTOHUB_DATABASE_URL", "AUTOHUB_SECRETS_FILE", "AUTOHUB_PROJECT")
"""The environment variables that change the configuration (``config.Settings``)."""


@dataclass(frozen=True)
class HookSettings:
    fingerprint: str
    project_id: str
    root: str
    database_path: str
    schema_revision: str
    complete_at: int
    review_at: int
    deny_commands: list[str]
    protect_paths: list[str]
    secrets_file: str | None
    referenced_secrets: list[str]
    evidence_max_bytes: int
    string_max_chars: int
    automations_dir: str


def fingerprint(
    config_path: Path, environ: Mapping[str, str], automations_dir: str = "automations"
) -> str | None:
    """What the cached settings depend on, as one string; None if autohub.yaml is gone:
    autohub.yaml, the YAML definition files (the secrets they refer to are redacted),
    the overriding variables and autohub's version. (Not hashed: hashlib's import alone
    costs the hook milliseconds, and it holds no secret, since a store URL with a
    password is never cached.)"""
    from autohub import __version__

    try:
        found = config_path.stat()
    except OSError:
        return None
    parts = [
        str(FORMAT),
        __version__,
        str(config_path),
        str(found.st_size),
        str(found.st_mtime_ns),
        *(f"{name}={environ.get(name, '')}" for name in OVERRIDES),
        *_definition_files(config_path.parent / automations_dir),
    ]
    return "\n".join(parts)


def _definition_files(directory: Path) -> list[str]:
    found = []
    for path in definition_files(directory):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append(f"{path.name} {stat.st_size} {stat.st_mtime_ns}")
    return found


def cache_path(config_path: Path) -> Path:
    return config_path.parent / STATE_DIR / CACHE_FILE


def read_settings(config_path: Path, environ: Mapping[str, str]) -> HookSettings | None:
    """The cached settings of ``config_path`` if they are current, else None."""
    try:
        data = json.loads(cache_path(config_path).read_text(encoding="utf-8"))
        settings = HookSettings(**data)
    except (OSError, ValueError, TypeError):
        return None
    expected = fingerprint(config_path, environ, settings.automations_dir)
    return settings if expected is not None and settings.fingerprint == expected else None


def write_settings(settings: HookSettings, config_path: Path) -> None:
    """Write the cache atomically (a concurrent reader sees the old file or the new)."""
    target = cache_path(config_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{CACHE_FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(asdict(settings), indent=1), encoding="utf-8")
    os.replace(temporary, target)


def settings_of(
    config: Any, environ: Mapping[str, str], schema_revision: str
) -> HookSettings | None:
    """The settings to cache for a loaded ``config.Config``; None when it must not be
    cached (no autohub.yaml, or a store that is not a literal SQLite file)."""
    from autohub.secret_values import REFERENCE

    if config.path is None:
        return None
    if config.file.database is not None and REFERENCE.search(config.file.database):
        return None
    url: str = config.database_url
    if not url.startswith("sqlite:////") or "?" in url:
        return None
    print_ = fingerprint(config.path, environ, config.file.automations_dir)
    if print_ is None:
        return None
    watch = config.file.watch
    secrets_file = config.settings.secrets_file or (
        config.root / config.file.secrets_file if config.file.secrets_file else None
    )
    return HookSettings(
        fingerprint=print_,
        project_id=config.project,
        root=str(config.root),
        database_path=url.removeprefix("sqlite:///"),
        schema_revision=schema_revision,
        complete_at=watch.complete_at,
        review_at=watch.review_at,
        deny_commands=list(watch.claude_code.deny_commands),
        protect_paths=list(watch.claude_code.protect_paths),
        secrets_file=str(secrets_file) if secrets_file else None,
        referenced_secrets=list(config.referenced_secrets),
        evidence_max_bytes=config.file.events.evidence_max_bytes,
        string_max_chars=config.file.events.string_max_chars,
        automations_dir=config.file.automations_dir,
    )
