"""Python actions: in the event loop, in a thread, in a child process."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from engine_helpers import (
    LOGGER_NAME,
    make_request,
    process_is_gone,
    python_spec,
    run,
    wait_for_pids,
)

from autohub.engine.actions.base import Limits, run_action

ISOLATIONS = ["thread", "process"]


@pytest.mark.parametrize("isolate", ISOLATIONS)
def test_function_gets_the_context_and_kwargs_and_returns_its_output(isolate: str) -> None:
    result = run(
        make_request("python", python_spec("engine_helpers:describe", isolate, greeting="hi"))
    )

    assert result.ok, result.error
    assert result.output == {
        "greeting": "hi",
        "run_id": "run-1",
        "step_id": "deploy",
        "automation": "release",
        "attempt": 2,
        "params": {"env": "staging"},
        "outputs": {"build": {"version": "1.2.3"}},
        "idempotency_key": "key-1",
        "project_id": "ops",
        "pid": result.output["pid"],
    }
    assert (result.output["pid"] != os.getpid()) == (isolate == "process")


@pytest.mark.parametrize("isolate", ISOLATIONS)
def test_async_function_is_awaited(isolate: str) -> None:
    spec = python_spec("engine_helpers:async_describe", isolate, greeting="hello")

    result = run(make_request("python", spec))

    assert result.ok, result.error
    assert result.output["greeting"] == "hello"


def test_async_timeout_cancels_the_coroutine(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    spec = python_spec("engine_helpers:sleep_then_flag", seconds=30, flag_path=str(flag))

    result = run(make_request("python", spec, timeout_seconds=0.2))

    assert result.timed_out
    assert result.error_type == "TimeoutError"
    assert "TimeoutError" in result.error_types
    assert flag.read_text() == "finally ran"
    assert result.duration_seconds < 2


def test_thread_timeout_returns_timed_out_while_the_thread_runs_on() -> None:
    spec = python_spec("engine_helpers:sleep_sync", seconds=0.6)

    result = run(make_request("python", spec, timeout_seconds=0.1))

    assert result.timed_out
    assert result.error == "timed out after 0.1 s; the thread runs on until the function returns"
    assert result.duration_seconds < 0.5


def test_process_timeout_kills_the_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    spec = python_spec(
        "engine_helpers:write_pid_and_sleep", "process", pid_path=str(pid_file), seconds=60
    )

    result = run(make_request("python", spec, timeout_seconds=1.0))

    assert result.timed_out
    assert "the child process was killed" in (result.error or "")
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    assert process_is_gone(pid, within_seconds=0.5)


def test_cancelling_an_isolated_step_kills_the_child(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    spec = python_spec(
        "engine_helpers:write_pid_and_sleep", "process", pid_path=str(pid_file), seconds=60
    )

    async def cancel_while_running() -> int:
        task = asyncio.create_task(run_action(make_request("python", spec)))
        [pid] = await wait_for_pids(pid_file, 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pid

    pid = asyncio.run(cancel_while_running())

    assert process_is_gone(pid, within_seconds=0.5)


@pytest.mark.parametrize("isolate", ISOLATIONS)
def test_exception_type_names_appear_in_error_types(isolate: str) -> None:
    spec = python_spec("engine_helpers:fail_rollout", isolate, service="api")

    result = run(make_request("python", spec))

    assert not result.ok
    assert result.error == "RolloutFailed: api did not converge"
    assert result.error_type == "RolloutFailed"
    assert result.error_types == (
        "RolloutFailed",
        "DeployError",
        "RuntimeError",
        "Exception",
        "BaseException",
    )


@pytest.mark.parametrize("isolate", ISOLATIONS)
def test_unserialisable_return_value_is_a_clear_error(isolate: str) -> None:
    result = run(make_request("python", python_spec("engine_helpers:return_set", isolate)))

    assert not result.ok
    assert result.error_type == "NotSerialisable"
    assert result.error == (
        "engine_helpers:return_set returned a set (at output['tags']), "
        "which is not JSON-serialisable"
    )


def test_dates_paths_uuids_and_tuples_are_returned_as_json() -> None:
    result = run(make_request("python", python_spec("engine_helpers:return_rich_values")))

    assert result.ok, result.error
    assert result.output == {
        "when": "2024-05-01T12:00:00+00:00",
        "path": "/srv/app",
        "id": "00000000-0000-0000-0000-000000000001",
        "pair": [1, 2],
    }


@pytest.mark.parametrize("isolate", ISOLATIONS)
@pytest.mark.parametrize(
    ("function", "error_type", "message"),
    [
        ("no_such_module_xyz:run", "ModuleNotFoundError", "No module named 'no_such_module_xyz'"),
        ("engine_helpers:missing", "AttributeError", "has no attribute 'missing'"),
        ("engine_helpers:NOT_A_FUNCTION", "TypeError", "is a int, not a function"),
    ],
)
def test_import_error_is_a_clear_failed_result(
    isolate: str, function: str, error_type: str, message: str
) -> None:
    result = run(make_request("python", python_spec(function, isolate)))

    assert not result.ok
    assert result.error_type == error_type
    assert (result.error or "").startswith(f"cannot import {function}: {error_type}: ")
    assert message in (result.error or "")


@pytest.mark.parametrize("isolate", ISOLATIONS)
def test_output_over_the_limit_fails_with_output_limit(isolate: str) -> None:
    spec = python_spec("engine_helpers:return_text", isolate, size=2000)

    result = run(make_request("python", spec, limits=Limits(output_bytes=1000)))

    assert not result.ok
    assert result.error_type == "OutputLimit"
    assert result.error == (
        "engine_helpers:return_text returned 2002 bytes of JSON, over the output limit "
        "of 1000 bytes"
    )


def test_memory_limit_stops_a_memory_hog_in_an_isolated_process() -> None:
    spec = python_spec("engine_helpers:hog_memory", "process", size=2 * 1024**3)

    result = run(make_request("python", spec, limits=Limits(memory_bytes=256 * 1024**2)))

    assert not result.ok
    assert result.error_type == "MemoryError"
    assert "MemoryError" in result.error_types


def test_cpu_limit_stops_a_busy_loop_in_an_isolated_process() -> None:
    spec = python_spec("engine_helpers:busy_loop", "process")

    result = run(make_request("python", spec, timeout_seconds=10, limits=Limits(cpu_seconds=1)))

    assert not result.ok
    assert not result.timed_out
    assert result.error_types == ("Signal", "SIGXCPU")
    assert "killed by SIGXCPU (over the CPU time limit of 1 s)" in (result.error or "")


def test_printing_in_an_isolated_step_does_not_disturb_its_result(
    capfd: pytest.CaptureFixture[str],
) -> None:
    spec = python_spec("engine_helpers:print_and_return", "process", text="hello there")

    result = run(make_request("python", spec))

    assert result.ok, result.error
    assert result.output == "hello there"
    assert capfd.readouterr() == ("hello there\n", "hello there\n")


def test_child_that_exits_without_a_result_is_a_failed_result() -> None:
    result = run(
        make_request("python", python_spec("engine_helpers:exit_without_result", "process"))
    )

    assert not result.ok
    assert result.error_type == "ExitCode"
    assert result.exit_code == 7
    assert "exited with code 7 before returning a result" in (result.error or "")


def test_logs_of_an_isolated_step_reach_the_step_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    spec = python_spec("engine_helpers:log_and_return", "process", message="halfway")

    result = run(make_request("python", spec))

    assert result.ok, result.error
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (LOGGER_NAME, logging.WARNING, "step says: halfway")
    ]


def test_invalid_python_spec_is_a_failed_result() -> None:
    result = run(make_request("python", {"function": "not a path"}))

    assert not result.ok
    assert result.error_type == "InvalidAction"
    assert (result.error or "").startswith("invalid python action: function: ")


@pytest.mark.parametrize("isolate", ISOLATIONS)
def test_each_project_root_runs_its_own_module_of_a_shared_name(
    tmp_path: Path, isolate: str
) -> None:
    roots = [tmp_path / "one", tmp_path / "two"]
    for root in roots:
        root.mkdir()
        (root / "namesake_steps.py").write_text(f"def which(ctx):\n    return {root.name!r}\n")
    spec = python_spec("namesake_steps:which", isolate)

    outputs = [run(make_request("python", spec, cwd=root)).output for root in roots]

    assert outputs == ["one", "two"]
