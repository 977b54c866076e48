"""Helpers of the breaker and lock tests (imported as ``locking_helpers``; not a test module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from autohub.store.database import Database

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DATABASE_URL_ENV = "AUTOHUB_TEST_DATABASE_URL"
PROCESS_TIMEOUT_SECONDS = 120


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def rows(database: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    """The rows of a SQL statement run directly (not through a store), as dicts."""
    with database.connect() as connection:
        return [dict(row) for row in connection.execute(sa.text(sql), params).mappings()]


def events(database: Database, prefix: str) -> list[dict[str, Any]]:
    """The events whose type starts with ``prefix``, in the order they were stored."""
    found = rows(
        database,
        "SELECT event_type, status, project_id, run_id, evidence FROM automation_events"
        " WHERE event_type LIKE :prefix ORDER BY id",
        prefix=f"{prefix}%",
    )
    for row in found:
        if isinstance(row["evidence"], str):  # SQLite returns JSON text through sa.text
            row["evidence"] = json.loads(row["evidence"])
    return found


def start_python(script: str, database: Database, **env: str) -> subprocess.Popen[str]:
    """A subprocess running ``script`` with the database URL in ``AUTOHUB_TEST_DATABASE_URL``."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        env={**os.environ, DATABASE_URL_ENV: database.url, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> str:
    """Wait for a subprocess, fail with its stderr unless it exited 0; returns its stdout."""
    try:
        stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError(f"subprocess timed out:\n{stderr}") from None
    assert process.returncode == 0, f"subprocess exited {process.returncode}:\n{stderr}"
    return stdout


GO_FILE_ENV = "AUTOHUB_TEST_GO_FILE"

WAIT_FOR_GO = """
import os as _os, time as _time

def wait_for_go():
    print("ready", flush=True)
    while not _os.path.exists(_os.environ["AUTOHUB_TEST_GO_FILE"]):
        _time.sleep(0.005)
"""
"""Prepend to a subprocess script; its ``wait_for_go()`` holds it until ``start_together``."""


def start_together(processes: list[subprocess.Popen[str]], go_file: Path) -> None:
    """Wait until every process (started with ``GO_FILE_ENV=go_file``) is ready, then go."""
    for process in processes:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "ready":
            process.kill()
            _, stderr = process.communicate()
            raise AssertionError(f"subprocess did not get ready ({line!r}):\n{stderr}")
    go_file.touch()


class Worker:
    """A subprocess that answers one JSON command per line on stdin with one JSON line."""

    def __init__(self, script: str, database: Database, **env: str) -> None:
        self.process = start_python(script, database, **env)

    def ask(self, **command: Any) -> Any:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            _, stderr = self.process.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
            raise AssertionError(f"worker died:\n{stderr}")
        return json.loads(line)

    def close(self) -> None:
        """End the worker (its stdin reaches EOF) and check it exited cleanly."""
        finish(self.process)
