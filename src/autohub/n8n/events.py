"""The ``n8n_failure_detected`` event: the evidence of one failed call, recorded with the
run's id as its run and correlation id (``n8n_recovery_attempted`` is recorded by the
engine's fallback chain, from the recovery a failed result asks for)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from autohub.errors import AutohubError
from autohub.n8n.client import CallOutcome
from autohub.n8n.failures import Detected
from autohub.redact import Redactor
from autohub.store.events import EventStore

FAILURE_EVENT = "n8n_failure_detected"
RECOVERY_EVENT = "n8n_recovery_attempted"
SNIPPET_CHARS = 200
FAILURE_EVIDENCE_KEYS = frozenset(
    {
        "task_id",
        "workflow_name",
        "failure_type",
        "status_code",
        "duration_seconds",
        "response_snippet",
        "reason",
        "base_url",
        "webhook_path",
        "started_at",
        "finished_at",
    }
)
"""The evidence of every ``n8n_failure_detected`` event of the step (a contract)."""
logger = logging.getLogger("autohub.n8n")


@dataclass(frozen=True)
class CallSite:
    """Which call: the task, the workflow and its webhook."""

    task_id: str
    workflow_name: str
    base_url: str
    webhook_path: str


def failure_evidence(
    site: CallSite, outcome: CallOutcome, detected: Detected, redactor: Redactor
) -> dict[str, Any]:
    """The evidence of a failed call (a contract: the executions watcher reads these keys)."""
    return {
        "task_id": site.task_id,
        "workflow_name": site.workflow_name,
        "failure_type": detected.failure_type,
        "status_code": outcome.status_code,
        "duration_seconds": round(outcome.duration_seconds, 6),
        "response_snippet": snippet(outcome.body, redactor),
        "reason": detected.reason,
        "base_url": site.base_url,
        "webhook_path": site.webhook_path,
        "started_at": outcome.started_at.isoformat(),
        "finished_at": outcome.finished_at.isoformat(),
    }


def snippet(body: str, redactor: Redactor) -> str:
    """The body redacted, then cut to SNIPPET_CHARS."""
    return redactor.text(body)[:SNIPPET_CHARS]


async def record_failure(
    events: EventStore,
    evidence: dict[str, Any],
    *,
    project_id: str,
    run_id: str | None,
    status: str,
    detected_from: str,
) -> None:
    """Record the failure event off the event loop; the store spools while the database is
    down, and a store that fails beyond that costs the event (logged), not the call."""
    try:
        await asyncio.to_thread(
            events.record,
            FAILURE_EVENT,
            project_id,
            status,
            evidence=evidence,
            run_id=run_id or None,
            correlation_id=run_id or None,
            detected_from=detected_from,
        )
    except AutohubError as exc:
        logger.error("the %s event was not recorded: %s", FAILURE_EVENT, exc.message)
