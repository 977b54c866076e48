"""``/v1/breakers``: list and reset the project's circuit breakers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from autohub.errors import NotFound
from autohub.hub import Hub
from autohub.server.auth import chosen_project
from autohub.server.visibility import Grant
from autohub.store.breakers import BreakerState


def breaker_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
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
