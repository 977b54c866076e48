"""WAL checkpoints of a SQLite database, from a thread of their own.

In WAL mode every commit appends pages to the ``-wal`` file; a checkpoint copies them
back into the database file and fsyncs it. SQLite runs one inside the commit that
crosses ``wal_autocheckpoint`` pages, so that one commit of the engine's hot path
pays for hundreds of others (about a third of a durable step's time). A writer that
hands the work to a :class:`Checkpointer` turns its own autocheckpoint off; the
checkpointer runs ``PRAGMA wal_checkpoint(PASSIVE)`` (it never blocks readers or
writers) on its own connection every ``commits_per_checkpoint`` commits it is told of,
and at least every ``interval_seconds`` while there were any. The commits are durable
either way: a checkpoint only moves committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)


class Checkpointer:
    """Checkpoints one SQLite database file in a daemon thread while started."""

    def __init__(
        self, path: str, *, commits_per_checkpoint: int = 256, interval_seconds: float = 1.0
    ) -> None:
        self.path = path
        self.commits_per_checkpoint = commits_per_checkpoint
        self.interval_seconds = interval_seconds
        self.checkpoints = 0
        self._commits = 0
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="autohub-checkpoint", daemon=True
            )
            self._thread.start()

    def committed(self) -> None:
        """A writer committed (cheap: a counter, and a wake-up now and then)."""
        self._commits += 1
        if self._commits >= self.commits_per_checkpoint:
            self._wake.set()

    def stop(self) -> None:
        """Checkpoint what is left, then end the thread."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping = True
            self._wake.set()
            thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            while True:
                self._wake.wait(self.interval_seconds)
                self._wake.clear()
                if self._commits:
                    self._commits = 0
                    self._checkpoint(connection)
                if self._stopping:
                    return
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # the next one, or SQLite's own, will catch up
            logger.warning("WAL checkpoint of %s failed: %s", self.path, exc)
