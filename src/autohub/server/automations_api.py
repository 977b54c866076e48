"""``/v1/automations``: list, show, validate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from autohub.hub import Hub
from autohub.server.visibility import Grant, project_of, visible_automation


class ValidateAutomation(BaseModel):
    """``POST /v1/automations/validate``."""

    model_config = ConfigDict(extra="forbid")

    definition: dict[str, Any]


def automation_routes(router: APIRouter, hub: Hub, grant: Grant) -> None:
    @router.get("/automations", tags=["automations"])
    async def list_automations(request: Request) -> Any:
        """The automations of the token's projects."""
        token = await grant(request, "viewer")
        return [
            _automation(definition, hub)
            for definition in hub.registry
            if project_of(definition.automation.project, hub) in token.projects
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
        definition = visible_automation(hub, token, name)
        return {**_automation(definition, hub), "content": definition.content}


def _automation(definition: Any, hub: Hub) -> dict[str, Any]:
    automation = definition.automation
    return {
        "name": definition.name,
        "version": definition.version,
        "project": project_of(automation.project, hub),
        "description": automation.description,
        "triggers": [trigger.type for trigger in automation.triggers],
        "steps": [step.id for step in automation.steps],
        "source": definition.source,
    }
