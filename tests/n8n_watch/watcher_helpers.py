"""Helpers of the executions-watcher tests (imported as ``watcher_helpers``; not a test module)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from autohub.hub import Hub
from autohub.n8n.events import FAILURE_EVIDENCE_KEYS
from autohub.n8n.executions import Execution, ExecutionsClient
from autohub.n8n.watcher import DEFAULT_SETTLE_SECONDS, ExecutionsWatcher
from autohub.store.events import Event, EventFilter, EventStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "n8n"
PROJECT = "web"
ERROR_ASYNC = "autohubErrAsync1"
SLOW_TIMEOUT = "autohubSlowTmo01"
EVIDENCE_KEYS = FAILURE_EVIDENCE_KEYS | {"execution_id", "workflow_id", "detected_by"}
"""The step kind's evidence contract, and the watcher's own keys."""


@dataclass(frozen=True)
class N8n:
    url: str
    api_key: str


def n8n_from_environment() -> N8n:
    url, key = os.environ.get("AUTOHUB_TEST_N8N_URL"), os.environ.get("AUTOHUB_TEST_N8N_API_KEY")
    message = (
        "AUTOHUB_TEST_N8N_URL and AUTOHUB_TEST_N8N_API_KEY are not set: start the test "
        'services (`eval "$(python3 tests/services.py up)"`)'
    )
    assert url, message
    assert key, message
    return N8n(url, key)


def n8n_config(n8n: N8n, extra: str = "") -> str:
    """An ``n8n:`` section naming ``n8n`` and the key ``${N8N_API_KEY}``."""
    return (
        f"n8n:\n  base_url: {n8n.url}\n  api_key: ${{N8N_API_KEY}}\n"
        + textwrap.indent(textwrap.dedent(extra).strip(), "  ")
        + "\n"
    )


def open_project(root: Path, database_url: str, n8n: N8n) -> Hub:
    """A Hub on project PROJECT in ``root`` (its secrets file holds the n8n key) on an
    already migrated database."""
    secrets = root / "secrets.env"
    secrets.write_text(f"N8N_API_KEY={n8n.api_key}\n")
    secrets.chmod(0o600)
    (root / "autohub.yaml").write_text(
        f"project: {PROJECT}\nsecrets_file: secrets.env\nmodules: []\n{n8n_config(n8n)}"
    )
    hub = Hub.from_config(root / "autohub.yaml")
    hub.config.settings.database_url = database_url
    return hub


def watcher(hub: Hub, workflow_id: str = ERROR_ASYNC) -> ExecutionsWatcher:
    """The project's watcher, on one fixture workflow, over the last two minutes, without
    the settling delay (the tests poll right after the execution stopped)."""
    return ExecutionsWatcher.from_hub(
        hub, lookback_seconds=120, settle_seconds=0, workflow_ids=[workflow_id]
    )


def settle(execution: Execution) -> None:
    """Wait until the watcher's default settling delay has passed for ``execution``."""
    stopped = execution.stopped_at or datetime.now(UTC)
    left = (stopped - datetime.now(UTC)).total_seconds() + DEFAULT_SETTLE_SECONDS + 0.2
    if left > 0:
        time.sleep(left)


def new_job() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def post_webhook(n8n: N8n, path: str, job: str, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{n8n.url}/webhook/{path}", json={"job": job}, timeout=timeout)


def find_execution(
    api: ExecutionsClient, workflow_id: str, job: str, status: str = "error", wait: float = 20
) -> Execution:
    """The execution of ``workflow_id`` that ran ``job`` (with its data), once n8n lists it."""
    deadline = time.monotonic() + wait
    since = datetime.now(UTC) - timedelta(minutes=5)
    while True:
        for listed in api.executions(status, since=since, workflow_id=workflow_id):
            detail = api.execution(listed.id)
            if detail is not None and job in json.dumps(detail.data):
                return detail
        assert time.monotonic() < deadline, f"no {status} execution of {workflow_id} ran {job}"
        time.sleep(0.3)


def failures(events: EventStore) -> list[Event]:
    page = events.query(EventFilter(event_types=["n8n_failure_detected"]), limit=1000)
    return page.events


def of_execution(events: EventStore, execution_id: str) -> list[Event]:
    return [e for e in failures(events) if e.evidence.get("execution_id") == execution_id]


# -- a private n8n (for the restart test) ------------------------------------------------


@dataclass
class PrivateN8n:
    """A second n8n on a copy of the shared one's home, started and stopped by one test."""

    home: Path
    env: dict[str, str]

    @property
    def n8n(self) -> N8n:
        return N8n(f"http://127.0.0.1:{self.env['N8N_PORT']}", self.env["_API_KEY"])

    def start(self) -> None:
        self._script("start-n8n.sh")

    def stop(self) -> None:
        self._script("stop-n8n.sh")

    def _script(self, name: str) -> None:
        began = time.monotonic()
        done = subprocess.run(
            ["bash", str(FIXTURES / name)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        print(f"{name}: {time.monotonic() - began:.1f}s {done.stdout.strip()}")


@contextmanager
def private_n8n(tmp: Path, shared_home: Path, api_key: str) -> Iterator[PrivateN8n]:
    """A copy of the shared home (its database copied with SQLite's backup API, as n8n
    writes to it) served on two free ports; stopped (by its PID) at the end."""
    import n8n_service  # tests/, standard library only

    home = tmp / "n8n-home"
    (home / ".n8n").mkdir(parents=True)
    source = shared_home / ".n8n"
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("database.sqlite"):
            shutil.copy2(item, home / ".n8n" / item.name)
    with (
        sqlite3.connect(source / "database.sqlite") as src,
        sqlite3.connect(home / ".n8n" / "database.sqlite") as dst,
    ):
        src.backup(dst)
    env = n8n_service.environment(home)
    port, broker = _two_free_ports()
    env.update(
        N8N_PORT=str(port),
        N8N_RUNNERS_BROKER_PORT=str(broker),
        _API_KEY=api_key,
    )
    server = PrivateN8n(home, env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _two_free_ports() -> tuple[int, int]:
    import socket

    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return int(a.getsockname()[1]), int(b.getsockname()[1])
