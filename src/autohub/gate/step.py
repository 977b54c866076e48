"""The ``gate`` step kind: a deploy automation refuses to go on when the gate says NO-GO
(or WARNING, with ``fail_on: warning``).

    steps:
      - id: gate
        gate: {path: ., fail_on: no-go}
        retry: {attempts: 1}
      - id: deploy
        needs: [gate]
        shell: [./deploy.sh]

The step's output is the gate's report; its event is recorded with the run's id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from autohub.engine.actions.base import ActionRequest, ActionResult, failure, timeout_result
from autohub.engine.actions.spec import parse_spec
from autohub.errors import AutohubError, InvalidInput
from autohub.gate.report import GateReport, record
from autohub.gate.runner import run_gate
from autohub.gate.tree import resolve_tree
from autohub.registry.actions import GateAction

if TYPE_CHECKING:
    from autohub.engine.executor import ActionHandler
    from autohub.hub import Hub

logger = logging.getLogger("autohub.gate")
DETECTED_FROM = "gate step"


def gate_step(hub: Hub) -> ActionHandler:
    """The handler of ``gate`` steps for the engine's executor, on ``hub``'s project."""

    async def run(request: ActionRequest) -> ActionResult:
        action = parse_spec(GateAction, "gate", request.spec, validated=request.action)
        if isinstance(action, ActionResult):
            return action
        try:
            tree = resolve_tree(action.path, base=request.cwd, within=request.cwd)
        except InvalidInput as exc:
            return failure(f"gate: {exc.message}", "InvalidInput")
        scope = asyncio.timeout(request.timeout_seconds)
        try:
            async with scope:
                report = await run_gate(tree, hub.config.file.gate, only=action.checks)
        except TimeoutError:
            if not scope.expired():
                raise
            return timeout_result(request.timeout_seconds, " before the gate decided")
        await _record(hub, request, report)
        blocked = report.decision == "NO-GO" or (
            report.decision == "WARNING" and action.fail_on == "warning"
        )
        if not blocked:
            return ActionResult(ok=True, output=report.to_dict())
        kind = "GateNoGo" if report.decision == "NO-GO" else "GateWarning"
        return ActionResult(
            ok=False,
            output=report.to_dict(),
            error=f"gate: {report.summary()}",
            error_type=kind,
            error_types=(kind,),
            final=True,  # the same tree gets the same answer: no retry
        )

    return run


async def _record(hub: Hub, request: ActionRequest, report: GateReport) -> None:
    """The step's ``production_check`` event, in the run's project; a store that fails
    beyond spooling costs the event (logged), not the step's answer."""
    try:
        await asyncio.to_thread(
            record,
            hub.events,
            request.context.project_id or hub.project,
            report,
            detected_from=DETECTED_FROM,
            run_id=request.context.run_id or None,
        )
    except AutohubError as exc:
        logger.error("the production_check event was not recorded: %s", exc.message)
