"""Fixtures of the broker tests: a real Celery worker (``celery -A celery_tasks worker``)
on a Redis database of its own, started once per pytest process, and a project's Hub that
sends to it, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

sys.path.insert(0, str(Path(__file__).parent))  # celery_tasks and broker_helpers

from celery_tasks import start_worker, stop_worker

from autohub.store.database import Database

REDIS_URL_ENV = "AUTOHUB_TEST_REDIS_URL"
FIRST_DB = 5
"""The broker tests use Redis databases 5, 6... (one per xdist worker): others keep 0-4."""
STARTUP_SECONDS = 30.0


@pytest.fixture(scope="session")
def celery_broker_url() -> str:
    """This pytest process's own Redis database on the test server, emptied."""
    base = os.environ.get(REDIS_URL_ENV, "").strip()
    if not base:
        pytest.fail(
            f"{REDIS_URL_ENV} is not set: the celery tests need the test Redis. "
            'Start the test services: `eval "$(python3 tests/services.py up)"`.',
            pytrace=False,
        )
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker.removeprefix("gw")) if worker.startswith("gw") else 0
    url = f"{base.rsplit('/', 1)[0]}/{FIRST_DB + index % 10}"
    connection = redis.Redis.from_url(url)
    try:
        connection.flushdb()
    finally:
        connection.close()
    return url


@pytest.fixture(scope="session")
def celery_worker(
    celery_broker_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A running Celery worker (``celery_tasks.start_worker``); yields its broker URL."""
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    with log.open("wb") as output:
        process = start_worker(celery_broker_url, output)
    try:
        _wait_until_ready(celery_broker_url, process, log)
        yield celery_broker_url
    finally:
        stop_worker(process)


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until a probe task comes back (the worker answers) or STARTUP_SECONDS pass."""
    from celery_tasks import ping

    from autohub.broker.client import celery_settings
    from autohub.config import CeleryConfig

    ping.app.conf.update(celery_settings(CeleryConfig(broker_url=url)))
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the celery worker exited:\n{log.read_text()}", pytrace=False)
        try:
            if ping.apply_async().get(timeout=1) == "pong":
                return
        except Exception:  # not consuming yet
            time.sleep(0.2)
    pytest.fail(f"the celery worker did not answer:\n{log.read_text()}", pytrace=False)


@pytest.fixture
def project(tmp_path: Path, database: Database, database_url: str) -> tuple[Path, str]:
    """Where a test's project lives and its migrated database's URL."""
    return tmp_path, database_url
