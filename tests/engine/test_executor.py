"""The executor interface, LocalExecutor, and run_action's dispatch."""

from __future__ import annotations

import asyncio
import time

import pytest
from engine_helpers import make_request, python_spec, run, shell_spec

from autohub.engine.actions.base import ActionResult
from autohub.engine.executor import Executor, LocalExecutor


def test_local_executor_is_an_executor() -> None:
    with LocalExecutor() as executor:
        assert isinstance(executor, Executor)


def test_local_executor_runs_sync_steps_in_its_own_thread_pool() -> None:
    request = make_request("python", python_spec("engine_helpers:sleep_sync", seconds=0))

    with LocalExecutor(max_threads=1) as executor:
        result = asyncio.run(executor.run(request))

    assert result.ok, result.error
    assert result.output.startswith("autohub-step")


def test_max_threads_bounds_concurrent_sync_steps() -> None:
    request = make_request("python", python_spec("engine_helpers:sleep_sync", seconds=0.3))

    async def two_at_once(executor: LocalExecutor) -> list[ActionResult]:
        return list(await asyncio.gather(executor.run(request), executor.run(request)))

    with LocalExecutor(max_threads=1) as executor:
        started = time.monotonic()
        results = asyncio.run(two_at_once(executor))
        elapsed = time.monotonic() - started

    assert [result.ok for result in results] == [True, True]
    assert results[0].output == results[1].output  # the same, only, thread
    assert elapsed >= 0.6


def test_closed_executor_refuses_new_work() -> None:
    executor = LocalExecutor()
    executor.close()

    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(executor.run(make_request("shell", shell_spec("true"))))


def test_unknown_action_kind_is_a_failed_result() -> None:
    result = run(make_request("n8n", {"path": "deploy"}))

    assert not result.ok
    assert result.error_type == "UnsupportedAction"
    assert result.error == (
        "action kind 'n8n' is not supported here: this executor runs python, shell, http"
    )


def test_duration_is_measured() -> None:
    result = run(make_request("shell", shell_spec("sleep 0.2")))

    assert result.ok, result.error
    assert 0.2 <= result.duration_seconds < 2


def test_a_plug_in_result_keeps_every_field_and_gets_its_duration() -> None:
    import dataclasses

    from autohub.engine.actions.base import ActionRequest, run_action

    returned = ActionResult(
        ok=False,
        output={"partial": [1, 2]},
        error="HTTPStatus: 503",
        error_type="HTTPStatus",
        error_types=("HTTPStatus",),
        exit_code=3,
        http_status=503,
        timed_out=True,
        final=True,
        duration_seconds=-1.0,
    )

    async def handler(request: ActionRequest) -> ActionResult:
        await asyncio.sleep(0.05)
        return returned

    result = asyncio.run(run_action(make_request("gate", {}), handler=handler))

    assert dataclasses.replace(result, duration_seconds=-1.0) == returned
    assert 0.05 <= result.duration_seconds < 2
