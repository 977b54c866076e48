"""The spool: an append-only, fsynced file that keeps events while the database is down.

Each line is one event row as JSON, already validated and redacted, carrying its
unique ``uid``. Draining inserts the lines in order with "insert, ignoring
duplicates" and truncates the file only after the inserts committed, so a crash at
any point neither loses nor duplicates an event. A lock file serialises the
processes that share a spool.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SPOOL_FILE = "events.jsonl"
REJECTED_FILE = "rejected.jsonl"


class EventSpool:
    """Events waiting for the database, in the order they were recorded."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / SPOOL_FILE
        self._lock_path = directory / "spool.lock"

    def has_pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def pending(self) -> int:
        """How many complete events wait in the spool."""
        with self._locked():
            return len(self._read())

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append rows durably: when this returns they survive a crash."""
        lines = "".join(json.dumps(row, separators=(",", ":"), default=str) + "\n" for row in rows)
        with self._locked():
            created = not self.path.exists()
            if not created and self._ends_torn():
                lines = "\n" + lines  # end the torn line, or our first row would join it
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(lines)
                handle.flush()
                os.fsync(handle.fileno())
            if created:
                _fsync_directory(self.directory)

    def reject(self, row: dict[str, Any], reason: str) -> None:
        """Set aside a row the database refuses for good, so it blocks no later write."""
        line = json.dumps({"reason": reason, "row": row}, separators=(",", ":"), default=str)
        path = self.directory / REJECTED_FILE
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def drain(self, insert: Callable[[list[dict[str, Any]]], None], batch_size: int = 1000) -> int:
        """Insert every spooled row through ``insert`` (which must ignore duplicate uids),
        then empty the spool. If ``insert`` raises, the spool is left whole."""
        with self._locked():
            if not self.path.exists():
                return 0
            rows = self._read()
            for start in range(0, len(rows), batch_size):
                insert(rows[start : start + batch_size])
            with open(self.path, "r+", encoding="utf-8") as handle:
                handle.truncate(0)
                handle.flush()
                os.fsync(handle.fileno())
            return len(rows)

    def _ends_torn(self) -> bool:
        """Whether the file ends in a partial line (a crash mid-append)."""
        with open(self.path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return False
            handle.seek(size - 1)
            return handle.read(1) != b"\n"

    def _read(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        rows = []
        for line in text.split("\n"):
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line from a crash mid-append was never acknowledged.
                continue
        return rows

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
