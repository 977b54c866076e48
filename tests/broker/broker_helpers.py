"""Helpers of the broker tests (imported as ``broker_helpers``; not a test module)."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path

import project_helpers
from autohub.broker.step import close_client
from autohub.engine.actions.base import ActionRequest
from autohub.engine.context import StepContext
from autohub.hub import Hub
from autohub.store.runs import StepRecord

PROJECT = "web"


def open_project(root: Path, database_url: str, broker_url: str, config: str = "") -> Hub:
    """A Hub on project PROJECT in ``root`` whose ``celery:`` broker is ``broker_url``, on an
    already migrated database; ``config`` is added to autohub.yaml."""
    celery = f"celery: {{broker_url: '{broker_url}'}}\n"
    return project_helpers.open_project(
        root, database_url, PROJECT, celery + textwrap.dedent(config).strip()
    )


def closed_port_url() -> str:
    """A Redis URL on a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def step_of(hub: Hub, run_id: str, step_id: str) -> StepRecord:
    return next(step for step in hub.runs.steps(run_id) if step.step_id == step_id)


def opened(root: Path, database_url: str, broker_url: str, config: str = "") -> Iterator[Hub]:
    """``open_project`` for a fixture: its Celery client and store closed afterwards."""
    hub = open_project(root, database_url, broker_url, config)
    try:
        yield hub
    finally:
        close_client(hub)
        hub.close()


def request(spec: dict[str, object], timeout_seconds: float | None = 5) -> ActionRequest:
    """A celery ActionRequest of ``spec``, as the engine would make it."""
    return ActionRequest(
        kind="celery",
        spec=spec,
        context=StepContext(
            run_id="r",
            step_id="s",
            automation="a",
            attempt=1,
            params={},
            outputs={},
            idempotency_key=None,
            logger_name="test",
        ),
        timeout_seconds=timeout_seconds,
    )
