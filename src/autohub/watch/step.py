"""The ``watch`` step kind: an automation hands a text (usually an earlier step's output)
to the action tracker, which updates the matching todo."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from autohub.engine.actions.base import ActionRequest, ActionResult, exception_result
from autohub.engine.actions.spec import parse_spec
from autohub.engine.executor import ActionHandler
from autohub.registry.actions import WatchAction
from autohub.store.todos import parse_ref
from autohub.watch.tracker import Observation

if TYPE_CHECKING:
    from autohub.hub import Hub


def watch_step(hub: Hub) -> ActionHandler:
    """The handler of ``watch`` steps, writing to ``hub``'s store."""

    async def run(request: ActionRequest) -> ActionResult:
        action = parse_spec(WatchAction, "watch", request.spec, validated=request.action)
        if isinstance(action, ActionResult):
            return action
        context = request.context
        try:
            observation = Observation(
                project_id=context.project_id or hub.project,
                tool_name=action.tool,
                text=action.text,
                todo_id=parse_ref(action.todo) if action.todo else None,
                run_id=context.run_id,
                detected_from=f"automation {context.automation}, step {context.step_id}",
            )
            result = await asyncio.to_thread(hub.tracker.observe, observation)
        except Exception as exc:  # a store outage or a bad todo id is the step's failure
            return exception_result(exc, prefix="watch")
        return ActionResult(ok=True, output=result.to_dict())

    return run
