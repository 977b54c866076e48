"""Circuit breakers shared by every process: the state machine and its rows.

A breaker goes closed -> open after ``failure_threshold`` consecutive failures,
open -> half-open once ``reset_timeout_seconds`` have passed, and half-open ->
closed on a probe's success (or back to open on its failure). The rules are pure
functions (``decide_acquire``, ``decide_record``) kept beside the row they govern
so the store can apply them inside its transaction without importing the engine;
``autohub.engine.breaker`` re-exports them. Every state change writes its
``breaker.*`` event in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from autohub.clock import utcnow
from autohub.errors import InvalidInput
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.schema import breakers

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
BREAKER_STATES = (CLOSED, OPEN, HALF_OPEN)

Transition = tuple[str, str]
"""A state change, e.g. ``("closed", "open")``."""

_EVENTS = {
    OPEN: ("breaker.opened", "warning"),
    HALF_OPEN: ("breaker.half_opened", "pending"),
    CLOSED: ("breaker.closed", "success"),
}

_T = TypeVar("_T")


# -- the pure state machine ---------------------------------------------------------------


@dataclass(frozen=True)
class BreakerSettings:
    """How a breaker trips and recovers (built from the registry's BreakerPolicy)."""

    failure_threshold: int = 5
    reset_timeout_seconds: float = 30.0
    half_open_probes: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise InvalidInput(
                f"failure_threshold: must be at least 1, got {self.failure_threshold}"
            )
        if self.reset_timeout_seconds < 0:
            raise InvalidInput(
                f"reset_timeout_seconds: must not be negative, got {self.reset_timeout_seconds}"
            )
        if self.half_open_probes < 1:
            raise InvalidInput(f"half_open_probes: must be at least 1, got {self.half_open_probes}")


@dataclass(frozen=True)
class BreakerState:
    """One breaker's row: ``updated_at`` is its last change (in half-open, the last probe)."""

    state: str = CLOSED
    failures: int = 0
    probes_in_flight: int = 0
    opened_at: datetime | None = None
    updated_at: datetime | None = None

    def summary(self, name: str) -> dict[str, Any]:
        """What the server shows of a breaker."""
        return {
            "name": name,
            "state": self.state,
            "failures": self.failures,
            "opened_at": self.opened_at.isoformat() if self.opened_at else None,
        }


@dataclass(frozen=True)
class Permit:
    """Whether a call may go ahead; a probe must report back with ``probe=True``."""

    allowed: bool
    probe: bool = False
    retry_after_seconds: float = 0.0


def decide_acquire(
    state: BreakerState, settings: BreakerSettings, now: datetime
) -> tuple[BreakerState, Permit, list[Transition]]:
    """May a call go ahead now? Moves open -> half-open once the reset timeout has passed.

    In half-open, at most ``half_open_probes`` calls probe at once. Probes that have not
    reported within one reset timeout are taken as lost (their process died), so a
    crashed probe cannot keep the breaker half-open for ever.
    """
    reset = timedelta(seconds=settings.reset_timeout_seconds)
    transitions: list[Transition] = []
    if state.state == CLOSED:
        return state, Permit(allowed=True), transitions
    if state.state == OPEN:
        opened_at = state.opened_at or now
        if now < opened_at + reset:
            wait = (opened_at + reset - now).total_seconds()
            return state, Permit(allowed=False, retry_after_seconds=wait), transitions
        state = replace(state, state=HALF_OPEN, probes_in_flight=0, updated_at=now)
        transitions.append((OPEN, HALF_OPEN))
    probes = state.probes_in_flight
    since = state.updated_at or now
    if probes >= settings.half_open_probes and now >= since + reset:
        probes = 0  # the probes in flight are lost
    if probes < settings.half_open_probes:
        state = replace(state, probes_in_flight=probes + 1, updated_at=now)
        return state, Permit(allowed=True, probe=True), transitions
    wait = max((since + reset - now).total_seconds(), 0.0)
    return state, Permit(allowed=False, retry_after_seconds=wait), transitions


def decide_record(
    state: BreakerState, settings: BreakerSettings, success: bool, probe: bool, now: datetime
) -> tuple[BreakerState, list[Transition]]:
    """The breaker after a call's outcome.

    Only probes decide a half-open breaker; the late outcome of a call admitted before
    the breaker opened changes nothing while it is open or half-open.
    """
    if state.state == CLOSED:
        if success:
            if state.failures == 0:
                return state, []
            return replace(state, failures=0, updated_at=now), []
        failures = state.failures + 1
        if failures >= settings.failure_threshold:
            opened = BreakerState(OPEN, failures, 0, opened_at=now, updated_at=now)
            return opened, [(CLOSED, OPEN)]
        return replace(state, failures=failures, updated_at=now), []
    if state.state == HALF_OPEN and probe:
        if success:
            return BreakerState(CLOSED, 0, 0, None, updated_at=now), [(HALF_OPEN, CLOSED)]
        reopened = BreakerState(OPEN, state.failures + 1, 0, opened_at=now, updated_at=now)
        return reopened, [(HALF_OPEN, OPEN)]
    return state, []


def decide_reset(state: BreakerState, now: datetime) -> tuple[BreakerState, list[Transition]]:
    """Close the breaker by hand, forgetting its failures."""
    closed = BreakerState(CLOSED, 0, 0, None, updated_at=now)
    if state.state == CLOSED:
        return (state if state.failures == 0 else closed), []
    return closed, [(state.state, CLOSED)]


# -- the store ----------------------------------------------------------------------------


@dataclass
class BreakerStore:
    """Breakers in the database: each operation is one transaction on the breaker's row."""

    database: Database
    events: EventStore
    clock: Callable[[], datetime] = utcnow

    def acquire(
        self,
        name: str,
        settings: BreakerSettings,
        *,
        project_id: str,
        run_id: str | None = None,
    ) -> Permit:
        """Ask to make a call through breaker ``name``; a refusal means fail fast."""
        current = self._read(name)
        if current is None or current.state == CLOSED:
            # A closed breaker admits every call and changes nothing: no write transaction.
            return Permit(allowed=True)

        def decide(
            state: BreakerState, now: datetime
        ) -> tuple[BreakerState, Permit, list[Transition]]:
            return decide_acquire(state, settings, now)

        return self._apply(name, settings, decide, project_id=project_id, run_id=run_id)

    def record(
        self,
        name: str,
        settings: BreakerSettings,
        *,
        success: bool,
        probe: bool,
        project_id: str,
        run_id: str | None = None,
    ) -> str:
        """Record a call's outcome (``probe`` from its Permit); returns the breaker's state."""

        def decide(
            state: BreakerState, now: datetime
        ) -> tuple[BreakerState, str, list[Transition]]:
            new_state, transitions = decide_record(state, settings, success, probe, now)
            return new_state, new_state.state, transitions

        return self._apply(name, settings, decide, project_id=project_id, run_id=run_id)

    def reset(
        self,
        name: str,
        *,
        project_id: str,
        run_id: str | None = None,
        settings: BreakerSettings | None = None,
    ) -> BreakerState:
        """Close a breaker by hand; a breaker.closed event is written if it was not closed.

        ``settings``, when known, only fill the event's evidence.
        """

        def decide(
            state: BreakerState, now: datetime
        ) -> tuple[BreakerState, BreakerState, list[Transition]]:
            new_state, transitions = decide_reset(state, now)
            return new_state, new_state, transitions

        return self._apply(name, settings, decide, project_id=project_id, run_id=run_id)

    def get(self, name: str) -> BreakerState:
        """A breaker's stored state (closed for a breaker never used)."""
        return self._read(name) or BreakerState()

    def all(self) -> dict[str, BreakerState]:
        """Every breaker that has a row, by name."""
        statement = sa.select(breakers).order_by(breakers.c.name)
        try:
            with self.database.connect() as connection:
                rows = connection.execute(statement).mappings().all()
        except self.database.errors as exc:
            raise self.database.translate(exc, "read breakers") from exc
        return {row["name"]: _state_from_row(row) for row in rows}

    def _read(self, name: str) -> BreakerState | None:
        statement = sa.select(breakers).where(breakers.c.name == name)
        rows = self.database.fetch(statement, f"read breaker {name}")
        return _state_from_row(rows[0]) if rows else None

    def _apply(
        self,
        name: str,
        settings: BreakerSettings | None,
        decide: Callable[[BreakerState, datetime], tuple[BreakerState, _T, list[Transition]]],
        *,
        project_id: str,
        run_id: str | None,
    ) -> _T:
        """Lock the row, apply ``decide``, write the new state and its events, commit."""
        now = self.clock()
        table = breakers
        try:
            with self.database.begin() as connection:
                state = self._lock(connection, name, now)
                new_state, result, transitions = decide(state, now)
                if new_state != state:
                    connection.execute(
                        table.update()
                        .where(table.c.name == name)
                        .values(
                            state=new_state.state,
                            failures=new_state.failures,
                            probes_in_flight=new_state.probes_in_flight,
                            opened_at=new_state.opened_at,
                            updated_at=new_state.updated_at or now,
                        )
                    )
                rows = [
                    self._event(name, settings, new_state, transition, project_id, run_id, now)
                    for transition in transitions
                ]
                self.events.insert_rows(connection, rows)
        except self.database.errors as exc:
            raise self.database.translate(exc, f"update breaker {name}") from exc
        return result

    def _lock(self, connection: sa.Connection, name: str, now: datetime) -> BreakerState:
        """The breaker's row, created closed if missing, locked until the transaction ends.

        SQLite: the write transaction is BEGIN IMMEDIATE, which already serialises writers
        (SQLAlchemy renders no FOR UPDATE there). PostgreSQL: the row lock.
        """
        table = breakers
        connection.execute(
            self.database.insert_ignoring_duplicates(table).values(
                name=name, state=CLOSED, failures=0, probes_in_flight=0, updated_at=now
            )
        )
        row = (
            connection.execute(sa.select(table).where(table.c.name == name).with_for_update())
            .mappings()
            .one()
        )
        return _state_from_row(row)

    def _event(
        self,
        name: str,
        settings: BreakerSettings | None,
        state: BreakerState,
        transition: Transition,
        project_id: str,
        run_id: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        event_type, status = _EVENTS[transition[1]]
        return self.events.prepare(
            {
                "event_type": event_type,
                "project_id": project_id,
                "status": status,
                "run_id": run_id,
                "created_at": now,
                "detected_from": "breaker",
                "evidence": {
                    "breaker": name,
                    "failures": state.failures,
                    "failure_threshold": settings.failure_threshold if settings else None,
                    "reset_timeout_seconds": settings.reset_timeout_seconds if settings else None,
                    "from": transition[0],
                    "to": transition[1],
                },
            }
        )


def _state_from_row(row: Any) -> BreakerState:
    return BreakerState(
        state=row["state"],
        failures=row["failures"],
        probes_in_flight=row["probes_in_flight"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
    )
