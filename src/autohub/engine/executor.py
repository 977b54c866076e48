"""Executors: where step attempts run. The engine says "run this attempt" and awaits the
result; :class:`LocalExecutor` runs it in this process (asyncio, a thread pool of its
own, subprocesses), and plug-in kinds through the handlers it is given. A Celery executor
implements the same :class:`Executor` protocol."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Protocol, runtime_checkable

from autohub.engine.actions.base import (
    KINDS,
    ActionHandler,
    ActionRequest,
    ActionResult,
    run_action,
)

__all__ = ["ActionHandler", "Executor", "LocalExecutor"]


@runtime_checkable
class Executor(Protocol):
    """Runs action attempts; every failure is a result, a cancellation stops the work."""

    @property
    def kinds(self) -> frozenset[str]:
        """The action kinds this executor runs."""
        ...

    async def run(self, request: ActionRequest) -> ActionResult:
        """Run one attempt and say how it went."""
        ...

    def close(self) -> None:
        """Release the executor's resources (threads, connections); no new work after."""
        ...


class LocalExecutor:
    """Runs actions in this process: sync python functions in its own thread pool.

    ``close()`` stops accepting work and does not wait for running threads (a timed-out
    sync function cannot be killed; the interpreter still waits for it at exit).
    """

    def __init__(
        self,
        max_threads: int | None = None,
        *,
        plugins: Mapping[str, ActionHandler] | None = None,
    ) -> None:
        self._threads = ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="autohub-step"
        )
        self._plugins = dict(plugins or {})
        clash = sorted(set(self._plugins) & set(KINDS))
        if clash:
            raise ValueError(f"plug-in action kinds {clash} would hide built-in ones")
        self._kinds = frozenset((*KINDS, *self._plugins))
        self._closed = False

    @property
    def kinds(self) -> frozenset[str]:
        return self._kinds

    async def run(self, request: ActionRequest) -> ActionResult:
        if self._closed:
            raise RuntimeError("this LocalExecutor is closed")
        plugin = self._plugins.get(request.kind)
        if plugin is not None:
            return await run_action(request, handler=plugin)
        return await run_action(request, thread_pool=self._threads)

    def close(self) -> None:
        self._closed = True
        self._threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
