"""Shell steps: run a program from an argv list, or a ``/bin/sh -c`` string when asked.

The program runs in a process group (a session) of its own, with stdin from /dev/null,
the memory and CPU limits, and ``env`` merged over the request's environment. A step
owns its process group: on timeout or cancellation the group gets SIGTERM, then SIGKILL
once the program is gone or after :data:`GRACE_SECONDS`, grandchildren included.
Processes the program leaves behind when it exits are stopped too: SIGTERM, then SIGKILL
once the output pipes close or after the grace period (a daemon meant to outlive the
step must leave the group: ``setsid``).

stdout and stderr are read concurrently; the first ``limits.output_bytes`` of each are
kept (decoded as UTF-8, errors replaced), the rest is drained and counted in a
``…[truncated N bytes]`` marker. Output: ``{"exit_code": n, "stdout": ..., "stderr": ...}``
(a negative exit code is the signal that killed the program).

Resource limits (only when one is given) are set by a small trampoline that then execs
the program (:mod:`autohub.rlimits`); a program that is not found is reported before
anything starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from autohub.engine.actions.base import (
    ActionRequest,
    ActionResult,
    Limits,
    exception_result,
    failure,
    signal_result,
    timeout_result,
)
from autohub.engine.actions.spec import parse_spec
from autohub.registry.actions import ShellAction
from autohub.rlimits import limited_argv

GRACE_SECONDS = 2.0
"""How long a process group has between SIGTERM and SIGKILL."""

_TAIL_BYTES = 4096
_ERROR_LINE_CHARS = 300


def _find_program(name: str, cwd: Path, environ: dict[str, str]) -> str | None:
    """Where exec would find ``name`` (a path is taken from ``cwd``), or None."""
    if os.sep in name:
        path = cwd / name
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(name, path=environ.get("PATH", os.defpath))


async def run(request: ActionRequest) -> ActionResult:
    """Run a shell action."""
    action = parse_spec(ShellAction, "shell", request.spec, validated=request.action)
    if isinstance(action, ActionResult):
        return action
    argv = action.argv if action.argv is not None else ["/bin/sh", "-c", action.command or ""]
    cwd = request.cwd / action.cwd if action.cwd else request.cwd
    if not cwd.is_dir():
        return failure(f"working directory {str(cwd)!r} does not exist", "FileNotFoundError")
    limits = request.limits
    environ = {**request.environ, **action.env}
    command = list(argv)
    if limits.memory_bytes is not None or limits.cpu_seconds is not None:
        if _find_program(argv[0], cwd, environ) is None:
            return failure(f"program not found: {argv[0]!r}", "FileNotFoundError")
        command = limited_argv(argv, limits.memory_bytes, limits.cpu_seconds)
    loop = asyncio.get_running_loop()
    try:
        transport, program = await loop.subprocess_exec(
            lambda: _Program(limits.output_bytes),
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=environ,
            start_new_session=True,
        )
    except FileNotFoundError:
        return failure(f"program not found: {argv[0]!r}", "FileNotFoundError")
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return exception_result(exc, prefix=f"cannot start {argv[0]!r}")
    try:
        return await _supervise(transport, program, request.timeout_seconds, limits)
    finally:
        transport.close()


async def _supervise(
    transport: asyncio.SubprocessTransport,
    program: _Program,
    timeout_seconds: float | None,
    limits: Limits,
) -> ActionResult:
    group = transport.get_pid()  # start_new_session: the program leads its own group
    scope = asyncio.timeout(timeout_seconds)
    try:
        try:
            async with scope:
                await asyncio.shield(program.exited)
        except TimeoutError:
            if not scope.expired():
                raise
            await _stop_group(group, program.exited)
            with contextlib.suppress(TimeoutError):  # its exit code, once SIGKILL is through
                await asyncio.wait_for(asyncio.shield(program.exited), GRACE_SECONDS)
        else:
            if _signal_group(group, 0):  # the program left processes behind
                await _stop_group(group, program.closed)
        with contextlib.suppress(TimeoutError):
            # A process that escaped the group (setsid) may still hold the pipes open.
            await asyncio.wait_for(asyncio.shield(program.closed), GRACE_SECONDS)
    except asyncio.CancelledError:
        # Stop the group before the cancellation goes on (SIGKILL even if cancelled again).
        await _stop_group(group, program.exited)
        raise

    code = transport.get_returncode()
    output = {"exit_code": code, "stdout": program.stdout.text(), "stderr": program.stderr.text()}
    if scope.expired():
        return timeout_result(timeout_seconds, "; its process group was stopped", output=output)
    if code == 0:
        return ActionResult(ok=True, output=output, exit_code=0)
    detail = program.stderr.last_line()
    if code is not None and code < 0:
        return signal_result(-code, detail, limits, output=output)
    return failure(
        f"exited with code {code}" + (f": {detail}" if detail else ""),
        "ExitCode",
        output=output,
        exit_code=code,
    )


async def _stop_group(group: int, stopped: asyncio.Future[None]) -> None:
    """SIGTERM the process group, wait up to the grace period for ``stopped``, SIGKILL it."""
    try:
        if _signal_group(group, signal.SIGTERM):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopped), GRACE_SECONDS)
    finally:
        _signal_group(group, signal.SIGKILL)


def _signal_group(group: int, signum: int) -> bool:
    """Send ``signum`` to the process group; False when the group no longer exists."""
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member changed its uid: the others still got it
        return True
    return True


class _Program(asyncio.SubprocessProtocol):
    """Captures stdout and stderr as they come; says when the program exited and when both
    pipes closed (which can be later: processes it started may hold them)."""

    def __init__(self, output_bytes: int) -> None:
        loop = asyncio.get_running_loop()
        self.stdout = _Capture(output_bytes)
        self.stderr = _Capture(output_bytes)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._open_pipes = {1, 2}

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.stdout if fd == 1 else self.stderr).feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._open_pipes.discard(fd)
        if not self._open_pipes and not self.closed.done():
            self.closed.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)


class _Capture:
    """The head of a stream, up to a byte limit; the rest is counted, and its tail kept."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.head = bytearray()
        self.tail = b""
        self.dropped_bytes = 0

    def feed(self, chunk: bytes) -> None:
        room = self.limit_bytes - len(self.head)
        if room > 0:
            self.head += chunk[:room]
        self.dropped_bytes += max(0, len(chunk) - max(room, 0))
        self.tail = (self.tail + chunk)[-_TAIL_BYTES:]

    def text(self) -> str:
        text = self.head.decode("utf-8", "replace")
        if self.dropped_bytes:
            text += f"…[truncated {self.dropped_bytes} bytes]"
        return text

    def last_line(self) -> str:
        """The last non-blank line written (even past the limit), for error messages."""
        lines = self.tail.decode("utf-8", "replace").strip().splitlines()
        line = lines[-1].strip() if lines else ""
        return line if len(line) <= _ERROR_LINE_CHARS else line[:_ERROR_LINE_CHARS] + "…"
