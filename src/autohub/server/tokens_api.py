"""``/v1/tokens``: token management for admins, within their own projects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from autohub.errors import NotFound
from autohub.hub import Hub
from autohub.server.auth import chosen_project
from autohub.server.visibility import Grant


class NewToken(BaseModel):
    """``POST /v1/tokens``."""

    model_config = ConfigDict(extra="forbid")

    role: str
    projects: list[str] = Field(min_length=1)
    expires_in_seconds: float | None = Field(default=None, gt=0)
    name: str | None = None


def token_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
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
