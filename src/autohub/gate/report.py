"""What the gate found: one :class:`CheckResult` per check, and the :class:`GateReport`
that is printed (``--json``), answered by the API, returned by the step and recorded as
the ``production_check`` event's evidence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from autohub.store.events import Event, EventStore

CheckStatus = Literal["passed", "failed", "missing", "skipped"]
"""``missing``: nothing to run (only the performance check, which then warns);
``skipped``: disabled in ``gate:`` or not asked for."""
Decision = Literal["GO", "WARNING", "NO-GO"]

EVENT_TYPE = "production_check"
EVENT_STATUS: dict[str, str] = {"GO": "success", "WARNING": "warning", "NO-GO": "failed"}
"""The status of the ``production_check`` event of each decision."""


@dataclass(frozen=True)
class CheckResult:
    """How one check went; ``reason`` is one line, ``evidence`` JSON data."""

    name: str
    status: CheckStatus
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)
    duration_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "duration_seconds": round(self.duration_seconds, 3),
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class GateReport:
    """The gate's answer on one tree."""

    path: str
    decision: Decision
    confidence: int
    checks: tuple[CheckResult, ...]
    checked_at: datetime
    duration_seconds: float

    @property
    def event_status(self) -> str:
        return EVENT_STATUS[self.decision]

    def named(self, status: CheckStatus) -> list[str]:
        return [check.name for check in self.checks if check.status == status]

    def summary(self) -> str:
        """One line: the decision and what led to it."""
        if self.decision == "GO":
            return f"GO (confidence {self.confidence})"
        notes = [
            f"{check.name} {check.status}: {check.reason}"
            for check in self.checks
            if check.status in ("failed", "missing")
        ]
        return f"{self.decision} (confidence {self.confidence}): {'; '.join(notes)}"

    def to_dict(self) -> dict[str, Any]:
        """The evidence structure: the decision, the confidence, and each check's status,
        reason, duration and evidence, in the order the checks run."""
        return {
            "decision": self.decision,
            "confidence": self.confidence,
            "path": self.path,
            "checked_at": self.checked_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "failed": self.named("failed"),
            "missing": self.named("missing"),
            "skipped": self.named("skipped"),
            "checks": {check.name: check.to_dict() for check in self.checks},
        }


def record(
    events: EventStore,
    project_id: str,
    report: GateReport,
    *,
    detected_from: str,
    run_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Event:
    """Record the ``production_check`` event of a report (spooled while the database is
    down: the gate's answer is never lost)."""
    return events.record(
        EVENT_TYPE,
        project_id,
        report.event_status,
        evidence=report.to_dict(),
        metadata={"decision": report.decision, "confidence": report.confidence, **(metadata or {})},
        detected_from=detected_from,
        run_id=run_id,
    )
