"""Where a project's files are: autohub.yaml (found upwards) and the state directory.

Standard library only: the Claude Code hook's fast start finds the project with it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

CONFIG_FILE = "autohub.yaml"
STATE_DIR = ".autohub"

PROJECT_IMPORTS = threading.RLock()
"""Held while ``sys.path`` is changed to import a project's modules (the registry loader,
python steps): a reload on one thread must not take the project root off ``sys.path``
under a step importing on another."""


def find_config(start: Path) -> Path | None:
    """autohub.yaml in ``start`` or its nearest parent that has one."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def definition_files(directory: Path) -> list[Path]:
    """The YAML definition files of ``directory`` (``*.yaml``, ``*.yml``), in load order:
    by name."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return []
    return [
        Path(entry.path)
        for entry in entries
        if entry.name.endswith((".yaml", ".yml")) and entry.is_file()
    ]
