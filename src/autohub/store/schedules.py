"""Schedules: each cron trigger's next firing, in the store, so that servers sharing one
store fire each tick exactly once.

A scheduler takes a due schedule with ``claim``: one conditional UPDATE that succeeds
for exactly one process (the schedule is due and nobody holds a live lease on it). It
then creates the firing's run, with an idempotency key naming the tick, and moves the
schedule on with ``advance``, which releases the lease. A scheduler that dies between
the two leaves its lease to expire; the next one to claim the schedule creates the same
run again, which the idempotency key turns into the run already created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from autohub.clock import utcnow
from autohub.store.database import Database
from autohub.store.schema import schedules


@dataclass(frozen=True)
class Schedule:
    """One cron trigger's row."""

    automation: str
    trigger_key: str
    project_id: str
    schedule: str
    timezone: str
    next_fire_at: datetime
    last_fire_at: datetime | None
    last_run_id: str | None
    leased_by: str | None
    lease_expires_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "automation": self.automation,
            "trigger_key": self.trigger_key,
            "project_id": self.project_id,
            "schedule": self.schedule,
            "timezone": self.timezone,
            "next_fire_at": self.next_fire_at.isoformat(),
            "last_fire_at": self.last_fire_at.isoformat() if self.last_fire_at else None,
            "last_run_id": self.last_run_id,
        }


@dataclass
class ScheduleStore:
    """The ``schedules`` table."""

    database: Database
    clock: Callable[[], datetime] = utcnow

    def ensure(
        self,
        *,
        automation: str,
        trigger_key: str,
        project_id: str,
        schedule: str,
        timezone: str,
        first_fire_at: datetime,
    ) -> None:
        """Add the schedule, first firing at ``first_fire_at``, unless it exists (then its
        stored next firing stands: a restart neither repeats nor forgets a tick)."""
        row = {
            "automation": automation,
            "trigger_key": trigger_key,
            "project_id": project_id,
            "schedule": schedule,
            "timezone": timezone,
            "next_fire_at": first_fire_at,
            "updated_at": self.clock(),
        }
        try:
            with self.database.begin() as connection:
                connection.execute(self.database.insert_ignoring_duplicates(schedules), [row])
        except IntegrityError:
            pass  # another server added it first
        except SQLAlchemyError as exc:
            raise self.database.translate(exc, f"add the schedule of {automation}") from exc

    def claim(
        self, automation: str, trigger_key: str, owner: str, lease_seconds: float
    ) -> Schedule | None:
        """Take the schedule for ``owner`` if it is due and no live lease holds it; the
        schedule as claimed, or None."""
        now = self.clock()
        table = schedules
        statement = (
            table.update()
            .where(
                table.c.automation == automation,
                table.c.trigger_key == trigger_key,
                table.c.next_fire_at <= now,
                sa.or_(table.c.leased_by.is_(None), table.c.lease_expires_at <= now),
            )
            .values(
                leased_by=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
        )
        action = f"claim the schedule of {automation}"
        try:
            with self.database.begin() as connection:
                if connection.execute(statement).rowcount != 1:
                    return None
                row = (
                    connection.execute(
                        sa.select(table).where(
                            table.c.automation == automation, table.c.trigger_key == trigger_key
                        )
                    )
                    .mappings()
                    .one()
                )
        except SQLAlchemyError as exc:
            raise self.database.translate(exc, action) from exc
        return Schedule(**{k: v for k, v in row.items() if k != "updated_at"})

    def advance(
        self,
        claimed: Schedule,
        owner: str,
        *,
        next_fire_at: datetime,
        fired_at: datetime | None,
        run_id: str | None,
    ) -> bool:
        """Move a claimed schedule on to ``next_fire_at`` and release it; False when the
        lease was lost (another scheduler took the schedule after it expired)."""
        table = schedules
        values: dict[str, Any] = {
            "next_fire_at": next_fire_at,
            "leased_by": None,
            "lease_expires_at": None,
            "updated_at": self.clock(),
        }
        if fired_at is not None:
            values.update(last_fire_at=fired_at, last_run_id=run_id)
        statement = (
            table.update()
            .where(
                table.c.automation == claimed.automation,
                table.c.trigger_key == claimed.trigger_key,
                table.c.leased_by == owner,
                table.c.next_fire_at == claimed.next_fire_at,
            )
            .values(**values)
        )
        try:
            with self.database.begin() as connection:
                return bool(connection.execute(statement).rowcount == 1)
        except SQLAlchemyError as exc:
            raise self.database.translate(
                exc, f"advance the schedule of {claimed.automation}"
            ) from exc

    def release_all(self, owner: str) -> int:
        """Give up every lease ``owner`` holds (on shutdown); how many there were."""
        table = schedules
        statement = (
            table.update()
            .where(table.c.leased_by == owner)
            .values(leased_by=None, lease_expires_at=None, updated_at=self.clock())
        )
        try:
            with self.database.begin() as connection:
                return int(connection.execute(statement).rowcount)
        except SQLAlchemyError as exc:
            raise self.database.translate(exc, "release schedule leases") from exc

    def retire(self, automation: str, trigger_key: str) -> bool:
        """Delete the schedule of a cron trigger that is no longer defined; True for the
        one caller that deleted it. A trigger defined again later starts afresh, from its
        next tick, instead of owing every tick since this row's last one."""
        table = schedules
        statement = table.delete().where(
            table.c.automation == automation, table.c.trigger_key == trigger_key
        )
        try:
            with self.database.begin() as connection:
                return bool(connection.execute(statement).rowcount == 1)
        except SQLAlchemyError as exc:
            raise self.database.translate(exc, f"retire a schedule of {automation}") from exc

    def all(self) -> list[Schedule]:
        rows = self.database.fetch(
            sa.select(schedules).order_by(schedules.c.automation, schedules.c.trigger_key),
            "list schedules",
        )
        return [Schedule(**{k: v for k, v in row.items() if k != "updated_at"}) for row in rows]
