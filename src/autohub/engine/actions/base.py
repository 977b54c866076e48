"""Action requests and results, and :func:`run_action`, which runs one by its kind.

Every failure of an action is an :class:`ActionResult` with ``ok=False``, never an
exception: the policies (retry, breaker, fallback) decide from its fields. Only
``asyncio.CancelledError`` propagates, once the work is really stopped.

This module stays light (standard library only): the child process of a
``python`` step with ``isolate: process`` imports it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor as ThreadPool
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any
from uuid import UUID

from autohub.engine.context import StepContext

KINDS = ("python", "shell", "http")
"""The action kinds :func:`run_action` runs itself (plug-in kinds come with a handler)."""

TIMEOUT_ERROR_TYPES = ("TimeoutError", "OSError", "Exception", "BaseException")


@dataclass(frozen=True)
class Limits:
    """Resource limits of a step attempt.

    ``memory_bytes`` (RLIMIT_AS) and ``cpu_seconds`` (RLIMIT_CPU) apply to
    subprocesses: shell steps and python steps with ``isolate: process``.
    ``output_bytes`` caps what is kept of any action's output.
    """

    memory_bytes: int | None = None
    cpu_seconds: float | None = None
    output_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ActionRequest:
    """One attempt of one action, with everything needed to run it anywhere."""

    kind: str
    """``python``, ``shell`` or ``http``."""
    spec: Mapping[str, Any]
    """The action's fields, rendered: ``PythonAction``/``ShellAction``/``HttpAction``
    ``.model_dump(by_alias=True)`` (so http has ``json``, not ``json_body``)."""
    context: StepContext
    timeout_seconds: float | None = None
    """None: no time limit."""
    limits: Limits = Limits()
    cwd: Path = Path(".")
    """The project root: a relative shell ``cwd`` is relative to it, python modules import
    from it."""
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    """The base environment of subprocesses (a shell step's ``env`` is merged over it)."""
    inline: bool = False
    """The runner has nothing else to do while this attempt runs: with no timeout, a sync
    python function may run on the runner's own thread instead of a pool thread (see
    :mod:`autohub.engine.actions.python`)."""
    action: Any = None
    """The registry's validated action model when ``spec`` is exactly its dump (nothing
    rendered, no secret resolved): handlers take it instead of validating ``spec`` again
    (see ``spec.parse_spec``)."""


@dataclass(frozen=True)
class ActionResult:
    """How an action attempt ended."""

    ok: bool
    output: Any = None
    """JSON-safe data: dict, list, str, number, bool or None."""
    error: str | None = None
    """A one-line human message."""
    error_type: str | None = None
    """The exception class name, or ``TimeoutError``, ``ExitCode``, ``Signal``,
    ``HTTPStatus``, ``OutputLimit``, ``NotSerialisable``, ``InvalidAction``,
    ``UnsupportedAction``."""
    error_types: tuple[str, ...] = ()
    """``error_type`` and the names of its base classes, for ``retry_on.exceptions``.
    Every timed-out result has ``TimeoutError`` among them."""
    exit_code: int | None = None
    http_status: int | None = None
    timed_out: bool = False
    final: bool = False
    """A decision, not a fault (a NO-GO gate): retrying cannot change it, so no retry
    policy retries it (a fallback still runs)."""
    duration_seconds: float = 0.0


ActionHandler = Callable[[ActionRequest], Awaitable[ActionResult]]
"""Runs one attempt of a plug-in action kind (``gate``, ``watch``...): a component
above the engine supplies it, so the engine never imports the component."""


class NotSerialisable(TypeError):
    """A value that is not JSON data."""

    def __init__(self, where: str, type_name: str) -> None:
        self.where = where
        self.type_name = type_name
        at = "" if where == "output" else f" (at {where})"
        super().__init__(f"returned a {type_name}{at}, which is not JSON-serialisable")


def json_safe(value: Any, where: str = "output") -> Any:
    """``value`` as plain JSON data; raises :class:`NotSerialisable` naming the bad part.

    Datetimes and dates become ISO 8601 strings, paths and UUIDs strings, tuples lists.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotSerialisable(where, f"non-finite float ({value})")
        return value
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str):
                text_key = key
            elif key is None or isinstance(key, bool | int | float):
                text_key = json.dumps(key)  # as json.dumps would write the key
            else:
                raise NotSerialisable(f"{where} key {key!r}", type(key).__name__)
            result[text_key] = json_safe(item, f"{where}[{text_key!r}]")
        return result
    if isinstance(value, list | tuple):
        return [json_safe(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | PurePath):
        return str(value)
    raise NotSerialisable(where, type(value).__name__)


def type_names(cls: type[BaseException]) -> tuple[str, ...]:
    """The names of ``cls`` and its bases along the MRO, without ``object``."""
    return tuple(klass.__name__ for klass in cls.__mro__ if klass is not object)


def error_fields(exc: BaseException, prefix: str = "") -> dict[str, Any]:
    """``error``, ``error_type`` and ``error_types`` of a failed result from an exception."""
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not hide the failure
        message = ""
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    error = f"{name}: {first_line}" if first_line else name
    return {
        "error": f"{prefix}: {error}" if prefix else error,
        "error_type": name,
        "error_types": type_names(type(exc)),
    }


def exception_result(exc: BaseException, prefix: str = "", **fields: Any) -> ActionResult:
    """A failed result describing ``exc`` (``prefix`` says what was being done)."""
    return ActionResult(ok=False, **error_fields(exc, prefix), **fields)


def failure(error: str, error_type: str, **fields: Any) -> ActionResult:
    """A failed result of one of the engine's own error types (``ExitCode``, ``HTTPStatus``...)."""
    return ActionResult(
        ok=False, error=error, error_type=error_type, error_types=(error_type,), **fields
    )


def timeout_result(
    timeout_seconds: float | None, note: str = "", *, output: Any = None
) -> ActionResult:
    """A timed-out result: ``error_type`` ``TimeoutError``."""
    message = (
        f"timed out after {timeout_seconds:g} s" if timeout_seconds is not None else "timed out"
    )
    return ActionResult(
        ok=False,
        output=output,
        error=f"{message}{note}",
        error_type="TimeoutError",
        error_types=TIMEOUT_ERROR_TYPES,
        timed_out=True,
    )


def invalid_spec(kind: str, problems: str) -> ActionResult:
    """A failed result for a spec that is not a valid action of ``kind``."""
    return failure(f"invalid {kind} action: {problems}", "InvalidAction")


async def run_action(
    request: ActionRequest,
    *,
    thread_pool: ThreadPool | None = None,
    handler: ActionHandler | None = None,
) -> ActionResult:
    """Run ``request`` by its kind and say how it went; ``duration_seconds`` is wall time.

    ``thread_pool`` runs sync python functions with ``isolate: thread`` (default: the
    event loop's default executor); ``handler`` runs a plug-in kind instead. Never raises
    for a failed action; a cancellation propagates once the work is stopped (a thread
    cannot be stopped: see :mod:`autohub.engine.actions.python`).
    """
    started = time.monotonic()
    try:
        if handler is not None:
            result = await handler(request)
        else:
            result = await _dispatch(request, thread_pool)
    except Exception as exc:  # an engine bug must still end as a result, and be logged
        request.context.logger.exception("the %s action failed unexpectedly", request.kind)
        result = exception_result(exc, prefix=f"{request.kind} action failed unexpectedly")
    return _timed(result, time.monotonic() - started)


def _timed(result: ActionResult, seconds: float) -> ActionResult:
    """``result`` with its duration (``dataclasses.replace`` without its field-by-field
    inspection: this runs for every attempt)."""
    return ActionResult(**{**vars(result), "duration_seconds": seconds})


async def _dispatch(request: ActionRequest, thread_pool: ThreadPool | None) -> ActionResult:
    # The kind modules are imported on first use: http needs httpx, python and shell the
    # registry models, and none of them is needed by an isolated python child.
    if request.kind == "python":
        from autohub.engine.actions import python

        return await python.run(request, thread_pool=thread_pool)
    if request.kind == "shell":
        from autohub.engine.actions import shell

        return await shell.run(request)
    if request.kind == "http":
        from autohub.engine.actions import http

        return await http.run(request)
    return failure(
        f"action kind {request.kind!r} is not supported here: this executor runs "
        f"{', '.join(KINDS)}",
        "UnsupportedAction",
    )


def signal_result(
    signum: int, detail: str, limits: Limits, *, output: Any = None, prefix: str = ""
) -> ActionResult:
    """A failed result for a process killed by signal ``signum`` (``error_type`` ``Signal``)."""
    name = _signal_name(signum)
    hint = ""
    if signum == signal.SIGXCPU and limits.cpu_seconds is not None:
        hint = f" (over the CPU time limit of {limits.cpu_seconds:g} s)"
    elif signum in (signal.SIGKILL, signal.SIGSEGV):
        suspects = []
        if limits.memory_bytes is not None:
            suspects.append(f"the memory limit of {limits.memory_bytes} bytes")
        if limits.cpu_seconds is not None and signum == signal.SIGKILL:
            suspects.append(f"the CPU time limit of {limits.cpu_seconds:g} s")
        if suspects:
            hint = f" (over {' or '.join(suspects)}?)"
    error = f"{prefix}killed by {name}{hint}" + (f": {detail}" if detail else "")
    return ActionResult(
        ok=False,
        output=output,
        error=error,
        error_type="Signal",
        error_types=("Signal", name),
        exit_code=-signum,
    )


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
