"""``/v1/gate``: run the production-readiness gate on the project's tree, and list the
``production_check`` events.

The gate runs on the server's project root, or a directory inside it: a path that leads
out (``..``, an absolute path, a symbolic link) is refused. Its commands are
subprocesses awaited on the event loop and its file scan runs in a thread; one gate run
at a time per server (later requests wait their turn).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from autohub.gate.report import EVENT_TYPE, record
from autohub.gate.runner import run_gate
from autohub.gate.tree import resolve_tree
from autohub.hub import Hub
from autohub.registry.actions import GateCheckName
from autohub.server.auth import chosen_project
from autohub.server.visibility import Grant
from autohub.store.events import EventFilter

DETECTED_FROM = "api"


class GateCheck(BaseModel):
    """``POST /v1/gate/check``."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(default=".", max_length=1000, description="Inside the project root.")
    checks: list[GateCheckName] | None = Field(default=None, min_length=1)


def gate_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    one_at_a_time = asyncio.Lock()
    root = hub.config.root

    @router.post("/gate/check", tags=["gate"])
    async def check(request: Request, body: GateCheck | None = None) -> Any:
        """Run the gate (an operator token of the server's project); 200 with the report
        (as its ``production_check`` event stores it) and the event's id, whatever the
        decision."""
        body = body or GateCheck()
        token = await grant(request, "operator")
        chosen_project(token, hub.project)  # another project's token: 404
        tree = await run_in_threadpool(resolve_tree, body.path, base=root, within=root)
        async with one_at_a_time:
            report = await run_gate(tree, hub.config.file.gate, only=body.checks)
        event = await run_in_threadpool(
            record,
            hub.events,
            hub.project,
            report,
            detected_from=DETECTED_FROM,
            metadata={"token": token.id},
        )
        # The report as stored: redacted (a failing test's output may show a secret).
        return {"report": event.evidence, "event_id": event.id}

    @router.get("/gate/checks", tags=["gate"])
    async def list_checks(
        request: Request,
        project: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 20,
        cursor: str | None = None,
    ) -> Any:
        """The ``production_check`` events of one project (default: the token's only
        one), newest first, a page at a time (``next_cursor``)."""
        token = await grant(request, "viewer")
        where = EventFilter(event_types=[EVENT_TYPE], project_id=chosen_project(token, project))
        page = await run_in_threadpool(lambda: hub.events.query(where, limit=limit, cursor=cursor))
        return {"checks": [e.to_dict() for e in page.events], "next_cursor": page.next_cursor}
