"""The live event stream: ``/v1/events/stream`` as a WebSocket and as Server-Sent Events.

One broadcaster per server follows the event table (``EventTail``, a few reads a second
while anyone listens) and offers each new event to every subscriber whose filter and
token's projects it matches. A subscriber has a bounded queue: a client that does not
keep up (its queue fills, or one send blocks for ``SEND_TIMEOUT_SECONDS``) is told why
and disconnected, and nobody else waits for it.

A client that reconnects may ask for what it missed: ``Last-Event-ID`` (sent by
browsers' EventSource by itself) or ``?after=<event id>`` replays the matching events
stored after that id, then the stream goes on live.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from autohub.errors import AutohubError
from autohub.hub import Hub
from autohub.store.event_tail import EventTail
from autohub.store.events import Event, EventFilter

logger = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 10.0
"""A single send blocked this long (the client stopped reading) drops the client."""
KEEPALIVE_SECONDS = 15.0
"""An idle SSE stream sends a comment this often (proxies keep it open; a gone client is
noticed)."""
BACKLOG_MAX_EVENTS = 1000


class Dropped:
    """Put in a subscriber's queue when it is dropped."""


DROPPED = Dropped()


@dataclass(eq=False)
class Subscriber:
    """One stream client: its filter, the projects its token sees, and its queue."""

    where: EventFilter
    projects: frozenset[str]
    queue: asyncio.Queue[Event | Dropped]
    dropped: str | None = None

    def wants(self, event: Event) -> bool:
        return event.project_id in self.projects and self.where.matches(event)

    def offer(self, event: Event) -> None:
        """Queue ``event`` if the client wants it; a full queue drops the client."""
        if self.dropped is not None or not self.wants(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.drop(f"too slow: over {self.queue.maxsize} events behind")

    def drop(self, reason: str) -> None:
        self.dropped = reason
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(DROPPED)

    async def items(
        self, backlog: list[Event], idle_seconds: float | None = None
    ) -> AsyncIterator[Event | Dropped | None]:
        """What the client is sent: the backlog, then live events (those the backlog
        already held are not repeated), None after ``idle_seconds`` without one, and a
        last ``DROPPED`` once the client is dropped."""
        sent = {event.id for event in backlog}
        for event in backlog:
            yield event
        while True:
            try:
                item = await asyncio.wait_for(self.queue.get(), idle_seconds)
            except TimeoutError:
                yield None
                continue
            if isinstance(item, Dropped):
                yield item
                return
            if item.id not in sent:
                yield item


@dataclass
class EventBroadcaster:
    """Follows the store and fans new events out to the subscribers."""

    hub: Hub
    poll_seconds: float = 0.25
    queue_events: int = 1000
    subscribers: set[Subscriber] = field(default_factory=set)
    _task: asyncio.Task[None] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _tail: EventTail | None = None
    _joining: asyncio.Lock = field(default_factory=asyncio.Lock)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="autohub-event-stream")

    async def stop(self) -> None:
        for subscriber in list(self.subscribers):
            subscriber.drop("the server is shutting down")
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def subscribe(self, where: EventFilter, projects: frozenset[str]) -> Subscriber:
        """A new subscriber, who gets every matching event stored from now on."""
        subscriber = Subscriber(where, projects, asyncio.Queue(self.queue_events))
        async with self._joining:
            if self._tail is None:  # the first listener: follow the store from here
                self._tail = await asyncio.to_thread(EventTail.from_now, self.hub.events)
            self.subscribers.add(subscriber)
        self._wake.set()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        if not self.subscribers:
            self._tail = None  # nobody listens: no reads until someone does

    async def backlog(self, subscriber: Subscriber, after_id: int) -> list[Event]:
        """The subscriber's events stored after ``after_id`` (for a client catching up)."""
        where = subscriber.where
        events = await asyncio.to_thread(
            self.hub.events.since_id, where, after_id, BACKLOG_MAX_EVENTS
        )
        return [event for event in events if subscriber.wants(event)]

    async def _run(self) -> None:
        while True:
            tail = self._tail
            if tail is None or not self.subscribers:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                events = await asyncio.to_thread(tail.poll, max(10, self.queue_events // 2))
            except AutohubError as exc:
                logger.warning("event stream: %s", exc.message)
                await asyncio.sleep(max(self.poll_seconds, 1.0))
                continue
            for event in events:
                for subscriber in list(self.subscribers):
                    subscriber.offer(event)
            if not events:
                await asyncio.sleep(self.poll_seconds)
            else:
                await asyncio.sleep(0)  # let the senders run between pages


def event_message(event: Event) -> dict[str, Any]:
    return {"type": "event", "event": event.to_dict()}


def sse_frame(kind: str, data: Any, event_id: int | None = None) -> bytes:
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines += [f"event: {kind}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    return ("\n".join(lines) + "\n\n").encode()


async def sse_frames(
    broadcaster: EventBroadcaster, subscriber: Subscriber, backlog: list[Event]
) -> AsyncIterator[bytes]:
    """The SSE body: a retry hint, the backlog, then live events and keep-alives, ending
    with a ``dropped`` event if the client is dropped."""
    try:
        yield b"retry: 3000\n\n"
        async for item in subscriber.items(backlog, KEEPALIVE_SECONDS):
            if item is None:
                yield b": keep-alive\n\n"
            elif isinstance(item, Dropped):
                yield sse_frame("dropped", {"reason": subscriber.dropped})
            else:
                yield sse_frame("event", item.to_dict(), item.id)
    finally:
        broadcaster.unsubscribe(subscriber)
