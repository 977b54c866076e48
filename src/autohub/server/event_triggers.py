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
start it (a run that fails, on a trigger of failed runs, would start itself forever),
nor do this part's own records, and runs that start each other through events stop
after ``MAX_CHAIN`` in a row (``event_trigger.skipped``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from autohub.errors import InvalidInput, NotFound
from autohub.registry.triggers import EventTrigger
from autohub.server.firing import TriggerFirer

if TYPE_CHECKING:
    from autohub.store.event_cursors import EventCursorStore
    from autohub.store.event_tail import EventTail
    from autohub.store.events import Event

DETECTED_FROM = "event-triggers"
"""The ``detected_from`` of this part's own records, which never start a run."""
MAX_CHAIN = 10
"""Runs in a row that may start each other through events."""
RUNS_KEPT = 4096
"""Run id -> (automation, chain depth) answers remembered (a run's events come together)."""


@dataclass
class EventTriggers(TriggerFirer):
    """Starts the runs of a project's event triggers from a background thread."""

    thread_name = "event-triggers"
    detected_from = DETECTED_FROM

    batch: int = 500
    _tail: EventTail | None = field(default=None, init=False)
    _runs: dict[str, tuple[str, int]] = field(default_factory=dict, init=False)

    @property
    def cursor_name(self) -> str:
        return f"event-triggers:{self.hub.project}"

    @cached_property
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

    def _pass(self) -> bool:
        return self.check() >= self.batch  # a backlog: read on at once

    def check(self) -> int:
        """One pass: start the runs the new events trigger and move the cursor past them;
        how many events were read. A pass that fails (the store went away) reads its
        events again from the stored cursor; the idempotency keys make that harmless."""
        tail = self._tail or self._open_tail()
        try:
            return self._handle(tail)
        except BaseException:
            self._tail = None
            raise

    def _handle(self, tail: EventTail) -> int:
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
            if event.detected_from == DETECTED_FROM:  # our own records start nothing
                continue
            for automation, project, trigger in triggers:
                if (
                    event.project_id == project
                    and trigger.matches(event.event_type, event.status)
                    and self._may_start(event, automation, trigger)
                ):
                    created += self._fire(event, automation, trigger)
        self.cursors.advance(self.cursor_name, tail.settled_id)
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

    def _may_start(self, event: Event, automation: str, trigger: EventTrigger) -> bool:
        """Not for the events of the automation's own runs, nor past ``MAX_CHAIN`` runs
        that started each other through events (two automations that start each other
        on failure would otherwise go on forever)."""
        if event.run_id is None:
            return True
        run_automation, depth = self._run_chain(event.run_id)
        if run_automation == automation:
            return False
        if depth < MAX_CHAIN:
            return True
        self._record_about(
            event,
            "event_trigger.skipped",
            "warning",
            {
                **self._evidence(event, automation),
                "reason": f"{MAX_CHAIN} runs in a row were started by each other's events",
            },
            uid=_uid(f"skipped:{trigger.key}:{event.uid}"),
        )
        return False

    def _run_chain(self, run_id: str) -> tuple[str, int]:
        """The run's automation, and how many runs in a row, ending with it, event
        triggers started (0 for a run started otherwise)."""
        known = self._runs.get(run_id)
        if known is not None:
            return known
        try:
            run = self.hub.runs.get(run_id)
        except NotFound:
            return "", 0  # an event naming a run this store does not have
        depth = 0
        if run.trigger == "event":
            cause = self._cause_of(run_id)
            upstream = self._run_chain(cause.run_id)[1] if cause and cause.run_id else 0
            depth = 1 + min(upstream, MAX_CHAIN)
        if len(self._runs) >= RUNS_KEPT:
            self._runs.clear()
        self._runs[run_id] = (run.automation, depth)
        return run.automation, depth

    def _cause_of(self, run_id: str) -> Event | None:
        """The event that started a run, through the ``event_trigger.fired`` record."""
        from autohub.store.events import EventFilter

        where = EventFilter(event_types=["event_trigger.fired"], run_id=run_id)
        fired = self.hub.events.query(where, limit=1).events
        if not fired or fired[0].parent_id is None:
            return None
        try:
            return self.hub.events.get(fired[0].parent_id)
        except NotFound:
            return None

    def _fire(self, event: Event, automation: str, trigger: EventTrigger) -> int:
        evidence = self._evidence(event, automation)
        key = f"event:{trigger.key[:16]}:{event.uid}"
        try:
            params = trigger.params_from(event.to_dict())
            run, created = self.hub.start(automation, params, trigger="event", idempotency_key=key)
        except InvalidInput as exc:  # e.g. the params the event maps to do not validate
            self._record_about(
                event,
                "event_trigger.failed",
                "failed",
                {**evidence, "error": exc.message},
                uid=_uid(f"failed:{key}"),  # one record, however many servers try
            )
            return 0
        if not created:
            return 0  # another server started it
        self._record_about(
            event,
            "event_trigger.fired",
            "success",
            {**evidence, "run_id": run.id},
            run_id=run.id,
        )
        return 1

    @staticmethod
    def _evidence(event: Event, automation: str) -> dict[str, Any]:
        return {
            "automation": automation,
            "event_id": event.id,
            "event_type": event.event_type,
            "event_status": event.status,
        }

    def _record_about(
        self,
        cause: Event,
        event_type: str,
        status: str,
        evidence: dict[str, Any],
        **fields: Any,
    ) -> None:
        """Record what became of ``cause`` (its child: ``parent_id``)."""
        self._record(event_type, cause.project_id, status, evidence, parent_id=cause.id, **fields)


def _uid(text: str) -> str:
    """An event uid made from ``text``: servers recording the same outcome record it once
    (the store keeps the first event of a uid)."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]
