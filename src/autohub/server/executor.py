"""The server's run executor: a thread with its own event loop that executes the runs
nobody executes (created by the API, or left behind by a runner that died), up to
``max_runs`` at a time, with the engine's local executor.

Several servers may share one store: each run is claimed with a lease before it runs,
so exactly one of them executes it (the others see ``RunBusy`` and move on). On
shutdown the executor stops taking runs and waits for the running ones up to a grace
period; it gives up a run still going after it (its subprocesses are stopped and
nothing more is recorded for it, not even "cancelled"), so that the next runner (a
server, ``autohub resume``) continues it at once from its last completed step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from autohub.errors import AutohubError
from autohub.hub import Hub

if TYPE_CHECKING:
    from autohub.engine.runner import Runner
    from autohub.store.runs import RunRecord

logger = logging.getLogger(__name__)


class RunExecutor:
    """Executes a project's pending runs in a background thread."""

    def __init__(self, hub: Hub, *, max_runs: int = 8, poll_seconds: float = 1.0) -> None:
        self.hub = hub
        self.max_runs = max_runs
        self.poll_seconds = poll_seconds
        self._pass_at: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._grace = 0.0
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="autohub-executor", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def age(self) -> float | None:
        """Seconds since the executor last looked for runs (None before its first pass or
        after it ended): ``/ready`` tells a stalled executor by it."""
        thread, at = self._thread, self._pass_at
        if thread is None or not thread.is_alive() or at is None:
            return None
        return time.monotonic() - at

    def wake(self) -> None:
        """Look for runs now (a run was just created)."""
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            loop.call_soon_threadsafe(wake.set)

    def stop(self, grace_seconds: float) -> None:
        """Take no more runs; wait up to ``grace_seconds`` for the running ones."""
        self._stopping, self._grace = True, grace_seconds
        self.wake()
        if self._thread is not None:
            self._thread.join(grace_seconds + 5)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        self._pass_at = time.monotonic()
        self._started.set()
        registry, runner = self.hub.registry, self.hub.runner()
        running: dict[str, asyncio.Task[None]] = {}
        try:
            while not self._stopping:
                self._pass_at = time.monotonic()
                self._wake.clear()  # before looking: a wake-up while we look is kept
                if self.hub.registry is not registry:  # reloaded: new defaults, breakers
                    registry = self.hub.registry
                    runner.use_definitions(registry.defaults, registry.breakers)
                if len(running) < self.max_runs:
                    await self._take(runner, running)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            if running:
                await asyncio.wait(running.values(), timeout=self._grace)
            for run_id in list(running):  # still going after the grace: hand them over
                try:
                    await asyncio.to_thread(self.hub.runs.release, run_id, runner.owner)
                except AutohubError as exc:
                    logger.warning("run %s: cannot give up its lease: %s", run_id, exc.message)
        finally:
            runner.steps.executor.close()

    async def _take(self, runner: Runner, running: dict[str, asyncio.Task[None]]) -> None:
        try:
            orphans = await asyncio.to_thread(self.hub.runs.orphans)
        except AutohubError as exc:
            logger.warning("cannot look for runs: %s", exc.message)
            return
        for run in orphans:
            if len(running) >= self.max_runs:
                return
            if run.id in running:
                continue
            task = asyncio.create_task(self._execute(runner, run), name=f"run:{run.id}")
            running[run.id] = task
            task.add_done_callback(self._finished(running, run.id))

    def _finished(
        self, running: dict[str, asyncio.Task[None]], run_id: str
    ) -> Callable[[asyncio.Task[None]], None]:
        def done(_task: asyncio.Task[None]) -> None:
            running.pop(run_id, None)
            if self._wake is not None:
                self._wake.set()  # room for another run

        return done

    async def _execute(self, runner: Runner, run: RunRecord) -> None:
        from autohub.engine.runner import RunBusy

        run_id = run.id
        try:
            await runner.execute(run.id, self.hub.automation_of(run))
        except RunBusy:
            pass  # another runner claimed it first
        except AutohubError as exc:
            logger.warning("run %s: %s", run_id, exc.message)
        except Exception:
            logger.exception("run %s failed in the executor", run_id)
