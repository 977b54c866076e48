"""REST API v1: every ``/v1`` route, each resource in its own module, each seen only by
tokens of its project (``visibility.py``).

Triggered runs are executed by the server's run executor (``server/executor.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from autohub.hub import Hub
from autohub.server.auth import Authenticator
from autohub.server.automations_api import automation_routes
from autohub.server.breakers_api import breaker_routes
from autohub.server.events_api import event_routes
from autohub.server.gate_api import gate_routes
from autohub.server.hooks import hook_routes
from autohub.server.intake import RunIntake
from autohub.server.runs_api import run_routes
from autohub.server.stream import EventBroadcaster
from autohub.server.stream_api import stream_routes
from autohub.server.todos_api import todo_routes
from autohub.server.tokens_api import token_routes
from autohub.store.tokens import ApiToken


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

    automation_routes(router, hub, grant)
    run_routes(router, hub, auth, grant, on_run_created, intake)
    event_routes(router, hub, grant)
    breaker_routes(router, hub, grant)
    token_routes(router, hub, grant)
    todo_routes(router, hub, grant)
    gate_routes(router, hub, grant)
    hook_routes(router, hub, auth, intake, on_run_created)
    stream_routes(router, auth, broadcaster)
    return router
