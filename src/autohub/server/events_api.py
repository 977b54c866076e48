"""``/v1/events``: query, timeline, correlate, resolve (the live stream is
``stream_api.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool

from autohub.errors import NotFound
from autohub.hub import Hub
from autohub.server.auth import chosen_project
from autohub.server.event_query import MAX_EVENT_ID, EventQuery
from autohub.server.visibility import Grant


def event_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    @router.get("/events", tags=["events"])
    async def query_events(
        request: Request,
        query: Annotated[EventQuery, Depends()],
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        cursor: str | None = None,
    ) -> Any:
        """Events of one project, newest first, a page at a time (``next_cursor``)."""
        token = await grant(request, "viewer")
        where = query.filter(token)
        page = await run_in_threadpool(lambda: hub.events.query(where, limit=limit, cursor=cursor))
        return {"events": [e.to_dict() for e in page.events], "next_cursor": page.next_cursor}

    @router.get("/events/timeline", tags=["events"])
    async def timeline(
        request: Request,
        project: str | None = None,
        hours: Annotated[float, Query(gt=0, le=24 * 366)] = 24,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Any:
        """A project's events over the last ``hours``, oldest first."""
        token = await grant(request, "viewer")
        chosen = chosen_project(token, project)
        events = await run_in_threadpool(lambda: hub.events.timeline(chosen, hours, limit))
        return {"events": [e.to_dict() for e in events]}

    @router.get("/events/correlate", tags=["events"])
    async def correlate(
        request: Request,
        event: Annotated[int | None, Query(ge=1, le=MAX_EVENT_ID)] = None,
        run: str | None = None,
        correlation: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Any:
        """Everything sharing a run or correlation id with an event (or with the given
        ids), oldest first; events of projects the token does not see are left out."""
        token = await grant(request, "viewer")
        if event is not None:
            anchor = await run_in_threadpool(hub.events.get, event)
            if anchor.project_id not in token.projects:
                raise NotFound(f"no event with id {event}")
        events = await run_in_threadpool(
            lambda: hub.events.correlate(
                event_id=event, run_id=run, correlation_id=correlation, limit=limit
            )
        )
        return {"events": [e.to_dict() for e in events if e.project_id in token.projects]}

    @router.post("/events/{event_id}/resolve", tags=["events"])
    async def resolve_event(
        request: Request, event_id: Annotated[int, Path(ge=1, le=MAX_EVENT_ID)]
    ) -> Any:
        """Mark an event resolved (an operator token)."""
        token = await grant(request, "operator")
        event = await run_in_threadpool(hub.events.get, event_id)
        if event.project_id not in token.projects:
            raise NotFound(f"no event with id {event_id}")
        resolved = await run_in_threadpool(hub.events.resolve, event_id)
        return resolved.to_dict()
