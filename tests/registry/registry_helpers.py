"""Helpers for registry tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from autohub.config import Config, load_config

WriteFile = Callable[[str, str], Path]


def project_config(root: Path) -> Config:
    return load_config(root / "autohub.yaml", environ={})
