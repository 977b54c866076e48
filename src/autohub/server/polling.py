"""A server part's background pass: a daemon thread that runs ``work`` about every
``poll_seconds`` until stopped, and tells how long ago its last pass began (the
heartbeat ``/ready`` checks)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from autohub.errors import AutohubError

logger = logging.getLogger(__name__)


@dataclass
class PollingThread:
    """Runs ``work`` every ``poll_seconds``, or at once again when it returns True (work
    is left); a failing pass is logged, and the next one comes as usual."""

    name: str
    work: Callable[[], bool | None]
    poll_seconds: float = 1.0
    _pass_at: float | None = field(default=None, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        self._pass_at = time.monotonic()
        self._thread = threading.Thread(target=self._main, name=f"autohub-{self.name}", daemon=True)
        self._thread.start()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def age(self) -> float | None:
        """Seconds since the last pass began; None when the thread is not running."""
        thread, at = self._thread, self._pass_at
        if thread is None or not thread.is_alive() or at is None:
            return None
        return time.monotonic() - at

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _main(self) -> None:
        while not self._stop.is_set():
            self._pass_at = time.monotonic()
            more = False
            try:
                more = self.work() is True
            except AutohubError as exc:
                logger.warning("%s: %s", self.name, exc.message)
            except Exception:
                logger.exception("%s pass failed", self.name)
            if not more:
                self._stop.wait(self.poll_seconds)


class PolledPart:
    """A server part whose ``_pass`` runs in a ``PollingThread`` between ``start`` and
    ``stop``; the subclass names the thread and gives ``poll_seconds``."""

    thread_name: ClassVar[str]
    poll_seconds: float
    _loop: PollingThread | None = None

    def start(self) -> None:
        self._loop = PollingThread(self.thread_name, self._pass, self.poll_seconds)
        self._loop.start()

    def age(self) -> float | None:
        """Seconds since the last pass began (None when not running): ``/ready`` tells a
        stalled part by it."""
        return self._loop.age() if self._loop is not None else None

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()

    @property
    def stopping(self) -> bool:
        return self._loop is not None and self._loop.stopping

    def _pass(self) -> bool | None:
        """One pass; True when work is left for another pass at once."""
        raise NotImplementedError
