"""Fixtures of the n8n tests: the shared real n8n, a closed port, a local task server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import n8n_helpers

from n8n_helpers import TaskServer, closed_port, n8n_url


@pytest.fixture
def n8n() -> str:
    return n8n_url()


@pytest.fixture
def stopped_n8n() -> Iterator[str]:
    """The base URL of an n8n that is not running (a closed port)."""
    with closed_port() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def task_server() -> Iterator[TaskServer]:
    with TaskServer() as server:
        yield server
