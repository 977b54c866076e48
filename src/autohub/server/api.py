"""REST API v1: automations, runs and events, each seen only by tokens of its project.

A resource of a project the token does not see answers 404, as if it did not exist.
Triggered runs are executed by the server's run executor (``server/executor.py``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from autohub.errors import NotFound
from autohub.hub import Hub
from autohub.server.auth import Authenticator, chosen_project
from autohub.server.event_query import MAX_EVENT_ID, EventQuery
from autohub.server.hooks import hook_routes
from autohub.server.intake import RunIntake
from autohub.server.stream import EventBroadcaster
from autohub.server.stream_api import stream_routes
from autohub.store.breakers import BreakerState
from autohub.store.runs import RunRecord, RunState
from autohub.store.tokens import ApiToken


class TriggerRun(BaseModel):
    """``POST /v1/runs``."""

    model_config = ConfigDict(extra="forbid")

    automation: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, max_length=200)


class ValidateAutomation(BaseModel):
    """``POST /v1/automations/validate``."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


Grant = Callable[[Request, str], Awaitable[ApiToken]]


def api_router(
    hub: Hub,
    auth: Authenticator,
    broadcaster: EventBroadcaster,
    intake: RunIntake,
    *,
    on_run_created: Callable[[], None],
) -> APIRouter:
    """Every ``/v1`` endpoint; ``on_run_created`` tells the executor there is work."""
    router = APIRouter(prefix="/v1")

    async def grant(request: Request, role: str) -> ApiToken:
        return await run_in_threadpool(auth.check, request, role)

    _automation_routes(router, hub, grant)
    _run_routes(router, hub, auth, grant, on_run_created, intake)
    _event_routes(router, hub, grant)
    _breaker_routes(router, hub, grant)
    _token_routes(router, hub, grant)
    hook_routes(router, hub, auth, intake, on_run_created)
    stream_routes(router, auth, broadcaster)
    return router


def _automation_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    @router.get("/automations", tags=["automations"])
    async def list_automations(request: Request) -> Any:
        """The automations of the token's projects."""
        token = await grant(request, "viewer")
        return [
            _automation(definition, hub)
            for definition in hub.registry
            if _project_of(definition.automation.project, hub) in token.projects
        ]

    @router.post("/automations/validate", tags=["automations"])
    async def validate_automation(request: Request, body: ValidateAutomation) -> Any:
        """Check a definition as the project would load it (its defaults, breakers and
        modules) without adding it: ``valid``, its version, and each problem's path."""
        await grant(request, "viewer")
        from autohub.registry.loader import check_definition

        definition, problems = await run_in_threadpool(
            check_definition, hub.config, hub.registry.breakers, body.definition, "definition"
        )
        return {
            "valid": definition is not None,
            "name": definition.name if definition else body.definition.get("name"),
            "version": definition.version if definition else None,
            "problems": [{"path": p.key or "", "message": p.message} for p in problems],
        }

    @router.get("/automations/{name}", tags=["automations"])
    async def show_automation(request: Request, name: str) -> Any:
        """One automation with its normalised content."""
        token = await grant(request, "viewer")
        definition = _visible_automation(hub, token, name)
        return {**_automation(definition, hub), "content": definition.automation.content()}


def _run_routes(
    router: APIRouter,
    hub: Hub,
    auth: Authenticator,
    grant: Grant,
    on_run_created: Callable[[], None],
    intake: RunIntake,
) -> None:
    @router.get("/runs", tags=["runs"])
    async def list_runs(
        request: Request,
        automation: str | None = None,
        state: Annotated[list[RunState] | None, Query()] = None,
        project: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> Any:
        """Runs, newest first, of one project (default: the token's only project)."""
        token = await grant(request, "viewer")
        chosen = chosen_project(token, project)
        runs = await run_in_threadpool(
            hub.runs.list_runs,
            automation=automation,
            states=state or (),
            project_id=chosen,
            limit=limit,
        )
        return [run.to_dict() for run in runs]

    @router.get("/runs/{run_id}", tags=["runs"])
    async def show_run(request: Request, run_id: str) -> Any:
        """A run with its steps and every attempt."""
        token = await grant(request, "viewer")
        run = await run_in_threadpool(_visible_run, hub, token, run_id)
        steps = await run_in_threadpool(hub.runs.steps, run.id)
        attempts = await run_in_threadpool(hub.runs.attempts, run.id)
        return {
            **run.to_dict(),
            "steps": [step.to_dict() for step in steps],
            "attempts": [attempt.to_dict() for attempt in attempts],
        }

    @router.post("/runs", tags=["runs"], status_code=201)
    async def trigger_run(request: Request, body: TriggerRun) -> Any:
        """Start a run (an operator token); the same idempotency key returns the same run
        (200 instead of 201)."""

        def accept() -> tuple[RunRecord, bool]:  # one trip to the thread pool, not two
            token = auth.check(request, "operator")
            _visible_automation(hub, token, body.automation)
            new = hub.new_run(
                body.automation, body.params, trigger="api", idempotency_key=body.idempotency_key
            )
            return intake.create(new)

        run, created = await run_in_threadpool(accept)
        if created:
            on_run_created()
        return JSONResponse(
            {"run": run.to_dict(), "created": created}, status_code=201 if created else 200
        )

    @router.post("/runs/{run_id}/cancel", tags=["runs"])
    async def cancel_run(request: Request, run_id: str) -> Any:
        """Ask a run to stop (an operator token)."""
        token = await grant(request, "operator")
        run = await run_in_threadpool(_visible_run, hub, token, run_id)
        cancelled = await run_in_threadpool(hub.runs.request_cancel, run.id)
        return cancelled.to_dict()


def _event_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
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


def _breaker_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    """Breakers are declared in the project's autohub.yaml: a token of that project sees
    them."""

    @router.get("/breakers", tags=["breakers"])
    async def list_breakers(request: Request) -> Any:
        """Every breaker the project declares, with its shared state."""
        token = await grant(request, "viewer")
        chosen_project(token, hub.project)
        states = await run_in_threadpool(hub.breakers.all)
        return [
            states.get(name, BreakerState()).summary(name)
            for name in sorted({*hub.registry.breakers, *states})
        ]

    @router.post("/breakers/{name}/reset", tags=["breakers"])
    async def reset_breaker(request: Request, name: str) -> Any:
        """Close a breaker by hand (an operator token); a breaker.closed event is written."""
        token = await grant(request, "operator")
        chosen_project(token, hub.project)
        if name not in hub.registry.breakers:
            raise NotFound(f"no breaker named {name!r}")
        state = await run_in_threadpool(lambda: hub.breakers.reset(name, project_id=hub.project))
        return state.summary(name)


class NewToken(BaseModel):
    """``POST /v1/tokens``."""

    model_config = ConfigDict(extra="forbid")

    role: str
    projects: list[str] = Field(min_length=1)
    expires_in_seconds: float | None = Field(default=None, gt=0)
    name: str | None = None


def _token_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    """Token management (an admin token), within the admin's own projects."""

    @router.get("/tokens", tags=["tokens"])
    async def list_tokens(request: Request, show_all: bool = Query(False, alias="all")) -> Any:
        """Tokens of the admin's projects, without their secrets."""
        token = await grant(request, "admin")
        tokens = await run_in_threadpool(lambda: hub.tokens.list(include_inactive=show_all))
        return [t.to_dict() for t in tokens if set(t.projects) <= set(token.projects)]

    @router.post("/tokens", tags=["tokens"], status_code=201)
    async def create_token(request: Request, body: NewToken) -> Any:
        """A new token and its secret, shown this once."""
        token = await grant(request, "admin")
        for project in body.projects:
            chosen_project(token, project)
        lifetime = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
        created, secret = await run_in_threadpool(
            lambda: hub.tokens.create(body.role, body.projects, expires_in=lifetime, name=body.name)
        )
        return {**created.to_dict(), "secret": secret}

    @router.delete("/tokens/{token_id}", tags=["tokens"])
    async def revoke_token(request: Request, token_id: str) -> Any:
        """Revoke a token at once."""
        token = await grant(request, "admin")
        target = await run_in_threadpool(hub.tokens.get, token_id)
        if not set(target.projects) <= set(token.projects):
            raise NotFound(f"no token with id {token_id!r}")
        revoked = await run_in_threadpool(hub.tokens.revoke, token_id)
        return revoked.to_dict()


def _project_of(project: str | None, hub: Hub) -> str:
    return project or hub.project


def _automation(definition: Any, hub: Hub) -> dict[str, Any]:
    automation = definition.automation
    return {
        "name": definition.name,
        "version": definition.version,
        "project": _project_of(automation.project, hub),
        "description": automation.description,
        "triggers": [trigger.type for trigger in automation.triggers],
        "steps": [step.id for step in automation.steps],
        "source": definition.source,
    }


def _visible_automation(hub: Hub, token: ApiToken, name: str) -> Any:
    definition = hub.registry.definitions.get(name)
    if definition is None or _project_of(definition.automation.project, hub) not in (
        token.projects
    ):
        raise NotFound(f"no automation named {name!r}")
    return definition


def _visible_run(hub: Hub, token: ApiToken, run_id: str) -> Any:
    run = hub.runs.find(run_id)
    if run.project_id not in token.projects:
        raise NotFound(f"no run with id {run_id!r}")
    return run
