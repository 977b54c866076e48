"""HTTP steps: one request with httpx; a status outside ``expect_status`` fails the step.

The timeout bounds the whole request twice over: as httpx's connect/read/write/pool
timeout and as an overall ``asyncio.timeout`` (a slow trickle of bytes cannot outlast
it). None means no time limit. Redirects are not followed (httpx's default): expect the
3xx status to accept one. A cancellation cancels the request.

Output: ``{"status": int, "headers": {...}, "json": the body if it is JSON else None,
"text": the body, cut at limits.output_bytes}``; ``headers`` keeps only
:data:`KEPT_HEADERS`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from autohub.engine.actions.base import (
    TIMEOUT_ERROR_TYPES,
    ActionRequest,
    ActionResult,
    error_fields,
    exception_result,
    failure,
    timeout_result,
)
from autohub.engine.actions.spec import parse_spec
from autohub.registry.actions import HttpAction

KEPT_HEADERS = ("content-type", "content-length", "location", "retry-after")


async def run(request: ActionRequest) -> ActionResult:
    """Run an http action."""
    action = parse_spec(HttpAction, "http", request.spec, validated=request.action)
    if isinstance(action, ActionResult):
        return action
    what = f"{action.method} {action.url}"
    timeout = request.timeout_seconds
    scope = asyncio.timeout(timeout)
    try:
        async with (
            scope,
            httpx.AsyncClient(timeout=httpx.Timeout(timeout)) as client,
            client.stream(
                action.method,
                _url(action.url, action.params),
                headers=action.headers,
                json=action.json_body,
            ) as response,
        ):
            body, dropped_bytes = await _read_capped(response, request.limits.output_bytes)
    except TimeoutError:
        if not scope.expired():
            raise
        return timeout_result(timeout, f"; {what} was cancelled")
    except httpx.TimeoutException as exc:
        fields = error_fields(exc, prefix=what)
        fields["error_types"] = _with_timeout_error(fields["error_types"])
        return ActionResult(ok=False, timed_out=True, **fields)
    except Exception as exc:  # httpx errors, and invalid URLs or headers
        return exception_result(exc, prefix=what)

    output = {
        "status": response.status_code,
        "headers": {
            name: response.headers[name] for name in KEPT_HEADERS if name in response.headers
        },
        "json": _json_body(response, body, dropped_bytes),
        "text": _text(response, body, dropped_bytes),
    }
    if response.status_code not in action.expect_status:
        return failure(
            f"{what} answered {response.status_code} {response.reason_phrase}".rstrip()
            + f" (expected {_describe_statuses(action.expect_status)})",
            "HTTPStatus",
            output=output,
            http_status=response.status_code,
        )
    return ActionResult(ok=True, output=output, http_status=response.status_code)


def _url(url: str, params: dict[str, str]) -> httpx.URL:
    # Merged into the URL's own query: httpx's ``params=`` would replace it.
    return httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)


async def _read_capped(response: httpx.Response, limit_bytes: int) -> tuple[bytes, int]:
    """The first ``limit_bytes`` of the body, and how many bytes followed them."""
    head = bytearray()
    dropped = 0
    async for chunk in response.aiter_bytes():
        room = limit_bytes - len(head)
        if room > 0:
            head += chunk[:room]
        dropped += max(0, len(chunk) - max(room, 0))
    return bytes(head), dropped


def _json_body(response: httpx.Response, body: bytes, dropped_bytes: int) -> Any:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if dropped_bytes or not (content_type == "application/json" or content_type.endswith("+json")):
        return None
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except ValueError:
        return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON data")


def _text(response: httpx.Response, body: bytes, dropped_bytes: int) -> str:
    encoding = response.charset_encoding or "utf-8"
    try:
        text = body.decode(encoding, "replace")
    except LookupError:
        text = body.decode("utf-8", "replace")
    return text + (f"…[truncated {dropped_bytes} bytes]" if dropped_bytes else "")


def _with_timeout_error(names: tuple[str, ...]) -> tuple[str, ...]:
    # retry_on: [TimeoutError] matches every timeout, whatever layer noticed it.
    return names + tuple(name for name in TIMEOUT_ERROR_TYPES if name not in names)


def _describe_statuses(statuses: list[int]) -> str:
    """``[200, 201, ..., 299, 304]`` as ``200-299, 304``."""
    ranges: list[list[int]] = []
    for status in sorted(set(statuses)):
        if ranges and status == ranges[-1][1] + 1:
            ranges[-1][1] = status
        else:
            ranges.append([status, status])
    return ", ".join(str(low) if low == high else f"{low}-{high}" for low, high in ranges)
