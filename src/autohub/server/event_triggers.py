"""The server's event triggers: a run starts when an event an automation waits for is
recorded (``triggers: [{type: event, event_type: ..., status: [...]}]``).

About once a second it reads the events stored since its cursor, in id order (an
``EventTail``, which also catches the events that commit late on PostgreSQL). Each
event that an automation's trigger matches (its type, one of its statuses, the
automation's project) creates a run with the event's mapped params and an idempotency
key naming the event and the trigger, so that servers sharing the store start it once,
and records ``event_trigger.fired``, or ``event_trigger.failed`` when the run cannot be
made (params the event maps to that do not validate).

The cursor (``event_cursors``) survives a restart: the events of a downtime are handled
when the server is back, and none twice. A new cursor starts at the newest event: the
first start does not act on the history. The events of an automation's own runs never
start it: a run that fails on a trigger of failed runs would start itself forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from autohub.errors import AutohubError, NotFound
from autohub.hub import Hub
from autohub.registry.triggers import EventTrigger
from autohub.server.polling import PolledPart

if TYPE_CHECKING:
    from autohub.store.event_cursors import EventCursorStore
    from autohub.store.event_tail import EventTail
    from autohub.store.events import Event

RUN_AUTOMATIONS_KEPT = 4096
"""Run id -> automation answers remembered (a run's events come together)."""


@dataclass
class EventTriggers(PolledPart):
    """Starts the runs of a project's event triggers from a background thread."""

    thread_name = "event-triggers"

    hub: Hub
    on_fire: Callable[[], None] = lambda: None
    poll_seconds: float = 1.0
    batch: int = 500
    _tail: EventTail | None = field(default=None, init=False)
    _run_automations: dict[str, str] = field(default_factory=dict, init=False)

    @property
    def cursor_name(self) -> str:
        return f"event-triggers:{self.hub.project}"

    @property
    def cursors(self) -> EventCursorStore:
        from autohub.store.event_cursors import EventCursorStore

        return EventCursorStore(self.hub.database)

    def triggers(self) -> list[tuple[str, str, EventTrigger]]:
        """The (automation, its project, event trigger) triples of the registry."""
        project = self.hub.project
        return [
            (d.name, d.automation.project or project, trigger)
            for d, trigger in self.hub.registry.triggers(EventTrigger)
        ]

    def _pass(self) -> None:
        while self.check() >= self.batch and not self.stopping:
            pass  # a backlog: read on at once

    def check(self) -> int:
        """One pass: start the runs the new events trigger and move the cursor past them;
        how many events were read."""
        tail = self._tail or self._open_tail()
        triggers = self.triggers()
        if not triggers:  # keep up, so that a trigger added later starts from then
            newest = self.hub.events.last_id()
            if newest > tail.last_id:
                tail.last_id = newest
                self.cursors.advance(self.cursor_name, newest)
            return 0
        events = tail.poll(self.batch)
        if not events:
            return 0
        created = 0
        for event in events:
            for automation, project, trigger in triggers:
                if (
                    event.project_id == project
                    and trigger.matches(event.event_type, event.status)
                    and not self._from_own_run(event, automation)
                ):
                    created += self._fire(event, automation, trigger)
        self.cursors.advance(self.cursor_name, tail.last_id)
        if created:
            self.on_fire()
        return len(events)

    def _open_tail(self) -> EventTail:
        from autohub.store.event_tail import EventTail

        position = self.cursors.position(self.cursor_name)
        if position is None:  # a new cursor: from now on
            position = self.hub.events.last_id()
            self.cursors.advance(self.cursor_name, position)
        self._tail = EventTail(self.hub.events, position)
        return self._tail

    def _from_own_run(self, event: Event, automation: str) -> bool:
        if event.run_id is None:
            return False
        known = self._run_automations.get(event.run_id)
        if known is None:
            try:
                known = self.hub.runs.get(event.run_id).automation
            except NotFound:
                known = ""  # an event naming a run this store does not have
            if len(self._run_automations) >= RUN_AUTOMATIONS_KEPT:
                self._run_automations.clear()
            self._run_automations[event.run_id] = known
        return known == automation

    def _fire(self, event: Event, automation: str, trigger: EventTrigger) -> int:
        evidence: dict[str, Any] = {
            "automation": automation,
            "event_id": event.id,
            "event_type": event.event_type,
            "event_status": event.status,
        }
        key = f"event:{trigger.key[:16]}:{event.uid}"
        try:
            params = trigger.params_from(event.to_dict())
            run, created = self.hub.start(automation, params, trigger="event", idempotency_key=key)
        except AutohubError as exc:  # e.g. the params the event maps to do not validate
            self._record(
                "event_trigger.failed", event, "failed", {**evidence, "error": exc.message}
            )
            return 0
        if not created:
            return 0  # another server started it
        self._record(
            "event_trigger.fired", event, "success", {**evidence, "run_id": run.id}, run.id
        )
        return 1

    def _record(
        self,
        event_type: str,
        cause: Event,
        status: str,
        evidence: dict[str, Any],
        run_id: str | None = None,
    ) -> None:
        self.hub.events.record(
            event_type,
            cause.project_id,
            status,
            run_id=run_id,
            parent_id=cause.id,
            detected_from="event-triggers",
            evidence=evidence,
        )
