"""WAL checkpoints of a SQLite database, from a thread of their own, when writers pause.

In WAL mode every commit appends pages to the ``-wal`` file; a checkpoint copies them
back into the database file and fsyncs it. SQLite runs one inside the commit that
crosses ``wal_autocheckpoint`` pages, so that one commit of the engine's hot path pays
for hundreds of others. A writer that hands the work to a :class:`Checkpointer` turns
its own autocheckpoint off. The checkpointer runs ``PRAGMA wal_checkpoint(PASSIVE)``
(it never blocks readers or writers) on its own connection once the writers it is told
of pause for ``quiet_seconds``, or after ``commits_per_checkpoint`` commits without a
pause. A checkpoint in the middle of a burst of commits slows every commit around it
(its fsync stalls the file system the writer appends to: a 1,000-step chain ran a third
slower with one every 256 commits), while a WAL that grows between pauses costs the
writer nothing: the commits' pages are appended either way. The commits are durable
either way: a checkpoint only moves committed pages.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

logger = logging.getLogger(__name__)

IDLE_CHECK_SECONDS = 1.0


class Checkpointer:
    """Checkpoints one SQLite database file in a daemon thread while started."""

    def __init__(
        self, path: str, *, commits_per_checkpoint: int = 1024, quiet_seconds: float = 0.1
    ) -> None:
        """``commits_per_checkpoint``: the longest burst without a checkpoint (an engine
        commit appends about 16 pages: 1,024 of them, about 64 MiB of WAL)."""
        self.path = path
        self.commits_per_checkpoint = commits_per_checkpoint
        self.quiet_seconds = quiet_seconds
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
        """A writer committed (cheap: a counter; the thread is woken by the first commit
        after a checkpoint and by the one that reaches ``commits_per_checkpoint``)."""
        self._commits += 1
        if self._commits == 1 or self._commits >= self.commits_per_checkpoint:
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
                # Woken by the first commit after a checkpoint; the timeout covers a wake-up
                # lost when a commit's count raced the reset below.
                self._wake.wait(IDLE_CHECK_SECONDS)
                self._wake.clear()
                self._wait_for_a_pause()
                if self._commits:
                    self._commits = 0
                    self._checkpoint(connection)
                if self._stopping:
                    return
        finally:
            connection.close()

    def _wait_for_a_pause(self) -> None:
        """Until no commit came for ``quiet_seconds``, the burst reached
        ``commits_per_checkpoint`` commits, or the checkpointer is stopping."""
        while not self._stopping and self._commits < self.commits_per_checkpoint:
            seen = self._commits
            self._wake.wait(self.quiet_seconds)
            self._wake.clear()
            if self._commits == seen:
                return

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
        except sqlite3.Error as exc:  # the next one, or SQLite's own, will catch up
            logger.warning("WAL checkpoint of %s failed: %s", self.path, exc)
