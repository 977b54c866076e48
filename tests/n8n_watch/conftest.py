"""Fixtures of the executions-watcher tests, against the real n8n of the test services
(``AUTOHUB_TEST_N8N_URL`` and ``AUTOHUB_TEST_N8N_API_KEY``), on both databases.

The shared n8n keeps every execution of every test: a test finds its own by the unique
``job`` it posts (the Code node's error text carries it), and watches only the fixture
workflow's id, over a window that starts a little before the test.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from autohub.hub import Hub
from autohub.n8n.executions import ExecutionsClient
from autohub.store.database import Database

sys.path.insert(0, str(Path(__file__).parent))  # so test modules can import watcher_helpers
sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))  # and serve_helpers

from watcher_helpers import N8n, n8n_from_environment, open_project


def _cli_fixtures() -> ModuleType:
    """tests/cli/conftest.py, loaded under its own name: its ``cli``, ``project`` and
    ``read_db`` fixtures serve the CLI and server tests here."""
    path = Path(__file__).parents[1] / "cli" / "conftest.py"
    spec = importlib.util.spec_from_file_location("autohub_test_cli_fixtures", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_cli = _cli_fixtures()
cli = _cli.cli
project = _cli.project
pycache_dir = _cli.pycache_dir
read_db = _cli.read_db


@pytest.fixture(scope="session")
def n8n() -> N8n:
    """The shared n8n (never stopped or restarted by these tests)."""
    return n8n_from_environment()


@pytest.fixture
def hub(tmp_path: Path, database: Database, database_url: str, n8n: N8n) -> Iterator[Hub]:
    """Project ``web`` on the migrated test database, its ``n8n:`` section naming the
    shared n8n and its key (``${N8N_API_KEY}`` in the secrets file)."""
    with open_project(tmp_path, database_url, n8n) as opened:
        yield opened


@pytest.fixture
def api(n8n: N8n) -> Iterator[ExecutionsClient]:
    """A public-API client of the shared n8n, for the tests to look at executions."""
    with ExecutionsClient(n8n.url, n8n.api_key) as client:
        yield client
