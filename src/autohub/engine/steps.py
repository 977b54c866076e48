"""One step attempt under its policies: concurrency lock -> breaker -> timeout -> retry ->
fallback. The outcome says what the runner must record; nothing here writes run state.

A failed result may ask for its fallbacks to be recorded as a recovery: when its output is
a mapping holding ``recovery: {event_type, original_failure, evidence}``, the fallback
chain also records one ``event_type`` event (status success or failed) with the evidence
``original_failure``, ``recovery_method``, ``recovery_duration_seconds`` and ``attempts``
(``{method, success, duration}`` per tier), the run's id as its correlation id. A plug-in
kind (``n8n``) names its recovery events that way without the engine knowing it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from autohub.engine.actions.base import ActionRequest, ActionResult, Limits, failure
from autohub.engine.breaker import breaker_settings
from autohub.engine.context import StepContext
from autohub.engine.executor import Executor
from autohub.engine.locking import LockRequest, acquire_all
from autohub.engine.retry import Failure, next_delay, should_retry
from autohub.engine.templates import (
    RenderError,
    has_templates,
    is_template,
    render,
    unshield,
)
from autohub.errors import SecretsError
from autohub.registry.actions import ActionChoice
from autohub.registry.models import Step
from autohub.registry.policies import BreakerPolicy, Policies
from autohub.secret_values import REFERENCE, Secrets
from autohub.store.breakers import BreakerStore
from autohub.store.locks import LockStore
from autohub.store.runs import NewAttempt


@dataclass
class StepPlan:
    """Everything needed to run one attempt of a step."""

    run_id: str
    automation: str
    project_id: str
    step: Step
    policies: Policies
    attempt: int
    params: Mapping[str, Any]
    outputs: Mapping[str, Any]
    idempotency_key: str | None = None
    lock_holder: str = ""
    """Who holds this step's concurrency leases (unique per runner and step)."""
    inline: bool = False
    """Nothing else runs beside this attempt (``ActionRequest.inline``)."""


@dataclass
class StepOutcome:
    """How the attempt ended: the step's new state and what to record."""

    state: str  # succeeded | failed | timed_out | cancelled | pending (a retry is scheduled)
    method: str
    output: Any = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    attempts: list[NewAttempt] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


CACHED_DEFINITION_PARTS = 4096
"""How many actions (or steps' policies) a long-lived runner keeps derived forms of; the
cache starts again past it (a server whose definitions were reloaded many times)."""


class StepRunner:
    """Runs step attempts through an executor, with the step's policies around them."""

    def __init__(
        self,
        *,
        executor: Executor,
        secrets: Secrets,
        project_root: Path,
        clock: Callable[[], datetime],
        breakers: BreakerStore | None = None,
        breaker_policies: Mapping[str, BreakerPolicy] | None = None,
        locks: LockStore | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.executor = executor
        self.secrets = secrets
        self.project_root = project_root
        self.clock = clock
        self.breakers = breakers
        self.breaker_policies = dict(breaker_policies or {})
        self.locks = locks
        self.environ = environ
        self._static_specs: dict[int, tuple[ActionChoice, str, Mapping[str, Any] | None, Any]] = {}

    async def run(self, plan: StepPlan) -> StepOutcome:
        requests = self._lock_requests(plan)
        if not requests or self.locks is None:
            return await self._attempt_chain(plan)
        holder = plan.lock_holder or f"{plan.run_id}/{plan.step.id}"
        await acquire_all(
            self.locks, requests, holder, project_id=plan.project_id, run_id=plan.run_id
        )
        try:
            return await self._attempt_chain(plan)
        finally:
            for request in requests:
                self.locks.release(request.key, holder)

    async def _attempt_chain(self, plan: StepPlan) -> StepOutcome:
        step, policies = plan.step, plan.policies
        started = self.clock()
        result = await self._guarded(plan, step, policies.timeout)
        finished = self.clock()
        kind = self._static_spec(step)[0]
        outcome = StepOutcome(state="failed", method=kind)
        outcome.attempts.append(_attempt(plan, kind, 0, result, started, finished))
        outcome.events.append(_attempt_event(plan, kind, 0, result, started, finished))
        if result.ok:
            outcome.state, outcome.output = "succeeded", result.output
            return outcome
        failure = Failure(result.error_types, result.exit_code, result.http_status, result.final)
        if should_retry(policies.retry, plan.attempt, failure):
            assert policies.retry is not None
            delay = next_delay(policies.retry, plan.attempt)
            outcome.state = "pending"
            outcome.error = result.error
            outcome.next_attempt_at = finished + timedelta(seconds=delay)
            outcome.events.append(
                _event(
                    plan,
                    "step.retry_scheduled",
                    "pending",
                    {
                        "step": step.id,
                        "attempt": plan.attempt,
                        "next_attempt": plan.attempt + 1,
                        "delay_seconds": round(delay, 3),
                        "next_attempt_at": outcome.next_attempt_at.isoformat(),
                        "error": result.error,
                    },
                )
            )
            return outcome
        if policies.fallback:
            return await self._fallback(plan, result, started, finished, outcome)
        outcome.state = "timed_out" if result.timed_out else "failed"
        outcome.error = result.error
        return outcome

    async def _fallback(
        self,
        plan: StepPlan,
        primary: ActionResult,
        started: datetime,
        finished: datetime,
        outcome: StepOutcome,
    ) -> StepOutcome:
        tried = [_tier_evidence(plan.step.kind, primary, started, finished)]
        for tier_number, tier in enumerate(plan.policies.fallback, start=1):
            method = tier.name or tier.kind
            tier_started = self.clock()
            result = await self._call(plan, tier, tier.timeout or plan.policies.timeout)
            tier_finished = self.clock()
            outcome.attempts.append(
                _attempt(plan, method, tier_number, result, tier_started, tier_finished)
            )
            tried.append(_tier_evidence(method, result, tier_started, tier_finished))
            if result.ok:
                outcome.state, outcome.output, outcome.method = "succeeded", result.output, method
                break
            outcome.error = result.error
        else:
            outcome.state = "failed"
            outcome.error = f"every fallback failed; last: {outcome.error}"
        outcome.events.append(
            _event(
                plan,
                "fallback.used",
                "warning" if outcome.state == "succeeded" else "failed",
                {"step": plan.step.id, "method": outcome.method, "attempts": tried},
            )
        )
        recovery = recovery_request(primary)
        if recovery is not None:
            outcome.events.append(_recovery_event(plan, recovery, outcome, tried[1:]))
        return outcome

    async def _guarded(
        self, plan: StepPlan, choice: ActionChoice, timeout: float | None
    ) -> ActionResult:
        """The primary action, through the step's breaker when it names one."""
        name = plan.policies.breaker
        if name is None or self.breakers is None:
            return await self._call(plan, choice, timeout)
        settings = breaker_settings(self.breaker_policies.get(name, BreakerPolicy()))
        permit = self.breakers.acquire(
            name, settings, project_id=plan.project_id, run_id=plan.run_id
        )
        if not permit.allowed:
            return failure(
                f"breaker {name!r} is open: failing fast "
                f"(retry after {permit.retry_after_seconds:.1f}s)",
                "BreakerOpen",
            )
        result = await self._call(plan, choice, timeout)
        self.breakers.record(
            name,
            settings,
            success=result.ok,
            probe=permit.probe,
            project_id=plan.project_id,
            run_id=plan.run_id,
        )
        return result

    async def _call(
        self, plan: StepPlan, choice: ActionChoice, timeout: float | None
    ) -> ActionResult:
        kind, spec, validated = self._static_spec(choice)
        if kind not in self.executor.kinds:
            return failure(
                f"action kind {kind!r} cannot run yet: this autohub runs "
                f"{', '.join(sorted(self.executor.kinds))}",
                "NotImplementedError",
            )
        if spec is None:
            spec = choice.action.model_dump(by_alias=True)
            try:
                if has_templates(spec):  # rendered values never become secret references
                    rendered = render(spec, template_variables(plan), shielded=True)
                    spec = unshield(self._resolve_secrets(rendered))
                else:
                    spec = self._resolve_secrets(spec)
            except (RenderError, SecretsError) as exc:
                return failure(str(exc), type(exc).__name__)
        limits = plan.policies.limits
        request = ActionRequest(
            kind=kind,
            spec=spec,
            context=StepContext(
                run_id=plan.run_id,
                step_id=plan.step.id,
                automation=plan.automation,
                attempt=plan.attempt,
                params=plan.params,
                outputs=plan.outputs,
                idempotency_key=plan.idempotency_key,
                logger_name=f"autohub.step.{plan.automation}.{plan.step.id}",
                project_id=plan.project_id,
            ),
            timeout_seconds=timeout,
            limits=Limits(
                memory_bytes=limits.memory if limits else None,
                cpu_seconds=limits.cpu_time if limits else None,
                output_bytes=limits.output if limits else 1024 * 1024,
            ),
            cwd=self.project_root,
            environ=self._environ(plan) if _needs_environ(kind, spec) else {},
            action=validated,
            inline=plan.inline,
        )
        return await self.executor.run(request)

    def _static_spec(self, choice: ActionChoice) -> tuple[str, Mapping[str, Any] | None, Any]:
        """The action's kind, and the spec of an action with no template and no secret
        reference, dumped once and shared by every attempt (read-only), with its validated
        model; (kind, None, None) for one that must be rendered for each attempt."""
        cached = self._static_specs.get(id(choice))
        if cached is None or cached[0] is not choice:
            kind = choice.kind
            action = getattr(choice, kind)
            spec = action.model_dump(by_alias=True)
            if _is_static(spec):
                cached = (choice, kind, MappingProxyType(spec), action)
            else:
                cached = (choice, kind, None, None)
            if len(self._static_specs) >= CACHED_DEFINITION_PARTS:  # definitions reloaded
                self._static_specs.clear()
            self._static_specs[id(choice)] = cached
        return cached[1], cached[2], cached[3]

    def _environ(self, plan: StepPlan) -> Mapping[str, str]:
        environ = dict(os.environ if self.environ is None else self.environ)
        environ["AUTOHUB_RUN_ID"] = plan.run_id
        environ["AUTOHUB_STEP_ID"] = plan.step.id
        if plan.idempotency_key:
            environ["AUTOHUB_IDEMPOTENCY_KEY"] = plan.idempotency_key
        return environ

    def _resolve_secrets(self, value: Any) -> Any:
        if isinstance(value, str):
            if REFERENCE.search(value) is None:
                return value
            return self.secrets.resolve(value, "step input")
        if isinstance(value, dict):
            return {key: self._resolve_secrets(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._resolve_secrets(item) for item in value]
        return value

    def _lock_requests(self, plan: StepPlan) -> list[LockRequest]:
        if not plan.policies.concurrency or "concurrency" not in plan.step.model_fields_set:
            return []
        return lock_requests(plan.policies, template_variables(plan))


def _is_static(value: Any) -> bool:
    """Whether no string anywhere in ``value`` (dict keys included) is a template or names
    a secret (``${NAME}``): ``has_templates`` and the reference search in one walk."""
    if isinstance(value, str):
        return not is_template(value) and ("${" not in value or REFERENCE.search(value) is None)
    if isinstance(value, dict):
        return all(_is_static(key) and _is_static(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_is_static(item) for item in value)
    return True


def _needs_environ(kind: str, spec: Mapping[str, Any]) -> bool:
    """Only subprocesses get an environment (a python step in a thread shares ours)."""
    return kind == "shell" or (kind == "python" and spec.get("isolate") == "process")


def lock_requests(policies: Policies, variables: dict[str, Any]) -> list[LockRequest]:
    return [
        LockRequest.from_policy(policy, str(render(policy.key, variables)))
        for policy in policies.concurrency
    ]


def template_variables(plan: StepPlan) -> dict[str, Any]:
    return {
        "params": plan.params,
        "steps": _StepOutputs(plan.outputs),
        "run": {"id": plan.run_id, "automation": plan.automation, "attempt": plan.attempt},
    }


SNIPPET_SOURCE_CHARS = 4000


def _attempt(
    plan: StepPlan,
    method: str,
    tier: int,
    result: ActionResult,
    started: datetime,
    finished: datetime,
) -> NewAttempt:
    outcome = "succeeded" if result.ok else ("timed_out" if result.timed_out else "failed")
    snippet = None
    if result.output is not None:
        # Generous: the store redacts the snippet, then cuts it to its own size.
        snippet = json.dumps(result.output, default=str, ensure_ascii=False)[:SNIPPET_SOURCE_CHARS]
    return NewAttempt(
        step_id=plan.step.id,
        number=plan.attempt,
        method=method,
        tier=tier,
        outcome=outcome,
        started_at=started,
        finished_at=finished,
        error=result.error,
        output_snippet=snippet,
    )


def _attempt_event(
    plan: StepPlan,
    method: str,
    tier: int,
    result: ActionResult,
    started: datetime,
    finished: datetime,
) -> dict[str, Any]:
    evidence: dict[str, Any] = {
        "step": plan.step.id,
        "attempt": plan.attempt,
        "method": method,
        "tier": tier,
        "success": result.ok,
        "duration_seconds": round((finished - started).total_seconds(), 6),
    }
    if not result.ok:
        evidence.update(error=result.error, error_type=result.error_type)
        if result.exit_code is not None:
            evidence["exit_code"] = result.exit_code
        if result.http_status is not None:
            evidence["http_status"] = result.http_status
    status = "success" if result.ok else "failed"
    return _event(plan, "step.attempt", status, evidence)


def _tier_evidence(
    method: str, result: ActionResult, started: datetime, finished: datetime
) -> dict[str, Any]:
    return {
        "method": method,
        "success": result.ok,
        "duration_seconds": round((finished - started).total_seconds(), 6),
        "error": result.error,
    }


RECOVERY_KEY = "recovery"
"""The key of a failed result's output that asks for a recovery event (see the module doc)."""


def recovery_request(result: ActionResult) -> dict[str, Any] | None:
    """The recovery a failed result asks to be recorded, if it names an event type."""
    output = result.output
    if result.ok or not isinstance(output, Mapping):
        return None
    recovery = output.get(RECOVERY_KEY)
    if not isinstance(recovery, Mapping) or not isinstance(recovery.get("event_type"), str):
        return None
    return dict(recovery)


def _recovery_event(
    plan: StepPlan,
    recovery: Mapping[str, Any],
    outcome: StepOutcome,
    tiers: list[dict[str, Any]],
) -> dict[str, Any]:
    succeeded = outcome.state == "succeeded"
    extra = recovery.get("evidence")
    evidence: dict[str, Any] = {
        **(dict(extra) if isinstance(extra, Mapping) else {}),
        "step": plan.step.id,
        "original_failure": recovery.get("original_failure"),
        "recovery_method": outcome.method if succeeded else None,
        "recovery_duration_seconds": round(sum(t["duration_seconds"] for t in tiers), 6),
        "attempts": [
            {"method": t["method"], "success": t["success"], "duration": t["duration_seconds"]}
            for t in tiers
        ],
    }
    event = _event(plan, recovery["event_type"], "success" if succeeded else "failed", evidence)
    event["correlation_id"] = plan.run_id
    return event


def _event(
    plan: StepPlan, event_type: str, status: str, evidence: dict[str, Any]
) -> dict[str, Any]:
    return {
        "event_type": event_type,
        "project_id": plan.project_id,
        "status": status,
        "run_id": plan.run_id,
        "detected_from": "engine",
        "evidence": {"automation": plan.automation, **evidence},
    }


class _StepOutputs(Mapping[str, Any]):
    """``steps.<id>.output`` in templates, without copying every output for every step."""

    def __init__(self, outputs: Mapping[str, Any]) -> None:
        self._outputs = outputs

    def __getitem__(self, step_id: str) -> dict[str, Any]:
        return {"output": self._outputs[step_id]}

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)
