"""A small project on disk for registry tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from registry_helpers import WriteFile, project_config

from autohub.registry.loader import Registry, load_registry


@pytest.fixture
def write(tmp_path: Path) -> WriteFile:
    """Write a (dedented) file under the project root."""

    def write_file(relative: str, text: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    return write_file


@pytest.fixture
def load(tmp_path: Path) -> Callable[[], Registry]:
    def load_project() -> Registry:
        return load_registry(project_config(tmp_path))

    return load_project
