"""Shell actions: real subprocesses, their process groups, limits and output."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from engine_helpers import make_request, process_is_gone, run, shell_spec, wait_for_pids

from autohub.engine.actions import shell
from autohub.engine.actions.base import Limits, run_action

PYTHON = sys.executable


def argv_spec(*argv: str, **fields: object) -> dict[str, object]:
    return {"argv": list(argv), "command": None, "shell": False, "env": {}, "cwd": None, **fields}


def test_argv_runs_without_a_shell() -> None:
    result = run(make_request("shell", argv_spec("echo", "$HOME", "a;b")))

    assert result.ok, result.error
    assert result.exit_code == 0
    assert result.output == {"exit_code": 0, "stdout": "$HOME a;b\n", "stderr": ""}


def test_shell_command_runs_through_sh() -> None:
    result = run(make_request("shell", shell_spec("echo $((1 + 2)) && echo oops >&2")))

    assert result.ok, result.error
    assert result.output == {"exit_code": 0, "stdout": "3\n", "stderr": "oops\n"}


def test_env_is_merged_over_the_base_environment() -> None:
    spec = argv_spec("sh", "-c", 'echo "$BASE $STEP"', env={"STEP": "from-step"})

    result = run(
        make_request("shell", spec, environ={"BASE": "from-base", "PATH": "/usr/bin:/bin"})
    )

    assert result.output["stdout"] == "from-base from-step\n"


def test_relative_cwd_is_relative_to_the_project_root(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()

    result = run(make_request("shell", argv_spec("pwd", cwd="data"), cwd=tmp_path))

    assert Path(result.output["stdout"].strip()) == (tmp_path / "data").resolve()


def test_missing_working_directory_is_file_not_found(tmp_path: Path) -> None:
    result = run(make_request("shell", argv_spec("pwd", cwd="nowhere"), cwd=tmp_path))

    assert not result.ok
    assert result.error_type == "FileNotFoundError"
    assert result.error == f"working directory {str(tmp_path / 'nowhere')!r} does not exist"


def test_non_zero_exit_fails_with_the_exit_code_and_the_last_stderr_line() -> None:
    command = "echo starting; echo 'first problem' >&2; echo 'disk full' >&2; exit 3"

    result = run(make_request("shell", shell_spec(command)))

    assert not result.ok
    assert result.error_type == "ExitCode"
    assert result.error_types == ("ExitCode",)
    assert result.exit_code == 3
    assert result.error == "exited with code 3: disk full"
    assert result.output["stdout"] == "starting\n"


def test_missing_program_is_file_not_found() -> None:
    result = run(make_request("shell", argv_spec("no-such-program-xyz", "--help")))

    assert not result.ok
    assert result.error_type == "FileNotFoundError"
    assert result.error == "program not found: 'no-such-program-xyz'"


def test_timeout_kills_the_grandchild() -> None:
    spec = shell_spec("sleep 100 & echo $!; sleep 100")

    result = run(make_request("shell", spec, timeout_seconds=0.5))

    assert result.timed_out
    assert result.error_type == "TimeoutError"
    grandchild = int(result.output["stdout"].split()[0])
    assert process_is_gone(grandchild, within_seconds=0.5)
    assert result.duration_seconds < 2


def test_timeout_sigkills_a_group_that_ignores_sigterm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell, "GRACE_SECONDS", 0.3)
    spec = shell_spec("trap '' TERM; sleep 100 & echo $!; sleep 100")

    result = run(make_request("shell", spec, timeout_seconds=0.3))

    assert result.timed_out
    assert result.output["exit_code"] == -9  # SIGKILL, after SIGTERM was ignored
    assert process_is_gone(int(result.output["stdout"].split()[0]), within_seconds=0.5)


def test_cancellation_kills_the_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    spec = shell_spec(f"echo $$ > {pids}; sleep 100 & echo $! >> {pids}; wait")

    async def cancel_while_running() -> list[int]:
        task = asyncio.create_task(run_action(make_request("shell", spec)))
        running = await wait_for_pids(pids, 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return running

    leader, grandchild = asyncio.run(cancel_while_running())

    assert process_is_gone(leader, within_seconds=0.5)
    assert process_is_gone(grandchild, within_seconds=0.5)


def test_processes_left_behind_are_stopped_when_the_program_exits() -> None:
    result = run(make_request("shell", shell_spec("sleep 100 & echo $!"), timeout_seconds=10))

    assert result.ok, result.error
    assert result.duration_seconds < 3
    assert process_is_gone(int(result.output["stdout"]), within_seconds=0.5)


def test_missing_program_is_file_not_found_under_limits_too() -> None:
    spec = argv_spec("no-such-program-xyz", "--help")

    result = run(make_request("shell", spec, limits=Limits(memory_bytes=256 * 1024**2)))

    assert not result.ok
    assert result.error_type == "FileNotFoundError"
    assert result.error == "program not found: 'no-such-program-xyz'"


def test_limited_programs_run_as_themselves_with_their_limits(tmp_path: Path) -> None:
    script = tmp_path / "limits.sh"
    script.write_text('#!/bin/sh\necho "$0 $1"; ulimit -v; ulimit -t\n')
    script.chmod(0o755)
    limits = Limits(memory_bytes=512 * 1024**2, cpu_seconds=5)

    result = run(
        make_request("shell", argv_spec("./limits.sh", "arg"), cwd=tmp_path, limits=limits)
    )

    assert result.ok, result.error
    assert result.output["stdout"].split("\n")[:3] == ["./limits.sh arg", "524288", "5"]


def test_memory_limit_stops_a_memory_hog() -> None:
    spec = argv_spec(PYTHON, "-c", "x = bytearray(2 * 1024**3)")

    result = run(make_request("shell", spec, limits=Limits(memory_bytes=256 * 1024**2)))

    assert not result.ok
    assert result.error_type == "ExitCode"
    assert result.error == "exited with code 1: MemoryError"


def test_cpu_limit_stops_a_busy_loop() -> None:
    spec = argv_spec(PYTHON, "-c", "while True: pass")

    result = run(make_request("shell", spec, timeout_seconds=10, limits=Limits(cpu_seconds=1)))

    assert not result.ok
    assert not result.timed_out
    assert result.error_type == "Signal"
    assert result.error_types == ("Signal", "SIGXCPU")
    assert result.error == "killed by SIGXCPU (over the CPU time limit of 1 s)"
    assert result.exit_code == -24


def test_output_cap_truncates_ten_megabytes() -> None:
    spec = argv_spec(PYTHON, "-c", "import sys; sys.stdout.write('x' * 10_000_000)")

    result = run(make_request("shell", spec, limits=Limits(output_bytes=1024 * 1024)))

    assert result.ok, result.error
    marker = f"…[truncated {10_000_000 - 1024 * 1024} bytes]"
    assert result.output["stdout"] == "x" * 1024 * 1024 + marker


def test_stdout_and_stderr_are_drained_concurrently() -> None:
    # 1 MB on each stream: far over a pipe buffer, so reading one after the other deadlocks.
    code = (
        "import sys\n"
        "for _ in range(100):\n"
        "    sys.stderr.write('e' * 10_000); sys.stderr.flush()\n"
        "    sys.stdout.write('o' * 10_000); sys.stdout.flush()\n"
    )

    result = run(make_request("shell", argv_spec(PYTHON, "-c", code), timeout_seconds=10))

    assert result.ok, result.error
    assert len(result.output["stdout"]) == len(result.output["stderr"]) == 1_000_000


def test_stdin_is_empty() -> None:
    result = run(make_request("shell", argv_spec("cat"), timeout_seconds=5))

    assert result.ok, result.error
    assert result.output["stdout"] == ""


def test_invalid_output_bytes_are_replaced() -> None:
    spec = argv_spec(PYTHON, "-c", "import sys; sys.stdout.buffer.write(b'ok \\xff end')")

    result = run(make_request("shell", spec))

    assert result.output["stdout"] == "ok \ufffd end"


def test_invalid_shell_spec_is_a_failed_result() -> None:
    result = run(make_request("shell", {"command": "echo hi"}))  # no shell: true

    assert not result.ok
    assert result.error_type == "InvalidAction"
    assert "runs only with shell: true" in (result.error or "")
