"""The ``gate`` step kind's handler, in-process on a SQLite project (the CLI test runs it
inside an automation on both databases): what blocks, what is refused, the time limit."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_samples import FAST_PYTEST, go_repo, warning_repo, write

sys.path.insert(0, str(Path(__file__).parents[1] / "engine"))

from engine_helpers import make_request

from autohub.engine.actions.base import ActionResult
from autohub.gate.step import gate_step
from autohub.hub import Hub
from autohub.registry.actions import GateAction
from autohub.store import migrations
from autohub.store.events import EventFilter


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    """A project on a SQLite file; the step's commands get this process's environment."""
    monkeypatch.setenv(FAST_PYTEST, "1")
    root = tmp_path / "proj"
    write(root, {"autohub.yaml": f"project: gp\ndatabase: sqlite:///{tmp_path / 'gp.db'}\n"})
    opened = Hub.from_config(root / "autohub.yaml")
    migrations.upgrade(opened.database)
    yield opened
    opened.close()


def step(hub: Hub, timeout_seconds: float | None = 60, **spec: Any) -> ActionResult:
    request = make_request(
        "gate",
        GateAction.model_validate(spec).model_dump(),
        timeout_seconds=timeout_seconds,
        cwd=hub.config.root,
    )
    handler = gate_step(hub)

    async def run() -> ActionResult:
        return await handler(request)

    return asyncio.run(run())


def test_a_warning_passes_unless_fail_on_warning_and_each_run_is_an_event(hub: Hub) -> None:
    warning_repo(hub.config.root / "app")

    passes = step(hub, path="app")
    blocked = step(hub, path="app", fail_on="warning")

    assert (passes.ok, passes.output["decision"]) == (True, "WARNING")
    assert (blocked.ok, blocked.error_type, blocked.final) == (False, "GateWarning", True)
    assert blocked.error is not None
    assert blocked.error.startswith("gate: WARNING (confidence 95): performance missing")
    assert blocked.output["decision"] == "WARNING"  # the report, blocked or not
    events = hub.events.query(EventFilter(event_types=["production_check"])).events
    # In the run's project (the request's context), not the hub's default one.
    assert [(e.project_id, e.status, e.run_id, e.detected_from) for e in events] == 2 * [
        ("ops", "warning", "run-1", "gate step")
    ]
    assert events[0].evidence["checks"]["performance"]["status"] == "missing"


def test_a_path_outside_the_project_root_fails_the_step_without_running_the_gate(
    hub: Hub,
) -> None:
    result = step(hub, path="..")

    assert (result.ok, result.error_type) == (False, "InvalidInput")
    assert result.error == f"gate: path: '..' is outside the project root {hub.config.root}"
    assert hub.events.query(EventFilter(event_types=["production_check"])).events == []


def test_a_gate_over_the_step_timeout_times_out(hub: Hub) -> None:
    go_repo(hub.config.root / "app")
    write(hub.config.root / "app", {"benchmarks.py": "import time\ntime.sleep(30)\n"})

    result = step(hub, timeout_seconds=1.5, path="app", checks=["performance"])

    assert (result.ok, result.timed_out, result.error_type) == (False, True, "TimeoutError")
    assert result.error == "timed out after 1.5 s before the gate decided"
    assert hub.events.query(EventFilter(event_types=["production_check"])).events == []
