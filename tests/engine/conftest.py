"""Fixtures of the engine tests: a real local HTTP server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import engine_helpers

from engine_helpers import serve_http


@pytest.fixture
def http_server() -> Iterator[str]:
    """The base URL of a real HTTP server on 127.0.0.1 (endpoints: engine_helpers)."""
    with serve_http() as base_url:
        yield base_url
