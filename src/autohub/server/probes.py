"""What the seed endpoints report: liveness, readiness and the status document.

Readiness reflects progress, not only that the process is up: the store must answer,
its schema must be current, and no more runs than allowed may be stuck (running, with a
lease that expired long ago: nobody is advancing them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from autohub.errors import AutohubError
from autohub.hub import Hub
from autohub.server.event_triggers import EventTriggers
from autohub.server.executor import RunExecutor
from autohub.server.scheduler import Scheduler
from autohub.store import migrations
from autohub.store.breakers import CLOSED, BreakerState
from autohub.store.schema import runs, step_attempts


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Probes:
    """The server's view of itself and its store."""

    hub: Hub
    started_at: datetime
    executor: RunExecutor | None = None
    scheduler: Scheduler | None = None
    event_triggers: EventTriggers | None = None
    started_monotonic: float = field(default_factory=time.monotonic)

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    def readiness(self) -> list[Check]:
        """Every readiness check; the server is ready when all pass."""
        try:
            self.hub.database.ping()
        except AutohubError as exc:
            return [Check("store", False, exc.message)]
        checks = [Check("store", True, self.hub.database.display_url)]
        try:
            self.hub.require_schema()
            checks.append(Check("migrations", True, f"at revision {migrations.HEAD}"))
        except AutohubError as exc:
            return [*checks, Check("migrations", False, exc.message)]
        if self.executor is not None:
            checks.append(_heartbeat("executor", self.executor.age(), self.executor.poll_seconds))
        if self.scheduler is not None:
            checks.append(
                _heartbeat("scheduler", self.scheduler.age(), self.scheduler.poll_seconds)
            )
        if self.event_triggers is not None:
            triggers = self.event_triggers
            checks.append(_heartbeat("event_triggers", triggers.age(), triggers.poll_seconds))
        settings = self.hub.config.file.server
        stuck = self.stuck_runs()
        checks.append(
            Check(
                "runs",
                stuck <= settings.max_stuck_runs,
                f"{stuck} stuck (running, lease expired over "
                f"{settings.stuck_run_seconds:g} s ago); at most {settings.max_stuck_runs}",
            )
        )
        return checks

    def stuck_runs(self) -> int:
        settings = self.hub.config.file.server
        limit = self.hub.runs.clock() - timedelta(seconds=settings.stuck_run_seconds)
        statement = (
            sa.select(sa.func.count().label("n"))
            .select_from(runs)
            .where(runs.c.state == "running", runs.c.lease_expires_at < limit)
        )
        return int(self.hub.database.fetch(statement, "count stuck runs")[0]["n"])

    def status(self) -> dict[str, Any]:
        """The seed's status document: healthy, degraded or failed, and why."""
        checks = self.readiness()
        breakers: dict[str, BreakerState] = {}
        counts: dict[str, int] = {}
        stages: list[dict[str, Any]] = []
        if readable(checks):
            breakers = self.hub.breakers.all()
            counts = self.run_counts()
            stages = self.stages()
        return {
            "status": status_of(checks, breakers),
            "started_at": self.started_at.isoformat(),
            "uptime_seconds": round(self.uptime_seconds, 3),
            "execution_count": sum(counts.values()),
            "runs_by_state": counts,
            "checks": [check.__dict__ for check in checks],
            "stages": stages,
            "open_breakers": [
                state.summary(name) for name, state in breakers.items() if state.state != CLOSED
            ],
        }

    def run_counts(self) -> dict[str, int]:
        statement = sa.select(runs.c.state, sa.func.count().label("n")).group_by(runs.c.state)
        return {
            row["state"]: int(row["n"]) for row in self.hub.database.fetch(statement, "count runs")
        }

    def stages(self) -> list[dict[str, Any]]:
        """Per automation step: attempts that succeeded, and retries (attempts after the
        first), over every recorded run."""
        statement = (
            sa.select(
                runs.c.automation,
                step_attempts.c.step_id,
                sa.func.sum(sa.case((step_attempts.c.outcome == "succeeded", 1), else_=0)).label(
                    "succeeded"
                ),
                sa.func.sum(sa.case((step_attempts.c.number > 1, 1), else_=0)).label("retries"),
                sa.func.count().label("attempts"),
            )
            .select_from(step_attempts.join(runs, runs.c.id == step_attempts.c.run_id))
            .group_by(runs.c.automation, step_attempts.c.step_id)
            .order_by(runs.c.automation, step_attempts.c.step_id)
        )
        return [
            {
                "automation": row["automation"],
                "stage": row["step_id"],
                "succeeded": int(row["succeeded"] or 0),
                "retries": int(row["retries"] or 0),
                "attempts": int(row["attempts"]),
            }
            for row in self.hub.database.fetch(statement, "read stages")
        ]


def _heartbeat(name: str, age: float | None, poll_seconds: float) -> Check:
    """A background loop's check: it must have made a pass recently."""
    stalled_after = 3 * poll_seconds + 10
    if age is None:
        return Check(name, False, "not running")
    return Check(
        name, age <= stalled_after, f"last pass {age:.1f} s ago (stalled after {stalled_after:g} s)"
    )


def readable(checks: list[Check]) -> bool:
    """Whether the store can be read: it answers and its schema is current."""
    return all(check.ok for check in checks if check.name in ("store", "migrations"))


def status_of(checks: list[Check], breakers: dict[str, BreakerState]) -> str:
    """failed when a readiness check fails, degraded while a breaker is not closed."""
    if not all(check.ok for check in checks):
        return "failed"
    return "degraded" if any(s.state != CLOSED for s in breakers.values()) else "healthy"
