"""Python steps: call ``pkg.module:qualname`` with a :class:`StepContext` and ``kwargs``.

Where the function runs, and what a timeout or a cancellation does to it:

* ``async def`` with ``isolate: thread`` (the default): awaited on the event loop. A
  timeout or a cancellation cancels the coroutine, so its ``finally`` blocks run.
* a sync function with ``isolate: thread``: in a thread pool. **A thread
  cannot be killed**: on timeout the result says timed out at once, and on cancellation
  the ``CancelledError`` propagates at once, but the function runs on in its thread
  until it returns. Memory and CPU limits do not apply. Use ``isolate: process`` for
  code that may hang.

  When the runner has nothing else to do meanwhile (``request.inline``: it executes
  this one run, which has no deadline, and no other step is running, ready or waiting
  for a retry; it then awaits the attempt in its own task instead of a task per step)
  and the attempt has no timeout, the function runs on the runner's own thread
  instead: a thread would buy neither an early timeout nor other work done
  meanwhile, and handing the call to a pool thread and back costs two thread wake-ups
  (a few hundred microseconds on a virtual machine), more than a short step itself.
  The runner's event loop is not the running loop during the call, so the function may
  use ``asyncio.run``; the run's lease is kept by the heartbeat's own thread; a
  cancellation takes effect when the function returns.
* ``isolate: process`` (sync or async): in a child process, a fresh interpreter
  (spawned, never forked from this threaded program) in the project root, with the
  request's environment, in a process group of its own, under the memory and CPU
  limits. On timeout or cancellation the child and its process group are killed
  (SIGKILL) and reaped before the result or the ``CancelledError``; so is whatever the
  function left running when it returns. The child's log records reach the step's
  logger; only JSON crosses between the processes
  (:mod:`autohub.engine.actions.pychild`), so params, outputs and kwargs that are not
  JSON (a date read from YAML) reach the function as text.

The return value must be JSON data (see :func:`~autohub.engine.actions.base.json_safe`)
no bigger than ``limits.output_bytes`` once encoded; a raised exception fails the step
with its class names in ``error_types``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Executor as ThreadPool
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

import autohub
from autohub.engine.actions.base import (
    ActionRequest,
    ActionResult,
    exception_result,
    failure,
    signal_result,
    timeout_result,
)
from autohub.engine.actions.pychild import (
    Wire,
    call,
    import_function,
    result_from_wire,
    wire_output,
)
from autohub.engine.actions.spec import parse_spec
from autohub.registry.actions import PythonAction

EXIT_GRACE_SECONDS = 1.0
"""How long a child that sent its result has to exit before it is killed."""
REAP_TIMEOUT_SECONDS = 5.0

# The child is a fresh interpreter (``python -c``), never a fork of this threaded program
# and never a multiprocessing child, which re-runs the parent's ``__main__`` script.
_BOOTSTRAP = (
    "import sys; sys.path.append(sys.argv[2]); "
    "from autohub.engine.actions.pychild import main; main()"
)
_AUTOHUB_PARENT = str(Path(autohub.__file__).resolve().parent.parent)


async def run(request: ActionRequest, *, thread_pool: ThreadPool | None = None) -> ActionResult:
    """Run a python action; ``thread_pool`` runs sync functions (default: the loop's)."""
    action = parse_spec(PythonAction, "python", request.spec, validated=request.action)
    if isinstance(action, ActionResult):
        return action
    if action.isolate == "process":
        return await _run_in_process(request, action)
    try:
        function = import_function(action.function, request.cwd)
    except (Exception, SystemExit) as exc:
        return exception_result(exc, prefix=f"cannot import {action.function}")
    if inspect.iscoroutinefunction(function):
        return await _run_coroutine(request, action, function)
    return await _run_in_thread(request, action, function, thread_pool)


async def _run_coroutine(
    request: ActionRequest, action: PythonAction, function: Callable[..., Any]
) -> ActionResult:
    scope = asyncio.timeout(request.timeout_seconds)
    try:
        async with scope:
            coroutine = function(request.context, **action.kwargs)
            # Inline, the runner awaits the attempt in its own task: the coroutine gets a
            # task of its own all the same (its context variables, asyncio.current_task).
            value = await (asyncio.create_task(coroutine) if request.inline else coroutine)
    except TimeoutError as exc:
        if scope.expired():
            return timeout_result(request.timeout_seconds, "; the coroutine was cancelled")
        return exception_result(exc)
    except (Exception, SystemExit) as exc:
        return exception_result(exc)
    if scope.expired():  # the coroutine swallowed its cancellation
        return timeout_result(request.timeout_seconds, "; the coroutine was cancelled")
    return result_from_wire(wire_output(action.function, value, request.limits.output_bytes))


async def _run_in_thread(
    request: ActionRequest,
    action: PythonAction,
    function: Callable[..., Any],
    thread_pool: ThreadPool | None,
) -> ActionResult:
    loop = asyncio.get_running_loop()
    work = functools.partial(
        contextvars.copy_context().run,
        call,
        action.function,
        function,
        request.context,
        action.kwargs,
        request.limits.output_bytes,
    )
    if request.inline and request.timeout_seconds is None:
        return result_from_wire(_call_here(loop, work))
    scope = asyncio.timeout(request.timeout_seconds)
    try:
        async with scope:
            wire = await loop.run_in_executor(thread_pool, work)
    except TimeoutError:
        if not scope.expired():
            raise
        return timeout_result(
            request.timeout_seconds, "; the thread runs on until the function returns"
        )
    return result_from_wire(wire)


def _call_here(loop: asyncio.AbstractEventLoop, work: Callable[[], Wire]) -> Wire:
    """``work()`` on the event loop's thread, the loop hidden while it runs (so that the
    function may start an event loop of its own, as it could on a pool thread)."""
    asyncio._set_running_loop(None)
    try:
        return work()
    finally:
        asyncio._set_running_loop(loop)


async def _run_in_process(request: ActionRequest, action: PythonAction) -> ActionResult:
    step = request.context
    limits = request.limits
    job = {
        "function": action.function,
        "kwargs": action.kwargs,
        "root": str(request.cwd.resolve()),
        "sys_path": sys.path,
        "context": {
            "run_id": step.run_id,
            "step_id": step.step_id,
            "automation": step.automation,
            "attempt": step.attempt,
            "params": dict(step.params),
            "outputs": dict(step.outputs),
            "idempotency_key": step.idempotency_key,
            "project_id": step.project_id,
        },
        "logger": step.logger.name,
        "log_level": step.logger.getEffectiveLevel(),
        "memory_bytes": limits.memory_bytes,
        "cpu_seconds": limits.cpu_seconds,
        "output_bytes": limits.output_bytes,
    }
    read_fd, write_fd = os.pipe()
    pipe = os.fdopen(read_fd, "rb", buffering=0)
    try:
        frames, transport = await _open_frames(pipe)
    except BaseException:
        pipe.close()
        os.close(write_fd)
        raise
    try:
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _BOOTSTRAP,
                str(write_fd),
                _AUTOHUB_PARENT,
                stdin=asyncio.subprocess.PIPE,
                cwd=request.cwd,
                env=dict(request.environ),
                start_new_session=True,
                pass_fds=(write_fd,),
            )
        finally:
            os.close(write_fd)  # the child's copy is the last: its end reads as end of file
    except (OSError, ValueError) as exc:
        transport.close()
        return exception_result(exc, prefix="cannot start the child process")

    wire: Wire | None = None
    timed_out = False
    scope = asyncio.timeout(request.timeout_seconds)
    try:
        try:
            async with scope:
                await _send_job(process, job)
                wire = await _receive(frames, step.logger)
                if wire is None:
                    await process.wait()
        except TimeoutError:
            if not scope.expired():
                raise
            timed_out = True
        if wire is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), EXIT_GRACE_SECONDS)
    finally:
        # Also on cancellation: the child, and what it started, die before we go on.
        _kill_group(process.pid)
        transport.close()
        if process.stdin is not None:
            process.stdin.close()  # wait() also waits for this pipe to close
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), REAP_TIMEOUT_SECONDS)

    if timed_out:
        return timeout_result(request.timeout_seconds, "; the child process was killed")
    if wire is not None:
        return result_from_wire(wire)
    code = process.returncode
    if code is not None and code < 0:
        return signal_result(-code, "", limits, prefix=f"{action.function}: the child process was ")
    return failure(
        f"{action.function}: the child process exited with code {code} before returning a result",
        "ExitCode",
        exit_code=code,
    )


async def _open_frames(pipe: BinaryIO) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    frames = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(frames), pipe)
    return frames, transport


async def _send_job(process: asyncio.subprocess.Process, job: dict[str, Any]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(job, default=_as_json).encode())
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it died: its exit says why
        await process.stdin.drain()
    process.stdin.close()


def _as_json(value: Any) -> str:
    # Params and outputs that are not JSON (dates read from YAML...) reach the child as text.
    return value.isoformat() if isinstance(value, date) else str(value)


async def _receive(frames: asyncio.StreamReader, logger: logging.Logger) -> Wire | None:
    """The child's result, logging the records it sends first; None if it ended first."""
    while True:
        try:
            header = await frames.readexactly(4)
            message: Wire = json.loads(await frames.readexactly(int.from_bytes(header, "big")))
        except asyncio.IncompleteReadError:
            return None
        if "log" not in message:
            return message
        level, text = message["log"]
        logger.log(level, "%s", text)


def _kill_group(pid: int) -> None:
    """SIGKILL the child's process group: the child if still running, and what it started."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
