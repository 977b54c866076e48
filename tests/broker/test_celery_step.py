"""The ``celery`` step kind against a real Celery worker and Redis, run through Hub.run on
both databases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker_helpers import closed_port_url, opened, request, step_of

from autohub.broker.step import celery_step
from autohub.hub import Hub

AUTOMATIONS = """
automations:
  encode:
    params:
      name: {type: string}
    steps:
      - id: encode
        celery: {task: tasks.process_video, args: ["{{ params.name }}"], queue: video}
        timeout: 10s
      - id: sum
        celery: {task: tasks.add, kwargs: {a: 2, b: 3}}
        timeout: 10s
  short:
    steps:
      - {id: ping, celery: tasks.ping, timeout: 10s}
  boom:
    steps:
      - id: fail
        celery: {task: tasks.fail, args: [disk full]}
        timeout: 10s
  slow:
    steps:
      - id: sleep
        celery: {task: tasks.sleep, args: [1.5]}
        timeout: 500ms
  flaky:
    steps:
      - id: fail
        celery: {task: tasks.fail, args: [again]}
        timeout: 10s
        retry:
          attempts: 2
          backoff: {initial: 10ms, max: 10ms}
          retry_on: {exceptions: [ValueError]}
  picky:
    steps:
      - id: fail
        celery: {task: tasks.fail, args: [again]}
        timeout: 10s
        retry:
          attempts: 3
          backoff: {initial: 10ms, max: 10ms}
          retry_on: {exceptions: [KeyError]}
  degraded:
    steps:
      - id: work
        celery: {task: tasks.add, args: [1, 2]}
        timeout: 1s
        fallback:
          - {name: local, shell: [echo, ran locally], timeout: 10s}
"""


@pytest.fixture
def hub(project: tuple[Path, str], celery_worker: str) -> Iterator[Hub]:
    """Project ``web`` with AUTOMATIONS, sending to the test worker."""
    yield from opened(*project, celery_worker, AUTOMATIONS)


@pytest.fixture
def down_hub(project: tuple[Path, str]) -> Iterator[Hub]:
    """The same project with its broker on a closed port (Redis down)."""
    yield from opened(*project, closed_port_url(), AUTOMATIONS)


def test_a_task_result_is_the_step_output(hub: Hub) -> None:
    run = hub.run("encode", {"name": "intro"})
    assert run.state == "succeeded"
    assert step_of(hub, run.id, "encode").output == {
        "name": "intro",
        "frames": 50,
        "status": "encoded",
    }
    assert step_of(hub, run.id, "sum").output == 5


def test_the_short_form_names_the_task(hub: Hub) -> None:
    run = hub.run("short")
    assert run.state == "succeeded"
    assert step_of(hub, run.id, "ping").output == "pong"


def test_a_remote_exception_fails_the_step_with_its_type(hub: Hub) -> None:
    run = hub.run("boom")
    assert run.state == "failed"
    step = step_of(hub, run.id, "fail")
    assert step.state == "failed"
    assert step.error is not None
    assert "ValueError: disk full" in step.error
    assert "tasks.fail" in step.error
    assert len(hub.runs.attempts(run.id)) == 1


def test_a_step_timeout_shorter_than_the_task_times_it_out(hub: Hub) -> None:
    started = time.monotonic()
    run = hub.run("slow")
    elapsed = time.monotonic() - started
    step = step_of(hub, run.id, "sleep")
    assert step.state == "timed_out"
    assert step.error is not None
    assert "timed out after 0.5 s" in step.error
    assert "revoked" in step.error
    assert elapsed < 2.5, f"the 0.5 s timeout took {elapsed:.2f} s"


def test_a_retry_on_the_remote_type_retries(hub: Hub) -> None:
    run = hub.run("flaky")
    assert run.state == "failed"
    assert step_of(hub, run.id, "fail").attempts == 2
    assert [attempt.outcome for attempt in hub.runs.attempts(run.id)] == ["failed", "failed"]


def test_a_retry_on_another_type_does_not_retry(hub: Hub) -> None:
    run = hub.run("picky")
    assert run.state == "failed"
    assert step_of(hub, run.id, "fail").attempts == 1


def test_redis_down_fails_fast(down_hub: Hub) -> None:
    started = time.monotonic()
    run = down_hub.run("short")
    elapsed = time.monotonic() - started
    assert run.state == "failed"
    step = step_of(down_hub, run.id, "ping")
    assert step.error is not None
    assert "celery: task tasks.ping via redis://127.0.0.1:" in step.error
    assert elapsed < 2.0, f"an unreachable broker took {elapsed:.2f} s to fail"


def test_redis_down_runs_the_fallback_tier(down_hub: Hub) -> None:
    started = time.monotonic()
    run = down_hub.run("degraded")
    elapsed = time.monotonic() - started
    assert run.state == "succeeded"
    step = step_of(down_hub, run.id, "work")
    assert step.output["stdout"].strip() == "ran locally"
    assert step.method == "local"
    assert elapsed < 3.0, f"the fallback took {elapsed:.2f} s"


def test_without_a_step_timeout_the_default_wait_applies(
    project: tuple[Path, str], celery_worker: str
) -> None:
    config = """
        automations:
          slow:
            steps:
              - {id: sleep, celery: {task: tasks.sleep, args: [1.5]}}
    """
    root, database_url = project
    for hub in opened(root, database_url, celery_worker, config):
        hub.config.file.celery.default_timeout_seconds = 0.5
        run = hub.run("slow")
        step = step_of(hub, run.id, "sleep")
        assert step.state == "timed_out"
        assert step.error is not None
        assert "no step timeout: celery.default_timeout_seconds" in step.error


def test_a_cancelled_step_stops_waiting_at_once(tmp_path: Path, celery_worker: str) -> None:
    async def cancel_while_waiting(hub: Hub) -> float:
        waiting = asyncio.create_task(
            celery_step(hub)(request({"task": "tasks.sleep", "args": [1.5]}, 10))
        )
        await asyncio.sleep(0.3)
        started = time.monotonic()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return time.monotonic() - started

    for hub in opened(tmp_path, "sqlite://", celery_worker):
        assert asyncio.run(cancel_while_waiting(hub)) < 0.2
