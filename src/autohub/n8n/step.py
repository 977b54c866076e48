"""The ``n8n`` step kind: call a workflow's production webhook through the instance's
breaker, classify the outcome, record a failure, and hand failures to the engine's
fallback chain (recorded as ``n8n_recovery_attempted``).

    n8n:
      workflows:
        video-assembly:
          path: video-assembly
          fallback: [{http: {method: POST, url: "http://tasks/process_video"}}]
    automations:
      render:
        steps:
          - id: assemble
            n8n: {workflow: video-assembly, payload: {job: "{{ params.job }}"}}

The step's output is the JSON n8n returned (its text when not JSON).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import httpx

from autohub.engine.actions.base import (
    TIMEOUT_ERROR_TYPES,
    ActionRequest,
    ActionResult,
    failure,
)
from autohub.engine.actions.spec import parse_spec
from autohub.engine.steps import RECOVERY_KEY
from autohub.errors import SecretsError
from autohub.n8n.breaker import InstanceBreaker, breaker_name, breaker_settings, instance_down
from autohub.n8n.client import CallOutcome, Webhook, call
from autohub.n8n.events import (
    RECOVERY_EVENT,
    CallSite,
    failure_evidence,
    record_failure,
)
from autohub.n8n.failures import Detected, classify
from autohub.registry.actions import N8nAction

if TYPE_CHECKING:
    from autohub.engine.executor import ActionHandler
    from autohub.hub import Hub

BREAKER_OPEN = "breaker_open"
"""The ``original_failure`` of a recovery whose call was not made: the breaker was open."""


def n8n_step(hub: Hub) -> ActionHandler:
    """The handler of ``n8n`` steps, with ``hub``'s configuration, breakers and events."""
    clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}
    settings = breaker_settings(hub.config.file.n8n.breaker)  # validated once, not per call

    def client() -> httpx.AsyncClient:
        """One pooled client per event loop (a client cannot outlive its loop)."""
        loop = asyncio.get_running_loop()
        known = clients.get(id(loop))
        if known is None or known[0] is not loop:
            known = clients[id(loop)] = (loop, httpx.AsyncClient())
        return known[1]

    async def run(request: ActionRequest) -> ActionResult:
        action = parse_spec(N8nAction, "n8n", request.spec, validated=request.action)
        if isinstance(action, ActionResult):
            return action
        target = _target(hub, action, request)
        if isinstance(target, ActionResult):
            return target
        webhook, site = target
        context = request.context
        project_id = context.project_id or hub.project
        run_id = context.run_id or None
        breaker = InstanceBreaker(
            hub.breakers,
            breaker_name(webhook.base_url),
            settings,
            project_id=project_id,
            run_id=run_id,
        )
        permit = await breaker.acquire()
        if permit is not None and not permit.allowed:
            return _breaker_open(site, breaker.name, permit.retry_after_seconds)
        outcome = await call(client(), webhook, action.payload, request.timeout_seconds)
        await breaker.record(permit, success=not instance_down(outcome.status_code))
        detected = classify(
            status_code=outcome.status_code,
            body=outcome.body,
            duration_seconds=outcome.duration_seconds,
            slow_call_seconds=hub.config.file.n8n.slow_call_seconds,
            error=outcome.error,
            timed_out=outcome.timed_out,
        )
        succeeded = outcome.status_code is not None and 200 <= outcome.status_code < 300
        if detected is not None:
            evidence = failure_evidence(site, outcome, detected, hub.events.redactor)
            await record_failure(
                hub.events,
                evidence,
                project_id=project_id,
                run_id=run_id,
                status="warning" if succeeded else "failed",
                detected_from=f"n8n step {context.automation}.{context.step_id}",
            )
            if not succeeded:
                return _failed(site, outcome, detected, evidence)
        output = outcome.json_body if outcome.is_json else outcome.body
        return ActionResult(ok=True, output=output, http_status=outcome.status_code)

    return run


def _target(
    hub: Hub, action: N8nAction, request: ActionRequest
) -> tuple[Webhook, CallSite] | ActionResult:
    """The webhook to call: the step's fields over its workflow's over ``n8n:``'s."""
    settings = hub.config.file.n8n
    workflow = None
    if action.workflow is not None:
        workflow = settings.workflows.get(action.workflow)
        if workflow is None:
            known = ", ".join(sorted(settings.workflows)) or "none"
            return failure(
                f"n8n: unknown workflow {action.workflow!r}: declare it under "
                f"n8n.workflows: (known: {known})",
                "InvalidAction",
            )
    path = action.path or (workflow.path if workflow else None)
    if path is None:  # the model requires a workflow or a path
        return failure("n8n: give a workflow or a webhook path", "InvalidAction")
    base_url = action.base_url or (workflow.base_url if workflow else None) or settings.base_url
    method = action.method or (workflow.method if workflow else "POST")
    headers: list[tuple[str, str]] = []
    header, value = action.auth_header, action.auth_value
    if header is None and workflow is not None and workflow.auth_header is not None:
        header = workflow.auth_header
        try:
            value = hub.config.secrets.resolve(
                workflow.auth_token or "", f"n8n.workflows.{action.workflow}.auth_token"
            )
        except SecretsError as exc:
            return failure(f"n8n: {exc.message}", "SecretsError")
    if header is not None and value is not None:
        headers.append((header, value))
    context = request.context
    task_id = context.idempotency_key or f"{context.run_id}:{context.step_id}"
    site = CallSite(
        task_id=task_id,
        workflow_name=action.workflow or path,
        base_url=base_url,
        webhook_path=path,
    )
    return Webhook(base_url, path, method, tuple(headers)), site


def _failed(
    site: CallSite, outcome: CallOutcome, detected: Detected, evidence: dict[str, Any]
) -> ActionResult:
    types: tuple[str, ...] = ("N8nFailure", detected.failure_type)
    if outcome.timed_out:
        types += TIMEOUT_ERROR_TYPES
    return ActionResult(
        ok=False,
        output={"failure": evidence, RECOVERY_KEY: _recovery(site, detected.failure_type)},
        error=f"n8n {site.workflow_name}: {detected.failure_type}: {detected.reason}",
        error_type="N8nFailure",
        error_types=types,
        http_status=outcome.status_code,
        timed_out=outcome.timed_out,
    )


def _breaker_open(site: CallSite, name: str, retry_after_seconds: float) -> ActionResult:
    return failure(
        f"n8n {site.workflow_name}: breaker {name!r} is open: failing fast "
        f"(retry after {retry_after_seconds:.1f}s)",
        "BreakerOpen",
        output={RECOVERY_KEY: _recovery(site, BREAKER_OPEN, breaker=name)},
    )


def _recovery(site: CallSite, original_failure: str, **more: Any) -> dict[str, Any]:
    """What the engine records if a fallback chain runs after this failure."""
    return {
        "event_type": RECOVERY_EVENT,
        "original_failure": original_failure,
        "evidence": {
            "task_id": site.task_id,
            "workflow_name": site.workflow_name,
            "base_url": site.base_url,
            "webhook_path": site.webhook_path,
            **more,
        },
    }
