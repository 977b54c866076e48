"""The heartbeat of a run being executed: a thread that keeps the run's lease.

Every ``interval`` seconds it renews the lease of the run (and of its running steps and
concurrency locks) in the store, and it tells the runner, on the runner's event loop,
when someone asked to cancel the run or when another runner took it over. It runs on a
thread of its own so that nothing on the event loop can stop it: a step that blocks the
loop (an ``async def`` calling blocking code, a sync step run on the runner's thread)
keeps its run instead of losing it to another runner after ``lease_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from autohub.errors import AutohubError
from autohub.store.locks import LockStore
from autohub.store.runs import LeaseLost, RunStore

logger = logging.getLogger(__name__)


class Heartbeat:
    """Renews one run's lease from a daemon thread while started."""

    def __init__(
        self,
        *,
        store: RunStore,
        run_id: str,
        owner: str,
        lease_seconds: float,
        interval: float,
        loop: asyncio.AbstractEventLoop,
        on_cancel_requested: Callable[[], None],
        on_lease_lost: Callable[[], None],
        locks: LockStore | None = None,
        lock_holders: Callable[[], list[str]] = list,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.loop = loop
        self.on_cancel_requested = on_cancel_requested
        self.on_lease_lost = on_lease_lost
        self.locks = locks
        self.lock_holders = lock_holders
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"autohub-heartbeat-{self.run_id[:8]}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop beating (waits for a renewal in progress); nothing is reported after."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        cancel_reported = False
        while not self._stopping.wait(self.interval):
            try:
                record = self.store.renew(self.run_id, self.owner, self.lease_seconds)
            except LeaseLost:
                self._report(self.on_lease_lost)
                return
            except AutohubError as exc:  # the store is unreachable: the next beat retries
                logger.warning("run %s: cannot renew its lease: %s", self.run_id, exc)
                continue
            except Exception:  # a bug must not end the heartbeat (and lose the run) silently
                logger.exception("run %s: renewing its lease failed", self.run_id)
                continue
            if self.locks is not None:
                for holder in self.lock_holders():
                    try:
                        self.locks.renew(holder, self.lease_seconds)
                    except Exception as exc:
                        logger.warning("run %s: cannot renew lock %s: %s", self.run_id, holder, exc)
            if record.cancel_requested_at is not None and not cancel_reported:
                cancel_reported = True
                self._report(self.on_cancel_requested)

    def _report(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            self.loop.call_soon_threadsafe(self._deliver, callback)

    def _deliver(self, callback: Callable[[], None]) -> None:
        """On the loop: ``callback``, unless the heartbeat was stopped meanwhile (the run
        is over; a late report must not cancel whatever its caller runs next)."""
        if not self._stopping.is_set():
            callback()
