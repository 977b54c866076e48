"""The ``celery`` step kind: send a task by name, wait for its result within the step's
timeout.

    steps:
      - id: encode
        celery: {task: tasks.process_video, args: ["{{ params.name }}"], queue: video}
        timeout: 10m
        retry: {attempts: 3, retry_on: {exceptions: [ConnectionError]}}

The step's output is the task's (JSON) result. A task that raises is a failed step whose
``error_types`` hold the remote exception's class names (so ``retry_on`` can match
them); a step timeout revokes the task; an unreachable broker fails within about a
second. Without a step timeout the wait is bounded by ``celery.default_timeout_seconds``
(300 s): a task is never awaited forever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import TYPE_CHECKING, Any

from kombu.exceptions import EncodeError

from autohub.broker.client import CeleryClient, TaskOutcome
from autohub.config import CeleryConfig
from autohub.engine.actions.base import (
    ActionRequest,
    ActionResult,
    NotSerialisable,
    exception_result,
    failure,
    json_safe,
    timeout_result,
    type_names,
)
from autohub.engine.actions.spec import parse_spec
from autohub.errors import SecretsError
from autohub.registry.actions import CeleryAction

if TYPE_CHECKING:
    from autohub.engine.executor import ActionHandler
    from autohub.hub import Hub

logger = logging.getLogger("autohub.broker")

TRACEBACK_MAX_CHARS = 4000
"""The end of a failed task's traceback kept in the step's output."""

CLIENT = "celery-client"
"""The hub resource holding the Celery client."""


def celery_step(hub: Hub) -> ActionHandler:
    """The handler of ``celery`` steps, sending to the app of ``hub``'s ``celery:`` section."""

    async def run(request: ActionRequest) -> ActionResult:
        action = parse_spec(CeleryAction, "celery", request.spec, validated=request.action)
        if isinstance(action, ActionResult):
            return action
        try:
            client = client_of(hub)
        except SecretsError as exc:
            return failure(f"celery: {exc}", "SecretsError")
        return await call(client, action, request.timeout_seconds)

    return run


def client_of(hub: Hub) -> CeleryClient:
    """``hub``'s Celery client, made on first use and closed with the hub."""
    return hub.resource(CLIENT, lambda: CeleryClient(resolved_config(hub)), CeleryClient.close)


def close_client(hub: Hub) -> None:
    """Close ``hub``'s Celery client if it has one (a later step makes a new one)."""
    hub.release(CLIENT)


def resolved_config(hub: Hub) -> CeleryConfig:
    """The ``celery:`` section with its ``${NAME}`` references (passwords) resolved."""
    section = hub.config.file.celery
    secrets = hub.config.secrets
    where = f"{hub.config.path or 'autohub.yaml'}: celery"
    backend = section.result_backend
    return section.model_copy(
        update={
            "broker_url": secrets.resolve(
                section.broker_url, f"{where}.broker_url", url_quote=True
            ),
            "result_backend": (
                secrets.resolve(backend, f"{where}.result_backend", url_quote=True)
                if backend
                else None
            ),
        }
    )


async def call(
    client: CeleryClient, action: CeleryAction, timeout_seconds: float | None
) -> ActionResult:
    """Send ``action``'s task and wait for it, never longer than ``timeout_seconds``."""
    default = client.config.default_timeout_seconds
    limit = default if timeout_seconds is None else timeout_seconds
    note = (
        "" if timeout_seconds is not None else " (no step timeout: celery.default_timeout_seconds)"
    )
    sent: list[str] = []
    abandoned = threading.Event()
    work = functools.partial(
        client.call,
        action.task,
        action.args,
        action.kwargs,
        queue=action.queue,
        wait_seconds=limit,
        sent=sent,
        abandoned=abandoned,
    )
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            outcome = await asyncio.get_running_loop().run_in_executor(client.threads, work)
    except TimeoutError as exc:
        abandoned.set()
        if not scope.expired():  # a socket timeout talking to the broker
            return _unreachable(client, action, exc)
        return await _timed_out(client, action, sent, limit, note)
    except asyncio.CancelledError:
        abandoned.set()
        if sent:
            client.threads.submit(_revoke, client, sent[0])
        raise
    except Exception as exc:  # the broker or the result backend cannot be reached
        abandoned.set()
        return _unreachable(client, action, exc)
    if outcome.state == "WAITING":
        return await _timed_out(client, action, sent, limit, note)
    return _result(action, outcome)


def _unreachable(client: CeleryClient, action: CeleryAction, exc: BaseException) -> ActionResult:
    """A failed send or wait: ``BrokerUnavailable`` (also a ``ConnectionError`` for
    ``retry_on``) unless the message itself could not be encoded."""
    fields = exception_result(exc, prefix=f"celery: task {action.task} via {client.broker}")
    if isinstance(exc, EncodeError | TypeError | ValueError):
        return fields
    return ActionResult(
        ok=False,
        error=fields.error,
        error_type="BrokerUnavailable",
        error_types=("BrokerUnavailable", "ConnectionError", *fields.error_types),
    )


async def _timed_out(
    client: CeleryClient, action: CeleryAction, sent: list[str], limit: float, note: str
) -> ActionResult:
    if not sent:
        return timeout_result(limit, f"{note} before task {action.task} was sent")
    task_id = sent[0]
    await asyncio.get_running_loop().run_in_executor(client.threads, _revoke, client, task_id)
    return timeout_result(
        limit,
        f"{note} waiting for task {action.task} ({task_id}); revoked",
        output={"task_id": task_id},
    )


def _revoke(client: CeleryClient, task_id: str) -> None:
    try:
        client.revoke(task_id)
    except Exception as exc:  # the revoke is a courtesy: the step's result says timed out
        logger.warning("could not revoke celery task %s: %s", task_id, exc)


def _result(action: CeleryAction, outcome: TaskOutcome) -> ActionResult:
    what = f"celery task {action.task} ({outcome.task_id})"
    if outcome.state == "SUCCESS":
        try:
            return ActionResult(ok=True, output=json_safe(outcome.result))
        except NotSerialisable as exc:
            return failure(f"{what}: {exc}", "NotSerialisable")
    details: dict[str, Any] = {"task_id": outcome.task_id, "state": outcome.state}
    if outcome.traceback:
        details["traceback"] = outcome.traceback[-TRACEBACK_MAX_CHARS:]
    if isinstance(outcome.result, BaseException):
        fields = exception_result(outcome.result, prefix=what)
        return ActionResult(
            ok=False,
            output=details,
            error=fields.error,
            error_type=fields.error_type,
            error_types=type_names(type(outcome.result)),
        )
    if outcome.state == "REVOKED":
        return failure(f"{what} was revoked", "TaskRevokedError", output=details)
    return failure(f"{what} ended in state {outcome.state}", "TaskState", output=details)
