"""One call of a workflow's production webhook with httpx, measured; never raises for a
failed call (the outcome says what happened)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from autohub.clock import utcnow

DEFAULT_TIMEOUT_SECONDS = 120.0
"""The client-side timeout of a call whose step gives none."""
MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Webhook:
    """Where and how to call: ``<base_url>/webhook/<path>``."""

    base_url: str
    path: str
    method: str = "POST"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/webhook/{self.path.lstrip('/')}"


@dataclass(frozen=True)
class CallOutcome:
    """What a call got: a status and body, or the error that stopped it."""

    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    status_code: int | None = None
    body: str = ""
    json_body: Any = None
    is_json: bool = False
    error: BaseException | None = None
    timed_out: bool = False


async def call(
    client: httpx.AsyncClient,
    webhook: Webhook,
    payload: Any,
    timeout_seconds: float | None,
) -> CallOutcome:
    """Call ``webhook`` with ``payload`` as its JSON body (none when None)."""
    timeout = timeout_seconds if timeout_seconds is not None else DEFAULT_TIMEOUT_SECONDS
    started_at, started = utcnow(), time.monotonic()
    content = None if payload is None else json.dumps(payload, default=str).encode()
    headers = dict(webhook.headers)
    if content is not None:
        headers.setdefault("Content-Type", "application/json")
    try:
        async with asyncio.timeout(timeout):
            response = await client.request(
                webhook.method,
                webhook.url,
                content=content,
                headers=headers,
                timeout=httpx.Timeout(timeout),
            )
    except (TimeoutError, httpx.TimeoutException) as exc:
        return _ended(started_at, started, error=exc, timed_out=True)
    except (httpx.HTTPError, OSError, ValueError) as exc:  # refused, reset, a bad URL
        return _ended(started_at, started, error=exc)
    text = response.content[:MAX_BODY_BYTES].decode(response.encoding or "utf-8", "replace")
    parsed, is_json = _json(text)
    return _ended(
        started_at,
        started,
        status_code=response.status_code,
        body=text,
        json_body=parsed,
        is_json=is_json,
    )


def _ended(started_at: datetime, started: float, **fields: Any) -> CallOutcome:
    duration = time.monotonic() - started
    return CallOutcome(
        started_at=started_at, finished_at=utcnow(), duration_seconds=duration, **fields
    )


def _json(text: str) -> tuple[Any, bool]:
    """The body as JSON when it is JSON (n8n's 403 is plain text)."""
    try:
        return json.loads(text), True
    except ValueError:
        return None, False
