"""What a token sees: the projects it was made for. A resource of another project is
answered 404, as if it did not exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from autohub.errors import NotFound
from autohub.hub import Hub
from autohub.store.tokens import ApiToken

Grant = Callable[[Request, str], Awaitable[ApiToken]]
"""Checks a request's token for a role (off the event loop) and returns it."""


def project_of(project: str | None, hub: Hub) -> str:
    return project or hub.project


def visible_automation(hub: Hub, token: ApiToken, name: str) -> Any:
    definition = hub.registry.definitions.get(name)
    if definition is None or project_of(definition.automation.project, hub) not in (token.projects):
        raise NotFound(f"no automation named {name!r}")
    return definition


def visible_run(hub: Hub, token: ApiToken, run_id: str) -> Any:
    run = hub.runs.find(run_id)
    if run.project_id not in token.projects:
        raise NotFound(f"no run with id {run_id!r}")
    return run
