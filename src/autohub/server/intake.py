"""The server's run intake: the runs that requests create, written in batches.

Requests that arrive together (many clients, webhooks in bursts) each wait for their own
run, but one thread writes all the runs waiting at that moment in one transaction: one
commit for many runs, where each request committing alone would queue on the store's
single writer. A run alone in the queue is written at once, as before.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from autohub.store.runs import NewRun, RunRecord, RunStore

MAX_BATCH = 64


@dataclass
class RunIntake:
    """Creates runs for the request threads, batching those that wait together."""

    runs: RunStore
    _queue: queue.SimpleQueue[tuple[NewRun, Future[tuple[RunRecord, bool]]] | None] = field(
        default_factory=queue.SimpleQueue, init=False
    )
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._main, name="autohub-intake", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(10)

    def create(self, new: NewRun) -> tuple[RunRecord, bool]:
        """Create the run (or, with an idempotency key already used, return that run and
        False), from a request thread; raises the run's store error."""
        if self._thread is None or not self._thread.is_alive():
            return self.runs.create(new)
        future: Future[tuple[RunRecord, bool]] = Future()
        self._queue.put((new, future))
        return future.result()

    def _main(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            try:
                results = self.runs.create_many([new for new, _ in batch])
            except Exception as exc:  # each waiting request gets the error
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
