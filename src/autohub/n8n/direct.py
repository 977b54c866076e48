"""Calling a configured workflow directly, outside a durable run (``autohub n8n call``).

The call is the same step an automation runs (failure detection, the instance's breaker,
the workflow's fallback chain, retries by the project's defaults) but it creates no run,
so it works with the database down: its events wait in the spool (the seed's isolation
rule) and are recorded when the database is back. The call's correlation id ties the
failure, the recovery and the fallback events together.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from autohub.clock import utcnow
from autohub.engine.executor import LocalExecutor
from autohub.engine.steps import StepOutcome, StepPlan, StepRunner
from autohub.errors import InvalidInput
from autohub.ids import new_id
from autohub.registry.loader import check_definition

if TYPE_CHECKING:
    from autohub.hub import Hub
    from autohub.registry.models import Automation

CALLER = "n8n-call"
"""The automation name the direct call's events carry."""


@dataclass(frozen=True)
class DirectCall:
    outcome: StepOutcome
    correlation_id: str
    attempts: int


def call_workflow(hub: Hub, workflow: str, payload: Any = None) -> DirectCall:
    """Call ``workflow`` of ``n8n.workflows`` (with its recovery chain) and record its
    events (spooled while the database is down); InvalidInput for an unknown workflow."""
    action: dict[str, Any] = {"workflow": workflow}
    if payload is not None:
        action["payload"] = payload
    data = {"name": CALLER, "steps": [{"id": "call", "n8n": action}]}
    definition, problems = check_definition(
        hub.config, hub.registry.breakers, data, "autohub n8n call"
    )
    if definition is None:
        raise InvalidInput("; ".join(problem.message for problem in problems))
    correlation_id = new_id()
    runner = step_runner(hub)
    plan = first_attempt(hub, definition.automation, correlation_id)
    try:
        outcome = asyncio.run(_until_done(runner, plan))
    finally:
        runner.executor.close()
    hub.events.add_many([{**event, "correlation_id": correlation_id} for event in outcome.events])
    return DirectCall(outcome, correlation_id, plan.attempt)


def step_runner(hub: Hub) -> StepRunner:
    """A step runner of ``hub`` that takes no locks (it works with the database down);
    the caller closes its executor."""
    return StepRunner(
        executor=LocalExecutor(plugins=hub.action_plugins()),
        secrets=hub.config.secrets,
        project_root=hub.config.root,
        clock=utcnow,
        breakers=hub.breakers,
        breaker_policies=hub.registry.breakers,
    )


def first_attempt(hub: Hub, automation: Automation, run_id: str) -> StepPlan:
    """The plan of the first attempt of ``automation``'s first step, outside a run."""
    step = automation.steps[0]
    return StepPlan(
        run_id=run_id,
        automation=automation.name,
        project_id=hub.project,
        step=step,
        policies=hub.registry.policies(automation, step),
        attempt=1,
        params={},
        outputs={},
    )


async def _until_done(runner: StepRunner, plan: StepPlan) -> StepOutcome:
    """Attempts until the step ends (a scheduled retry waits for its time)."""
    events: list[dict[str, Any]] = []
    while True:
        outcome = await runner.run(plan)
        events += outcome.events
        if outcome.state != "pending" or outcome.next_attempt_at is None:
            outcome.events = events
            return outcome
        await asyncio.sleep(max(0.0, (outcome.next_attempt_at - utcnow()).total_seconds()))
        plan.attempt += 1
