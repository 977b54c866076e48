"""``/v1/runs``: list, show, trigger (through the run intake), cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from autohub.hub import Hub
from autohub.server.auth import Authenticator, chosen_project
from autohub.server.intake import RunIntake
from autohub.server.visibility import Grant, visible_automation, visible_run
from autohub.store.runs import RunRecord, RunState


class TriggerRun(BaseModel):
    """``POST /v1/runs``."""

    model_config = ConfigDict(extra="forbid")

    automation: str = Field(max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, max_length=200)


def run_routes(
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
        run = await run_in_threadpool(visible_run, hub, token, run_id)
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
            visible_automation(hub, token, body.automation)
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
        run = await run_in_threadpool(visible_run, hub, token, run_id)
        cancelled = await run_in_threadpool(hub.runs.request_cancel, run.id)
        return cancelled.to_dict()
