"""``/v1/events/stream``: the live event stream as a WebSocket, and as Server-Sent Events
for a plain GET. Same filters and token rules as ``GET /v1/events`` (a viewer token; the
token may also come as ``?access_token=``, since browsers cannot set headers there).

WebSocket messages are JSON text frames: ``{"type": "event", "event": {...}}``, and a
last ``{"type": "dropped", "reason": ...}`` (close code 1013) for a client that fell
behind, or ``{"type": "error", "error": {...}}`` (close code 4000 + HTTP status: 4401,
4403, 4404, 4400) for a refused one. SSE frames are ``event: event`` with the event's
id, and a last ``event: dropped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from autohub.errors import AutohubError, NotFound
from autohub.server.auth import Authenticator, Denied
from autohub.server.event_query import MAX_EVENT_ID, EventQuery
from autohub.server.stream import (
    SEND_TIMEOUT_SECONDS,
    Dropped,
    EventBroadcaster,
    Subscriber,
    event_message,
    sse_frames,
)

SSE_FRAME_SCHEMA = {
    "type": "object",
    "description": "One frame: `event: event` with the event's id and JSON, or a last "
    "`event: dropped` with the reason.",
    "properties": {
        "event": {"type": "string", "enum": ["event", "dropped"]},
        "id": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
DROPPED_CLOSE_CODE = 1013
"""WebSocket "try again later": the client fell behind."""


class EventStreamResponse(Response):
    """A ``text/event-stream`` response that gives up on a client whose socket stays full
    for ``SEND_TIMEOUT_SECONDS`` (it stopped reading) or that has gone."""

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], status_code: int = 200) -> None:
        super().__init__(status_code=status_code, media_type=self.media_type)
        self.frames = frames

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/event-stream; charset=utf-8"),
                    (b"cache-control", b"no-cache"),
                    (b"x-accel-buffering", b"no"),
                ],
            }
        )
        gone = asyncio.create_task(_disconnected(receive))
        try:
            async for frame in self.frames:
                if gone.done():
                    return
                body = {"type": "http.response.body", "body": frame, "more_body": True}
                await asyncio.wait_for(send(body), SEND_TIMEOUT_SECONDS)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            return  # uvicorn closes the connection of an unfinished response
        finally:
            gone.cancel()
            aclose = getattr(self.frames, "aclose", None)
            if aclose is not None:
                await aclose()


def stream_routes(router: APIRouter, auth: Authenticator, broadcaster: EventBroadcaster) -> None:
    @router.websocket("/events/stream")
    async def stream_websocket(
        websocket: WebSocket,
        query: Annotated[EventQuery, Depends()],
        after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
    ) -> None:
        await websocket.accept()
        try:
            token = await run_in_threadpool(auth.check, websocket, "viewer", query_token=True)
            where = query.filter(token)
        except Denied as exc:
            await _refuse(websocket, exc.response.status_code, json.loads(bytes(exc.response.body)))
            return
        except AutohubError as exc:
            status, code = (
                (404, "not_found") if isinstance(exc, NotFound) else (400, "invalid_input")
            )
            await _refuse(websocket, status, {"error": {"code": code, "message": exc.message}})
            return
        subscriber = await broadcaster.subscribe(where, frozenset(token.projects))
        try:
            backlog = await broadcaster.backlog(subscriber, after) if after is not None else []
            await _serve_websocket(websocket, subscriber, backlog)
        finally:
            broadcaster.unsubscribe(subscriber)

    @router.get(
        "/events/stream",
        tags=["events"],
        responses={200: {"content": {"text/event-stream": {"schema": SSE_FRAME_SCHEMA}}}},
    )
    async def stream_events(
        request: Request,
        query: Annotated[EventQuery, Depends()],
        after: Annotated[int | None, Query(ge=0, le=MAX_EVENT_ID)] = None,
        last_event_id: Annotated[str | None, Header(pattern=r"^[0-9]{1,18}$")] = None,
    ) -> Any:
        """Live events as Server-Sent Events (``Last-Event-ID`` or ``after`` replays what
        was missed)."""
        token = await run_in_threadpool(auth.check, request, "viewer", query_token=True)
        where = query.filter(token)
        subscriber = await broadcaster.subscribe(where, frozenset(token.projects))
        resume = int(last_event_id) if last_event_id is not None else after
        try:
            backlog = await broadcaster.backlog(subscriber, resume) if resume is not None else []
        except BaseException:
            broadcaster.unsubscribe(subscriber)
            raise
        return EventStreamResponse(sse_frames(broadcaster, subscriber, backlog))


async def _refuse(websocket: WebSocket, status: int, body: dict[str, Any]) -> None:
    await websocket.send_json({"type": "error", **body})
    await websocket.close(code=4000 + status, reason=body["error"]["message"][:120])


async def _serve_websocket(
    websocket: WebSocket, subscriber: Subscriber, backlog: list[Any]
) -> None:
    async def send() -> None:
        async for item in subscriber.items(backlog):
            if isinstance(item, Dropped):
                with contextlib.suppress(TimeoutError):
                    await _send(websocket, {"type": "dropped", "reason": subscriber.dropped})
                await websocket.close(DROPPED_CLOSE_CODE, (subscriber.dropped or "")[:120])
            elif item is not None:
                await _send(websocket, event_message(item))

    async def receive() -> None:  # notices the client leaving while the stream is idle
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = task.exception()
            if isinstance(error, TimeoutError):  # one send blocked: the client stopped reading
                subscriber.drop(f"too slow: a send blocked for {SEND_TIMEOUT_SECONDS:g} s")
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        websocket.close(DROPPED_CLOSE_CODE, "too slow"), timeout=1
                    )
            elif error is not None and not isinstance(error, WebSocketDisconnect | RuntimeError):
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _send(websocket: WebSocket, message: dict[str, Any]) -> None:
    await asyncio.wait_for(
        websocket.send_text(json.dumps(message, separators=(",", ":"))), SEND_TIMEOUT_SECONDS
    )


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
