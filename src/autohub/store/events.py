"""The event store: every action of every part of autohub, as ``automation_events`` rows.

Events are validated, redacted and capped before anything is written. When the
database is unreachable they go to the spool and are flushed, in order and
exactly once, when it returns.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autohub.clock import utcnow
from autohub.errors import InvalidInput, NotFound, StoreError, StoreUnavailable
from autohub.ids import new_id
from autohub.redact import Redactor
from autohub.store import driver_sql
from autohub.store.database import Database
from autohub.store.event_rows import (
    DETECTED_FROM_MAX_CHARS,
    EVENT_COLUMNS,
    EVENT_STATUSES,
    EVENT_TYPE_PATTERN,
    PROJECT_PATTERN,
    EventLimits,
    EventStatus,
    build_row,
    clean_source,
    decoded,
    is_project_id,
    row_from_spool,
    row_to_spool,
    spool_event,
)
from autohub.store.schema import automation_events
from autohub.store.spool import EventSpool

MAX_PAGE_SIZE = 1000

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_STATUSES",
    "Event",
    "EventFilter",
    "EventLimits",
    "EventStatus",
    "EventStore",
    "NewEvent",
    "is_project_id",
    "spool_event",
]


class NewEvent(BaseModel):
    """An event to record."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_type: str = Field(pattern=EVENT_TYPE_PATTERN, max_length=128)
    project_id: str = Field(pattern=PROJECT_PATTERN, max_length=128)
    status: EventStatus
    evidence: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    detected_from: str | None = Field(default=None, max_length=DETECTED_FROM_MAX_CHARS)
    run_id: str | None = Field(default=None, max_length=64)
    correlation_id: str | None = Field(default=None, max_length=64)
    parent_id: int | None = None
    created_at: datetime | None = None
    resolved_at: datetime | None = None
    uid: str = Field(default_factory=new_id, pattern=r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Event:
    """A recorded event. ``id`` is None while it waits in the spool."""

    id: int | None
    uid: str
    event_type: str
    project_id: str
    status: str
    evidence: dict[str, Any]
    metadata: dict[str, Any]
    detected_from: str | None
    created_at: datetime
    resolved_at: datetime | None
    run_id: str | None
    correlation_id: str | None
    parent_id: int | None

    @property
    def spooled(self) -> bool:
        return self.id is None

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data (evidence and metadata are not copied)."""
        return {
            "id": self.id,
            "uid": self.uid,
            "event_type": self.event_type,
            "project_id": self.project_id,
            "status": self.status,
            "evidence": self.evidence,
            "metadata": self.metadata,
            "detected_from": self.detected_from,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "run_id": self.run_id,
            "correlation_id": self.correlation_id,
            "parent_id": self.parent_id,
        }


@dataclass(frozen=True)
class EventFilter:
    """Which events a query returns; empty fields match everything."""

    event_types: Sequence[str] = ()
    statuses: Sequence[str] = ()
    project_id: str | None = None
    run_id: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    unresolved: bool = False
    after_id: int | None = None

    def __post_init__(self) -> None:
        """A filter the database and ``matches`` can both apply, or InvalidInput."""
        for status in self.statuses:
            if status not in EVENT_STATUSES:
                raise InvalidInput(f"status: {status!r} is not one of {', '.join(EVENT_STATUSES)}")
        for name, moment in (("since", self.since), ("until", self.until)):
            if moment is not None and moment.tzinfo is None:
                raise InvalidInput(f"{name}: give a timezone-aware time")

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one the query would return (for filtering a live stream
        in memory, as the database filters a query)."""
        return (
            (not self.event_types or event.event_type in self.event_types)
            and (not self.statuses or event.status in self.statuses)
            and (self.project_id is None or event.project_id == self.project_id)
            and (self.run_id is None or event.run_id == self.run_id)
            and (self.correlation_id is None or event.correlation_id == self.correlation_id)
            and (self.since is None or event.created_at >= self.since)
            and (self.until is None or event.created_at < self.until)
            and (not self.unresolved or event.resolved_at is None)
            and (self.after_id is None or (event.id or 0) > self.after_id)
        )


@dataclass
class EventPage:
    """One page of a query, newest first, and the cursor of the next page (None at the end)."""

    events: list[Event]
    next_cursor: str | None


@dataclass(frozen=True)
class BatchResult:
    count: int
    spooled: bool = False


@dataclass
class EventStore:
    """Records and queries events in one database, spooling while it is unreachable."""

    database: Database
    redactor: Redactor = field(default_factory=Redactor)
    spool: EventSpool | None = None
    limits: EventLimits = field(default_factory=EventLimits)
    clock: Callable[[], datetime] = utcnow
    _sources: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _sources_redactor: Redactor | None = field(default=None, init=False, repr=False)

    # -- writing -------------------------------------------------------------------------

    def record(self, event_type: str, project_id: str, status: str, **fields: Any) -> Event:
        """Record one event given as keyword arguments."""
        return self.add(
            {"event_type": event_type, "project_id": project_id, "status": status, **fields}
        )

    def add(self, event: NewEvent | dict[str, Any]) -> Event:
        """Record one event; returns it with its id (None if it was spooled)."""
        row = self._row(event, "event")
        if not self._write([row]):
            return _event_from_row(decoded({**row, "id": None}))
        if row.get("id") is None:  # the uid was stored before: return that event
            return self._by_uid(row["uid"])
        return _event_from_row(decoded(row))

    def add_many(self, events: Iterable[NewEvent | dict[str, Any]]) -> BatchResult:
        """Record a batch in one transaction; an invalid event rejects the whole batch."""
        rows = [self._row(event, f"events[{index}]") for index, event in enumerate(events)]
        if not rows:
            return BatchResult(0)
        stored = self._write(rows)
        return BatchResult(len(rows), spooled=not stored)

    def flush_spool(self) -> int:
        """Move spooled events into the database; returns how many were flushed."""
        if self.spool is None or not self.spool.has_pending():
            return 0
        spool = self.spool

        def insert(rows: list[dict[str, Any]]) -> None:
            restored = [row_from_spool(row) for row in rows]
            try:
                self._insert(restored)
            except StoreUnavailable:
                raise
            except StoreError:
                # A row the database refuses for good must not block every later write:
                # insert one by one and set the refused rows aside in rejected.jsonl.
                for raw, row in zip(rows, restored, strict=True):
                    try:
                        self._insert([row])
                    except StoreUnavailable:
                        raise
                    except StoreError as exc:
                        spool.reject(raw, exc.message)

        return spool.drain(insert)

    def resolve(self, event_id: int, at: datetime | None = None) -> Event:
        """Mark an event resolved (idempotent: a resolved event keeps its first resolution)."""
        resolved_at = at or self.clock()
        table = automation_events
        try:
            with self.database.begin() as connection:
                connection.execute(
                    table.update()
                    .where(table.c.id == event_id, table.c.resolved_at.is_(None))
                    .values(resolved_at=resolved_at)
                )
        except self.database.errors as exc:
            raise self.database.translate(exc, "resolve event") from exc
        return self.get(event_id)

    def prepare(self, event: NewEvent | dict[str, Any]) -> dict[str, Any]:
        """A validated, redacted and capped row for ``insert_rows``.

        For stores that write events in the same transaction as their own state change.
        """
        return self._row(event, "event")

    def insert_rows(self, connection: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert prepared rows inside the caller's transaction (no spool, no commit).

        Uids already stored are skipped; driver errors propagate for the caller to translate.
        """
        if rows:
            self.write_rows(driver_sql.driver_cursor(connection), rows)

    def write_rows(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> None:
        """``insert_rows`` on a driver cursor (``driver_sql``), inside its transaction."""
        sql = driver_sql.for_dialect(self.database.dialect)
        statement, adapters = sql.insert(automation_events, EVENT_COLUMNS, ignore_duplicates=True)
        cursor.executemany(
            statement,
            [driver_sql.adapt(adapters, [row[name] for name in EVENT_COLUMNS]) for row in rows],
        )

    def _row(self, event: NewEvent | dict[str, Any], where: str) -> dict[str, Any]:
        """The stored row of ``event``: validated, redacted and capped, evidence and metadata
        as ``evidence.StoredJson`` text."""
        return build_row(event, where, self.redactor, self.limits, self.clock, self._source)

    def _source(self, detected_from: str) -> str:
        """``detected_from`` as stored: cleaned, redacted and cut to its column. A few
        sources send most events, so the answers are kept (up to 1,024 of them)."""
        if self._sources_redactor is not self.redactor:  # a new redactor: forget the answers
            self._sources, self._sources_redactor = {}, self.redactor
        known = self._sources.get(detected_from)
        if known is None:
            known = clean_source(detected_from, self.redactor)
            if len(self._sources) >= 1024:
                self._sources.clear()
            self._sources[detected_from] = known
        return known

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        """Insert rows, or spool them while the database is down; True when inserted."""
        if self.spool is None:
            self._insert(rows)
            return True
        try:
            self.flush_spool()
            self._insert(rows)
        except StoreUnavailable:
            self.spool.append([row_to_spool(row) for row in rows])
            return False
        return True

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """Insert rows, skipping uids already stored; a single row gets its ``id`` set."""
        statement = self.database.insert_ignoring_duplicates(automation_events)
        try:
            with self.database.begin() as connection:
                if len(rows) == 1:
                    result = connection.execute(
                        statement.returning(automation_events.c.id), rows[0]
                    )
                    rows[0]["id"] = result.scalar()
                else:
                    # Batches skip SQLAlchemy's per-row bind processing: the values are
                    # already validated and redacted, and stored as its types store them.
                    self.insert_rows(connection, rows)
        except self.database.errors as exc:
            raise self.database.translate(exc, "record events") from exc

    # -- reading -------------------------------------------------------------------------

    def get(self, event_id: int) -> Event:
        events = self.select(automation_events.c.id == event_id, limit=1)
        if not events:
            raise NotFound(f"no event with id {event_id}")
        return events[0]

    def _by_uid(self, uid: str) -> Event:
        events = self.select(automation_events.c.uid == uid, limit=1)
        if not events:
            raise NotFound(f"no event with uid {uid}")
        return events[0]

    def query(
        self, where: EventFilter | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> EventPage:
        """Events matching ``where``, newest first, one page at a time."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInput(f"limit: must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
        table = automation_events
        conditions = _conditions(where or EventFilter())
        if cursor is not None:
            created_at, last_id = _decode_cursor(cursor)
            conditions.append(  # a row value: one index range on both databases
                sa.tuple_(table.c.created_at, table.c.id) < sa.tuple_(created_at, last_id)
            )
        events = self.select(
            sa.and_(sa.true(), *conditions),
            order=(table.c.created_at.desc(), table.c.id.desc()),
            limit=limit + 1,
        )
        next_cursor = None
        if len(events) > limit:
            events = events[:limit]
            next_cursor = _encode_cursor(events[-1])
        return EventPage(events, next_cursor)

    def since_id(self, where: EventFilter, after_id: int, limit: int = 500) -> list[Event]:
        """Events stored after ``after_id``, oldest first (for following the stream)."""
        table = automation_events
        conditions = [*_conditions(where), table.c.id > after_id]
        return self.select(sa.and_(*conditions), order=(table.c.id.asc(),), limit=limit)

    def last_id(self) -> int:
        try:
            with self.database.connect() as connection:
                value = connection.execute(sa.select(sa.func.max(automation_events.c.id))).scalar()
        except self.database.errors as exc:
            raise self.database.translate(exc, "read events") from exc
        return int(value or 0)

    def timeline(self, project_id: str, hours: float = 24, limit: int = 10_000) -> list[Event]:
        """A project's events over the last ``hours``, oldest first."""
        if hours <= 0:
            raise InvalidInput(f"hours: must be positive, got {hours}")
        table = automation_events
        since = self.clock() - timedelta(hours=hours)
        return self.select(
            sa.and_(table.c.project_id == project_id, table.c.created_at >= since),
            order=(table.c.created_at.asc(), table.c.id.asc()),
            limit=limit,
        )

    def correlate(
        self,
        *,
        event_id: int | None = None,
        run_id: str | None = None,
        correlation_id: str | None = None,
        limit: int = 10_000,
    ) -> list[Event]:
        """Everything sharing a run or correlation id (or those of ``event_id``), in order."""
        table = automation_events
        conditions = []
        if event_id is not None:
            anchor = self.get(event_id)
            conditions += [table.c.id == event_id, table.c.parent_id == event_id]
            run_id = run_id or anchor.run_id
            correlation_id = correlation_id or anchor.correlation_id
        if run_id is not None:
            conditions.append(table.c.run_id == run_id)
        if correlation_id is not None:
            conditions.append(table.c.correlation_id == correlation_id)
        if not conditions:
            raise InvalidInput("correlate: give an event id, a run id or a correlation id")
        return self.select(
            sa.or_(*conditions), order=(table.c.created_at.asc(), table.c.id.asc()), limit=limit
        )

    def select(
        self,
        condition: sa.ColumnElement[bool],
        *,
        order: Sequence[sa.UnaryExpression[Any]] = (),
        limit: int,
    ) -> list[Event]:
        """The events matching ``condition``, in ``order``, at most ``limit``."""
        statement = sa.select(automation_events).where(condition).order_by(*order).limit(limit)
        return [_event_from_row(row) for row in self.database.fetch(statement, "read events")]


def _conditions(where: EventFilter) -> list[sa.ColumnElement[bool]]:
    table = automation_events
    conditions: list[sa.ColumnElement[bool]] = []
    if len(where.event_types) == 1:
        conditions.append(table.c.event_type == where.event_types[0])
    elif where.event_types:
        conditions.append(table.c.event_type.in_(list(where.event_types)))
    if len(where.statuses) == 1:
        conditions.append(table.c.status == where.statuses[0])
    elif where.statuses:
        conditions.append(table.c.status.in_(list(where.statuses)))
    if where.project_id is not None:
        conditions.append(table.c.project_id == where.project_id)
    if where.run_id is not None:
        conditions.append(table.c.run_id == where.run_id)
    if where.correlation_id is not None:
        conditions.append(table.c.correlation_id == where.correlation_id)
    if where.since is not None:
        conditions.append(table.c.created_at >= where.since)
    if where.until is not None:
        conditions.append(table.c.created_at < where.until)
    if where.unresolved:
        conditions.append(table.c.resolved_at.is_(None))
    if where.after_id is not None:
        conditions.append(table.c.id > where.after_id)
    return conditions


def _encode_cursor(event: Event) -> str:
    payload = json.dumps([event.created_at.isoformat(), event.id]).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, event_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created_at)
        if moment.tzinfo is None or not isinstance(event_id, int):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cursor: {cursor!r} is not a cursor this store returned") from exc
    return moment, event_id


def _event_from_row(row: dict[str, Any]) -> Event:
    return Event(
        id=row["id"],
        uid=row["uid"],
        event_type=row["event_type"],
        project_id=row["project_id"],
        status=row["status"],
        evidence=row["evidence"],
        metadata=row["metadata"],
        detected_from=row["detected_from"],
        created_at=row["created_at"],
        resolved_at=row["resolved_at"],
        run_id=row["run_id"],
        correlation_id=row["correlation_id"],
        parent_id=row["parent_id"],
    )


def validated_event(event: NewEvent | dict[str, Any], where: str) -> dict[str, Any]:
    """The fields of ``event`` as ``NewEvent`` validates them; InvalidInput explaining
    what is wrong, naming ``where``."""
    try:
        model = event if isinstance(event, NewEvent) else NewEvent.model_validate(event)
    except ValidationError as exc:
        raise InvalidInput(_validation_message(exc, where)) from exc
    return model.model_dump()


def _validation_message(exc: ValidationError, where: str) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
        if error["type"] == "literal_error":
            message = f"{error['input']!r} is not one of {', '.join(EVENT_STATUSES)}"
        if error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "event_type":
            message = (
                f"{error['input']!r} is not a dotted or underscored identifier "
                "(e.g. production_check, n8n.failure_detected)"
            )
        parts.append(f"{where}.{path}: {message}")
    return "invalid event: " + "; ".join(parts)
