"""The server's cron scheduler: fires each automation's cron triggers, once per tick across
every server sharing the store.

Each cron trigger has a row in ``schedules`` holding its next firing. About once a second
the scheduler claims the due rows (a lease in the store, see ``ScheduleStore``), creates
a run for each tick it owes (its idempotency key names the tick, so a tick re-fired
after a crash finds the run already made), records ``schedule.fired``, and moves the
row on to the next tick after now.

Misfires: a tick more than ``misfire_grace_seconds`` late (the server was down, or
stalled) is a misfire. The trigger's ``misfire`` policy says what happens to misfires:
``skip`` drops them, ``run_once`` folds them all into one run. Either way a
``schedule.misfired`` event says how many there were. Ticks within the grace all fire.

A cron trigger that is no longer defined (removed, or changed: a changed trigger is a new
schedule) has its row retired (``schedule.retired``) when the scheduler starts, when its
definitions change, and every minute (a server on older definitions may add it back).
Defined again later, it starts from its next tick; its old row would have owed every tick
since it went away.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from autohub.errors import AutohubError
from autohub.registry.loader import Registry
from autohub.registry.triggers import CronTrigger
from autohub.server.firing import TriggerFirer
from autohub.store.schedules import Schedule, ScheduleStore

logger = logging.getLogger(__name__)

RETIRE_EVERY = 60.0
"""Seconds between two looks for stale schedules when the definitions do not change: a
server still running older definitions (during a deploy) may have added one back."""
MAX_COUNTED_MISFIRES = 10_000
"""Misfires are counted up to this many (a long outage of a per-second schedule would
otherwise take long to count); beyond it the count says "at least"."""


@dataclass(frozen=True)
class Plan:
    """What one claim of a schedule fires, and where the schedule goes next."""

    fire: list[datetime]
    misfired: int
    misfire_count_capped: bool
    first_misfire: datetime | None
    last_misfire: datetime | None
    next_fire_at: datetime


def plan(trigger: CronTrigger, next_fire_at: datetime, now: datetime, grace: float) -> Plan:
    """The ticks to fire for a schedule due at ``next_fire_at``, seen at ``now``."""
    window_start = now - timedelta(seconds=grace)
    first_on_time = next_fire_at
    misfired, capped, first_late, last_late = 0, False, None, None
    if next_fire_at < window_start:  # the ticks before the window are misfires
        first_on_time = trigger.next_after(window_start - timedelta(microseconds=1))
        first_late, last_late = next_fire_at, trigger.previous_before(first_on_time)
        moment = next_fire_at
        while moment < first_on_time:
            misfired += 1
            if misfired == MAX_COUNTED_MISFIRES:
                capped = True
                break
            moment = trigger.next_after(moment)
    fire = []
    moment = first_on_time
    while moment <= now:
        fire.append(moment)
        moment = trigger.next_after(moment)
    if misfired and trigger.misfire == "run_once" and last_late is not None:
        fire.insert(0, last_late)
    return Plan(
        fire=fire,
        misfired=misfired,
        misfire_count_capped=capped,
        first_misfire=first_late,
        last_misfire=last_late,
        next_fire_at=moment,
    )


@dataclass
class Scheduler(TriggerFirer):
    """Fires a project's cron triggers from a background thread."""

    thread_name = "scheduler"
    detected_from = "scheduler"

    lease_seconds: float = 30.0
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    )
    _retired_for: frozenset[tuple[str, str]] | None = field(default=None, init=False)
    """The (automation, trigger key) pairs whose stale schedules were last retired."""
    _retired_at: float | None = field(default=None, init=False)
    _registry: Registry | None = field(default=None, init=False)
    _triggers: list[tuple[str, CronTrigger]] = field(default_factory=list, init=False)

    @property
    def store(self) -> ScheduleStore:
        return self.hub.schedules

    def triggers(self) -> list[tuple[str, CronTrigger]]:
        """The (automation, cron trigger) pairs of the project's registry."""
        return [(d.name, trigger) for d, trigger in self.hub.registry.triggers(CronTrigger)]

    def stop(self) -> None:
        """Stop firing and give up any schedule lease this scheduler holds."""
        super().stop()
        try:
            self.store.release_all(self.owner)
        except AutohubError as exc:
            logger.warning("cannot release schedule leases: %s", exc.message)

    def _pass(self) -> None:
        if self.hub.registry is not self._registry:  # new, changed or gone triggers
            self._registry, self._triggers = self.hub.registry, self.triggers()
        self.tick(self._triggers)

    def tick(self, triggers: list[tuple[str, CronTrigger]] | None = None) -> int:
        """One pass: add missing schedules and fire the due ones; the runs created. It
        reads every schedule in one query and writes only for a new or due one."""
        pairs = triggers if triggers is not None else self.triggers()
        current = frozenset((automation, trigger.key) for automation, trigger in pairs)
        due = self._retired_at is None or time.monotonic() - self._retired_at > RETIRE_EVERY
        if current != self._retired_for or due:
            self._retire_stale(current)
            self._retired_for, self._retired_at = current, time.monotonic()
        if not pairs:
            return 0
        now = self.store.clock()
        stored = {(row.automation, row.trigger_key): row for row in self.store.all()}
        created = 0
        for automation, trigger in pairs:
            row = stored.get((automation, trigger.key))
            if row is None:
                self.store.ensure(
                    automation=automation,
                    trigger_key=trigger.key,
                    project_id=self._project_of(automation),
                    schedule=trigger.schedule,
                    timezone=trigger.timezone,
                    first_fire_at=trigger.next_after(now),
                )
                continue
            leased = row.leased_by is not None and (row.lease_expires_at or now) > now
            if row.next_fire_at > now or leased:
                continue
            claimed = self.store.claim(automation, trigger.key, self.owner, self.lease_seconds)
            if claimed is not None:
                created += self._fire(claimed, trigger)
        if created:
            self.on_fire()
        return created

    def _retire_stale(self, current: frozenset[tuple[str, str]]) -> None:
        """Retire the schedules of this project's cron triggers that are not ``current``
        (those made for one of the projects defined here; another project's schedules in
        a shared store are left alone)."""
        registry = self.hub.registry
        defined = set(registry.definitions)
        projects = {self.hub.project}
        projects |= {d.automation.project for d in registry if d.automation.project}
        for row in self.store.all():
            if (row.automation, row.trigger_key) in current or row.project_id not in projects:
                continue
            if self.store.retire(row.automation, row.trigger_key):
                self._record(
                    "schedule.retired",
                    row.project_id,
                    "success",
                    {
                        "automation": row.automation,
                        "schedule": row.schedule,
                        "timezone": row.timezone,
                        "next_fire_at": row.next_fire_at.isoformat(),
                        "reason": "its cron trigger is no longer defined"
                        if row.automation in defined
                        else "its automation is no longer defined",
                    },
                )

    def _project_of(self, automation: str) -> str:
        definition = self.hub.registry.definitions.get(automation)  # None: reloaded away
        project = definition.automation.project if definition is not None else None
        return project or self.hub.project

    def _fire(self, claimed: Schedule, trigger: CronTrigger) -> int:
        now = self.store.clock()
        grace = self.hub.config.file.server.misfire_grace_seconds
        firing = plan(trigger, claimed.next_fire_at, now, grace)
        if firing.misfired:
            self._record_misfire(claimed, trigger, firing)
        created, last_run = 0, None
        for tick in firing.fire:
            run_id = self._start(claimed, trigger, tick, now)
            if run_id is not None:
                created, last_run = created + 1, run_id
        fired_at = firing.fire[-1] if firing.fire else None
        if not self.store.advance(
            claimed,
            self.owner,
            next_fire_at=firing.next_fire_at,
            fired_at=fired_at,
            run_id=last_run,
        ):
            logger.warning("schedule of %s: lease lost while firing", claimed.automation)
        return created

    def _start(
        self, claimed: Schedule, trigger: CronTrigger, tick: datetime, now: datetime
    ) -> str | None:
        key = f"cron:{trigger.key[:16]}:{tick.isoformat()}"
        evidence = {
            "automation": claimed.automation,
            "schedule": trigger.schedule,
            "timezone": trigger.timezone,
            "scheduled_for": tick.isoformat(),
            "delay_seconds": round((now - tick).total_seconds(), 3),
        }
        try:
            run, created = self.hub.start(
                claimed.automation, trigger.params, trigger="cron", idempotency_key=key
            )
        except AutohubError as exc:  # e.g. the trigger's params no longer validate
            self._record(
                "schedule.failed", claimed.project_id, "failed", {**evidence, "error": exc.message}
            )
            return None
        if not created:
            return None  # this tick's run exists: a scheduler that died made it
        self._record(
            "schedule.fired",
            claimed.project_id,
            "success",
            {**evidence, "run_id": run.id},
            run_id=run.id,
        )
        return run.id

    def _record_misfire(self, claimed: Schedule, trigger: CronTrigger, firing: Plan) -> None:
        self._record(
            "schedule.misfired",
            claimed.project_id,
            "warning",
            {
                "automation": claimed.automation,
                "schedule": trigger.schedule,
                "timezone": trigger.timezone,
                "policy": trigger.misfire,
                "misfired": firing.misfired,
                "at_least": firing.misfire_count_capped,
                "first": firing.first_misfire.isoformat() if firing.first_misfire else None,
                "last": firing.last_misfire.isoformat() if firing.last_misfire else None,
                "fired_once": trigger.misfire == "run_once",
            },
        )
