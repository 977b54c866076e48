"""Calling a python step's function, in a thread or in a child process.

The outcome of a call has a *wire form*, plain JSON whether it crosses a pipe or not:
``{"output": ...}`` or ``{"error": {"error": ..., "error_type": ..., "error_types": [...]}}``.
With ``isolate: process`` nothing is pickled: the job goes to the child as JSON on its
stdin; log records, then the result, come back as length-prefixed JSON frames on a pipe
of their own (the function may print to stdout).

Light on purpose (standard library and :mod:`autohub.engine.actions.base` only): the
child process imports it before the step's module.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from autohub.engine.actions.base import (
    ActionResult,
    NotSerialisable,
    error_fields,
    json_safe,
)
from autohub.engine.context import StepContext
from autohub.paths import PROJECT_IMPORTS
from autohub.rlimits import set_resource_limits

Wire = dict[str, Any]


_RESOLVED: dict[tuple[str, str], tuple[Callable[..., Any], Any, Any]] = {}
"""(path, root) -> (function, its module, the module's attribute the qualname starts
with): valid while that module is still imported and not reloaded (a reload rebinds the
attribute)."""


def import_function(path: str, root: Path | str) -> Callable[..., Any]:
    """The callable named by ``pkg.module:qualname``, imported from the project ``root``.

    The root goes first on ``sys.path``. A module of the same top-level name imported
    earlier from elsewhere (another project root) is forgotten when the root has one:
    the project's own code runs, not a namesake's.
    """
    module_name, _, qualname = path.partition(":")
    top = qualname.partition(".")[0]
    key = (path, str(root))
    cached = _RESOLVED.get(key)
    if cached is not None:
        module = sys.modules.get(module_name)
        if module is cached[1] and getattr(module, top, None) is cached[2]:
            return cached[0]
    with PROJECT_IMPORTS:
        function = _resolve(path, root)
    module = sys.modules.get(module_name)
    _RESOLVED[key] = (function, module, getattr(module, top, None))
    return function


def _resolve(path: str, root: Path | str) -> Callable[..., Any]:
    module_name, _, qualname = path.partition(":")
    root_path = Path(root).resolve()
    root_text = str(root_path)
    if not sys.path or sys.path[0] != root_text:
        with contextlib.suppress(ValueError):
            sys.path.remove(root_text)
        sys.path.insert(0, root_text)
    _forget_namesake(module_name.partition(".")[0], root_path)
    if module_name not in sys.modules:
        importlib.invalidate_caches()  # files written since the last import are seen
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{path} is a {type(target).__name__}, not a function")
    function: Callable[..., Any] = target
    return function


def _forget_namesake(top: str, root: Path) -> None:
    module = sys.modules.get(top)
    if module is None or not ((root / top).is_dir() or (root / f"{top}.py").is_file()):
        return
    origin = getattr(module, "__file__", None)
    if origin is not None and Path(origin).resolve().is_relative_to(root):
        return
    for name in [name for name in sys.modules if name == top or name.startswith(f"{top}.")]:
        del sys.modules[name]


def wire_output(function_path: str, value: Any, output_bytes: int) -> Wire:
    """The wire form of a returned value: JSON-safe and within the output limit, or an error."""
    if value is None:  # most steps return nothing
        return {"output": None}
    try:
        safe = json_safe(value)
    except NotSerialisable as exc:
        return _wire_failure(f"{function_path} {exc}", "NotSerialisable")
    size = len(json.dumps(safe, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > output_bytes:
        return _wire_failure(
            f"{function_path} returned {size} bytes of JSON, over the output limit of "
            f"{output_bytes} bytes",
            "OutputLimit",
        )
    return {"output": safe}


def wire_error(exc: BaseException, prefix: str = "") -> Wire:
    """The wire form of an exception: its one-line message and its class names."""
    fields = error_fields(exc, prefix)
    return {"error": {**fields, "error_types": list(fields["error_types"])}}


def _wire_failure(error: str, error_type: str) -> Wire:
    return {"error": {"error": error, "error_type": error_type, "error_types": [error_type]}}


def result_from_wire(wire: Mapping[str, Any]) -> ActionResult:
    """The :class:`ActionResult` a wire form stands for."""
    if "output" in wire:
        return ActionResult(ok=True, output=wire["output"])
    error = wire["error"]
    return ActionResult(
        ok=False,
        error=str(error["error"]),
        error_type=str(error["error_type"]),
        error_types=tuple(str(name) for name in error["error_types"]),
    )


def call(
    function_path: str,
    function: Callable[..., Any],
    context: StepContext,
    kwargs: Mapping[str, Any],
    output_bytes: int,
) -> Wire:
    """Call ``function(context, **kwargs)`` and give the wire form of its outcome.

    A coroutine it returns (an async callable not recognised as one) runs to completion
    in an event loop of its own.
    """
    try:
        value = function(context, **kwargs)
        if inspect.iscoroutine(value):
            value = asyncio.run(value)
    except BaseException as exc:  # SystemExit too: a step's sys.exit() is its failure
        return wire_error(exc)
    return wire_output(function_path, value, output_bytes)


class FrameWriter:
    """Length-prefixed JSON frames on a file descriptor (log records, then the result)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def send(self, message: Wire) -> None:
        data = json.dumps(message).encode()
        frame = len(data).to_bytes(4, "big") + data
        with self._lock:
            view = memoryview(frame)
            while view:
                view = view[os.write(self._fd, view) :]


class FrameHandler(logging.Handler):
    """Forwards log records to the parent, which logs them with the step's logger."""

    def __init__(self, frames: FrameWriter) -> None:
        super().__init__()
        self._frames = frames

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._frames.send({"log": [record.levelno, self.format(record)]})
        except Exception:
            self.handleError(record)


def main() -> None:
    """The child process of ``isolate: process`` (``python -c`` with the result fd as its
    first argument): read the job from stdin, call the function once, send the result.

    The parent started it in a process group of its own; here it sets its resource
    limits and gets stdin from /dev/null before any step code runs.
    """
    result_fd = int(sys.argv[1])
    os.set_inheritable(result_fd, False)  # what the function starts must not hold it open
    frames = FrameWriter(result_fd)
    job = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.path.extend(entry for entry in job["sys_path"] if entry not in sys.path)
    logger = logging.getLogger(job["logger"])
    logger.handlers[:] = [FrameHandler(frames)]
    logger.setLevel(job["log_level"])
    logger.propagate = False
    frames.send(_run_job(job, logger))


def _run_job(job: dict[str, Any], logger: logging.Logger) -> Wire:
    function_path: str = job["function"]
    try:
        set_resource_limits(job["memory_bytes"], job["cpu_seconds"])
    except (OSError, ValueError) as exc:
        return wire_error(exc, prefix="cannot set the resource limits")
    try:
        function = import_function(function_path, job["root"])
    except BaseException as exc:
        return wire_error(exc, prefix=f"cannot import {function_path}")
    context = StepContext(**job["context"], logger_name=logger.name)
    return call(function_path, function, context, job["kwargs"], job["output_bytes"])
