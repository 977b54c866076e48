"""One Celery app per hub, configured from the ``celery:`` section to fail fast.

Every call bounds its connection attempts (no kombu retry loops that hang for minutes
when Redis is down), messages are JSON only (never pickle), and the blocking Celery
calls run in a thread pool of the client's own, so the event loop never waits on a
socket.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery import states as celery_states
from celery.exceptions import TimeoutError as CeleryTimeout
from celery.result import AsyncResult
from kombu.utils.url import maybe_sanitize_url

from autohub.config import CeleryConfig

SOCKET_TIMEOUT_SECONDS = 5.0
"""How long one read or write on an open connection may take."""
POLL_INTERVAL_SECONDS = 0.2
"""How often a wait checks whether it was abandoned (cancelled or timed out)."""


class Abandoned(Exception):
    """The caller stopped waiting for the task (step cancelled or timed out)."""


@dataclass(frozen=True)
class TaskOutcome:
    """How a task ended, as read from the result backend."""

    task_id: str
    state: str
    """``SUCCESS``, ``FAILURE``, ``REVOKED``... or ``WAITING`` when the wait ran out."""
    result: Any = None
    """The task's return value, or the remote exception (rebuilt by Celery) on failure."""
    traceback: str | None = None


def celery_settings(config: CeleryConfig) -> dict[str, Any]:
    """The Celery settings of a client app: bounded connections, JSON only, no retries."""
    connect = config.connect_timeout_seconds
    transport_options = {
        "socket_connect_timeout": connect,
        "socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "max_retries": 0,
        "retry_on_timeout": False,
    }
    return {
        "broker_url": config.broker_url,
        "result_backend": config.result_backend or config.broker_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "broker_connection_timeout": connect,
        "broker_connection_retry": False,
        "broker_connection_max_retries": 0,
        "broker_transport_options": transport_options,
        "task_publish_retry": False,
        "task_publish_retry_policy": {"max_retries": 0},
        "result_backend_always_retry": False,
        "result_backend_max_retries": 0,
        "result_backend_transport_options": {"retry_policy": {"max_retries": 0}},
        "redis_socket_connect_timeout": connect,
        "redis_socket_timeout": SOCKET_TIMEOUT_SECONDS,
        "redis_retry_on_timeout": False,
        "redis_backend_health_check_interval": 0,
    }


class CeleryClient:
    """Sends tasks by name and waits for their results; thread-safe, closed once."""

    def __init__(self, config: CeleryConfig, *, max_threads: int = 32) -> None:
        self.config = config
        self.app = Celery("autohub", set_as_current=False)
        self.app.conf.update(celery_settings(config))
        self.threads = ThreadPoolExecutor(
            max_workers=max_threads, thread_name_prefix="autohub-celery"
        )
        self._closed = False

    @property
    def broker(self) -> str:
        """The broker's URL with its password hidden, for messages."""
        return str(maybe_sanitize_url(self.config.broker_url))

    def call(
        self,
        task: str,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        queue: str | None,
        wait_seconds: float,
        sent: list[str],
        abandoned: threading.Event,
    ) -> TaskOutcome:
        """Send ``task`` and wait up to ``wait_seconds`` for its result (blocking).

        The task id goes into ``sent`` as soon as the task is sent (so a caller that
        gives up can revoke it); setting ``abandoned`` ends the wait within
        POLL_INTERVAL_SECONDS with :class:`Abandoned`. Connection errors propagate.
        """
        # Send and wait in one thread: Celery's result backend is thread-local, and the
        # result subscription made when sending is read by the same backend instance.
        result: AsyncResult = self.app.send_task(task, args=args, kwargs=kwargs, queue=queue)
        sent.append(result.id)

        def check() -> None:
            if abandoned.is_set():
                raise Abandoned

        try:
            value = result.get(
                timeout=wait_seconds,
                propagate=False,
                interval=POLL_INTERVAL_SECONDS,
                on_interval=check,
                disable_sync_subtasks=False,
            )
        except CeleryTimeout:
            return TaskOutcome(result.id, "WAITING")
        finally:
            if not result.ready():  # stop listening for a result nobody will read
                remove = getattr(result.backend, "remove_pending_result", None)
                if remove is not None:
                    remove(result)
        state = result.state
        if state == celery_states.SUCCESS:
            return TaskOutcome(result.id, state, value)
        return TaskOutcome(result.id, state, value, result.traceback)

    def revoke(self, task_id: str) -> None:
        """Ask the workers not to run ``task_id`` (a task already running finishes)."""
        self.app.control.revoke(task_id)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.threads.shutdown(wait=False, cancel_futures=True)
        self.app.close()
