"""Triggers: what starts a run (manual, cron, webhook, event)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from autohub.registry.actions import Strict
from autohub.store.event_rows import EventStatus


class ManualTrigger(Strict):
    type: Literal["manual"] = "manual"


class CronTrigger(Strict):
    """Fire on a cron schedule in a timezone; missed firings are skipped or run once."""

    type: Literal["cron"] = "cron"
    schedule: str
    timezone: str = "UTC"
    misfire: Literal["skip", "run_once"] = "skip"
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(schedule):
            raise ValueError(f"invalid cron expression {schedule!r}")
        return schedule

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {name!r}") from exc
        return name

    @property
    def key(self) -> str:
        """Names this trigger in the ``schedules`` table: changing the trigger (schedule,
        timezone, misfire policy or params) makes it a new schedule."""
        return _key(self)

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after ``moment`` (aware), in UTC."""
        return self._step(moment, forward=True)

    def previous_before(self, moment: datetime) -> datetime:
        """The last firing strictly before ``moment`` (aware), in UTC."""
        return self._step(moment, forward=False)

    def _step(self, moment: datetime, *, forward: bool) -> datetime:
        from croniter import croniter

        schedule = croniter(self.schedule, moment.astimezone(ZoneInfo(self.timezone)))
        fire: datetime = schedule.get_next(datetime) if forward else schedule.get_prev(datetime)
        return fire.astimezone(UTC)


class _MapsParams(Strict):
    """A trigger whose ``params`` maps each param to a dotted path in a JSON document."""

    params: dict[str, str] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _paths(cls, params: dict[str, str]) -> dict[str, str]:
        for name, path in params.items():
            if not _PATH.fullmatch(path):
                raise ValueError(f"{name}: {path!r} is not a dotted path such as 'repository.name'")
        return params

    def params_from(self, payload: Any) -> dict[str, Any]:
        """The params the payload maps to; a path it lacks is left out (the param's
        default applies, or validation says it is required)."""
        values: dict[str, Any] = {}
        for name, path in self.params.items():
            found, value = _lookup(payload, path.split("."))
            if found:
                values[name] = value
        return values


class WebhookTrigger(_MapsParams):
    """``POST /v1/hooks/{automation}``, signed with HMAC-SHA256 of the body under
    ``secret`` (or sent with an operator token); ``params`` maps each param to a dotted
    path in the JSON payload (``repository.name``, ``commits.0.id``)."""

    type: Literal["webhook"] = "webhook"
    secret: str | None = Field(default=None, pattern=r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")

    @property
    def secret_name(self) -> str | None:
        """The name of the secret the signature is made with (``${NAME}`` -> ``NAME``)."""
        return self.secret[2:-1] if self.secret else None


_PATH = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def _lookup(value: Any, parts: list[str]) -> tuple[bool, Any]:
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


class EventTrigger(_MapsParams):
    """Start a run when an event of ``event_type`` is recorded for the automation's
    project, with one of the ``status`` values (any when empty); ``params`` maps each
    param to a dotted path in the event (``evidence.workflow.id``, ``run_id``)."""

    type: Literal["event"] = "event"
    event_type: str = Field(pattern=r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$")
    status: list[EventStatus] = Field(default_factory=list)

    @property
    def key(self) -> str:
        """Names this trigger in the idempotency key of the runs it starts."""
        return _key(self)

    def matches(self, event_type: str, status: str) -> bool:
        return event_type == self.event_type and (not self.status or status in self.status)


def _key(trigger: Strict) -> str:
    text = json.dumps(trigger.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


Trigger = Annotated[
    ManualTrigger | CronTrigger | WebhookTrigger | EventTrigger, Field(discriminator="type")
]
