"""Runs, their steps and every step attempt: the durable state the engine advances.

The store is the source of truth. A run is executed by one owner at a time, under
a lease that the owner renews; a lost owner's lease expires and the run can be
claimed again (``autohub resume``). Every change the engine makes (step claims,
attempt results, retries, the run's end) is applied with its events in ONE
transaction, and only while the caller still owns the run (a fencing check).
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import PoolProxiedConnection

from autohub.clock import utcnow
from autohub.errors import AutohubError, NotFound, StoreError
from autohub.store import driver_sql, evidence
from autohub.store.checkpoints import Checkpointer
from autohub.store.database import WAL_AUTOCHECKPOINT_PAGES, Database
from autohub.store.events import EventStore
from autohub.store.schema import run_steps, runs, step_attempts

RunState = Literal["pending", "running", "succeeded", "failed", "cancelled", "timed_out"]
RUN_STATES: tuple[str, ...] = get_args(RunState)
FINAL_RUN_STATES = frozenset({"succeeded", "failed", "cancelled", "timed_out"})
STEP_STATES = ("pending", "running", "succeeded", "failed", "skipped", "cancelled", "timed_out")
FINAL_STEP_STATES = frozenset({"succeeded", "failed", "skipped", "cancelled", "timed_out"})
ERROR_MAX_CHARS = 4000
SNIPPET_MAX_CHARS = 500
"""An attempt's output snippet, as stored (redacted first, then cut)."""


class LeaseLost(StoreError):
    """This runner no longer owns the run: another one claimed it after our lease expired."""


@dataclass(frozen=True)
class RunRecord:
    id: str
    automation: str
    version: str
    project_id: str
    params: dict[str, Any]
    trigger: str
    idempotency_key: str | None
    state: str
    error: str | None
    max_parallel: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deadline_at: datetime | None
    owner: str | None
    lease_expires_at: datetime | None
    cancel_requested_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_RUN_STATES

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


@dataclass(frozen=True)
class StepRecord:
    run_id: str
    step_id: str
    position: int
    state: str
    attempts: int
    next_attempt_at: datetime | None
    output: Any
    error: str | None
    method: str | None
    idempotency_key: str | None
    owner: str | None
    lease_expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.state in FINAL_STEP_STATES

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


@dataclass(frozen=True)
class AttemptRecord:
    id: int
    run_id: str
    step_id: str
    number: int
    method: str
    tier: int
    outcome: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    error: str | None
    output_snippet: str | None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self.__dict__)


@dataclass
class NewAttempt:
    """One attempt of a step (or of one of its fallback tiers), as it ended."""

    step_id: str
    number: int
    method: str
    tier: int
    outcome: str
    started_at: datetime
    finished_at: datetime
    error: str | None = None
    output_snippet: str | None = None


@dataclass
class RunChanges:
    """What one transaction changes: step rows, new attempts, events, the run row."""

    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: list[NewAttempt] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)

    def step(self, step_id: str, **values: Any) -> None:
        self.steps.setdefault(step_id, {}).update(values)

    def __bool__(self) -> bool:
        return bool(self.steps or self.attempts or self.events or self.run)


@dataclass
class NewRun:
    automation: str
    version: str
    project_id: str
    params: dict[str, Any]
    trigger: str
    step_ids: Sequence[str]
    max_parallel: int
    idempotency_key: str | None = None
    timeout_seconds: float | None = None


class RunStore:
    """Runs and their steps in the database."""

    def __init__(
        self, database: Database, events: EventStore, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.database = database
        self.events = events
        self.clock = clock
        self._connection: PoolProxiedConnection | None = None
        self._checkpointer: Checkpointer | None = None

    # -- creating ------------------------------------------------------------------------

    def create(self, new: NewRun) -> tuple[RunRecord, bool]:
        """Create a run with its steps pending; with an idempotency key already used for
        this automation, return that run instead (and False)."""
        if new.idempotency_key is not None:
            existing = self._find_by_key(new.automation, new.idempotency_key)
            if existing is not None:
                return existing, False
        row, steps, event = self._new_rows(new)
        try:
            with self.database.begin() as connection:
                connection.execute(runs.insert(), row)
                self._insert_steps(connection, steps)
                self.events.insert_rows(connection, [event])
        except IntegrityError as exc:
            if new.idempotency_key is not None:
                existing = self._find_by_key(new.automation, new.idempotency_key)
                if existing is not None:  # a concurrent trigger with the same key won
                    return existing, False
            raise self.database.translate(exc, "create run") from exc
        except self.database.errors as exc:
            raise self.database.translate(exc, "create run") from exc
        return _run_from_row(row), True

    def create_many(self, news: Sequence[NewRun]) -> list[tuple[RunRecord, bool] | AutohubError]:
        """``create`` for each, in one transaction when it can (a server taking many runs
        at once commits once for all); each result is the run, or that run's error."""
        if len(news) == 1 or any(new.idempotency_key is not None for new in news):
            return [self._create_or_error(new) for new in news]
        results: list[tuple[RunRecord, bool] | AutohubError] = []
        made = []
        for new in news:
            try:
                made.append(self._new_rows(new))
                results.append((_run_from_row(made[-1][0]), True))
            except AutohubError as exc:  # e.g. params that cannot be stored
                results.append(exc)
        if not made:
            return results
        try:
            with self.database.begin() as connection:
                connection.execute(runs.insert(), [row for row, _, _ in made])
                self._insert_steps(connection, [s for _, steps, _ in made for s in steps])
                self.events.insert_rows(connection, [event for _, _, event in made])
        except self.database.errors:  # one bad run must not fail the others: one by one
            return [self._create_or_error(new) for new in news]
        return results

    def _insert_steps(self, connection: sa.Connection, steps: list[dict[str, Any]]) -> None:
        """The new runs' step rows, on the driver's cursor (a run of 1,000 steps inserts
        1,000 rows: SQLAlchemy's bookkeeping per row would cost more than the insert)."""
        statement, adapters = driver_sql.for_dialect(self.database.dialect).insert(
            run_steps, _NEW_STEP_COLUMNS
        )
        driver_sql.driver_cursor(connection).executemany(
            statement,
            [
                driver_sql.adapt(adapters, [step[name] for name in _NEW_STEP_COLUMNS])
                for step in steps
            ],
        )

    def _create_or_error(self, new: NewRun) -> tuple[RunRecord, bool] | AutohubError:
        try:
            return self.create(new)
        except AutohubError as exc:
            return exc

    def _new_rows(self, new: NewRun) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        """The rows of a new run: the run, its steps, its ``run.created`` event."""
        now = self.clock()
        run_id = uuid.uuid4().hex
        params = self._json(new.params, "params")
        row = {
            "id": run_id,
            "automation": new.automation,
            "version": new.version,
            "project_id": new.project_id,
            "params": params,
            "trigger": new.trigger,
            "idempotency_key": new.idempotency_key,
            "state": "pending",
            "error": None,
            "max_parallel": new.max_parallel,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "deadline_at": None,
            "owner": None,
            "lease_expires_at": None,
            "cancel_requested_at": None,
        }
        steps = [
            {"run_id": run_id, "step_id": step_id, "position": position, "state": "pending",
             "attempts": 0}
            for position, step_id in enumerate(new.step_ids)
        ]  # fmt: skip
        event = self.events.prepare(
            {
                "event_type": "run.created",
                "project_id": new.project_id,
                "status": "pending",
                "run_id": run_id,
                "detected_from": "engine",
                "evidence": {
                    "automation": new.automation,
                    "version": new.version,
                    "trigger": new.trigger,
                    "params": params,
                    "steps": len(new.step_ids),
                    "idempotency_key": new.idempotency_key,
                },
            }
        )
        return row, steps, event

    # -- owning --------------------------------------------------------------------------

    def claim(self, run_id: str, owner: str, lease_seconds: float) -> RunRecord | None:
        """Take the run for ``owner`` unless a live owner holds it or it is finished."""
        now = self.clock()
        expires = now + timedelta(seconds=lease_seconds)
        table = runs
        statement = (
            table.update()
            .where(
                table.c.id == run_id,
                table.c.state.in_(("pending", "running")),
                sa.or_(
                    table.c.owner.is_(None),
                    table.c.owner == owner,
                    table.c.lease_expires_at < now,
                ),
            )
            .values(owner=owner, lease_expires_at=expires)
            .returning(*table.c)
        )
        try:
            with self.database.begin() as connection:
                claimed = connection.execute(statement).mappings().first()
        except self.database.errors as exc:
            raise self.database.translate(exc, "claim run") from exc
        return _run_from_row(dict(claimed)) if claimed is not None else None

    def renew(self, run_id: str, owner: str, lease_seconds: float) -> RunRecord:
        """Extend the lease of a run we own (and of its running steps)."""
        now = self.clock()
        expires = now + timedelta(seconds=lease_seconds)
        try:
            with self.database.begin() as connection:
                renewed = connection.execute(
                    runs.update()
                    .where(runs.c.id == run_id, runs.c.owner == owner)
                    .values(lease_expires_at=expires)
                ).rowcount
                if renewed != 1:
                    raise LeaseLost(f"run {run_id} is no longer owned by {owner}")
                connection.execute(
                    run_steps.update()
                    .where(
                        run_steps.c.run_id == run_id,
                        run_steps.c.owner == owner,
                        run_steps.c.state == "running",
                    )
                    .values(lease_expires_at=expires)
                )
        except self.database.errors as exc:
            raise self.database.translate(exc, "renew run lease") from exc
        return self.get(run_id)

    def release(self, run_id: str, owner: str) -> bool:
        """Give up ``owner``'s lease on the run and its steps now (a server shutting down
        with the run unfinished): the next runner takes it over at once instead of after
        the lease, and whatever the old owner still tries to record is refused (it no
        longer owns the run). False when ``owner`` did not hold it."""
        now = self.clock()
        try:
            with self.database.begin() as connection:
                expired = connection.execute(
                    runs.update()
                    .where(runs.c.id == run_id, runs.c.owner == owner)
                    .values(owner=None, lease_expires_at=now)
                ).rowcount
                connection.execute(  # their owner stays: the next runner names it
                    run_steps.update()
                    .where(run_steps.c.run_id == run_id, run_steps.c.owner == owner)
                    .values(lease_expires_at=now)
                )
        except self.database.errors as exc:
            raise self.database.translate(exc, "release run") from exc
        return bool(expired == 1)

    def apply(self, run_id: str, owner: str, changes: RunChanges) -> None:
        """Apply ``changes`` in one transaction, only while ``owner`` still owns the run.

        The engine's hot path: statements go to the driver's cursor (``driver_sql``).
        """
        if not changes:
            return
        sql = driver_sql.for_dialect(self.database.dialect)
        event_rows = [self.events.prepare(event) for event in changes.events]
        run_values = dict(changes.run)
        if run_values.get("error") is not None:
            run_values["error"] = self._text(run_values["error"])
        if run_values:
            run_fence, run_adapters = sql.update(runs, tuple(run_values), ("id", "owner"))
        else:  # nothing to change: only check the owner (and hold the row till the commit)
            run_fence, run_adapters = sql.owned(runs), _FENCE_ADAPTERS
        step_groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for step_id, values in changes.steps.items():
            prepared = self._step_values(values)
            step_groups.setdefault(tuple(prepared), []).append(
                (*prepared.values(), run_id, step_id)
            )
        try:
            with self._write() as cursor:
                cursor.execute(
                    run_fence,
                    driver_sql.adapt(run_adapters, (*run_values.values(), run_id, owner)),
                )
                owned = cursor.rowcount if run_values else len(cursor.fetchall())
                if owned != 1:
                    raise LeaseLost(f"run {run_id} is no longer owned by {owner}")
                for columns, group in step_groups.items():
                    statement, adapters = sql.update(run_steps, columns, ("run_id", "step_id"))
                    cursor.executemany(
                        statement, [driver_sql.adapt(adapters, values) for values in group]
                    )
                if changes.attempts:
                    statement, adapters = sql.insert(step_attempts, _ATTEMPT_COLUMNS)
                    cursor.executemany(
                        statement,
                        [
                            driver_sql.adapt(adapters, self._attempt_values(run_id, attempt))
                            for attempt in changes.attempts
                        ],
                    )
                if event_rows:
                    self.events.write_rows(cursor, event_rows)
        except self.database.errors as exc:
            raise self.database.translate(exc, "record run progress") from exc

    def request_cancel(self, run_id: str) -> RunRecord:
        """Ask the owner to cancel; a run nobody executes is cancelled at once."""
        run = self.get(run_id)
        if run.finished:
            return run
        now = self.clock()
        live_owner = run.owner is not None and (
            run.lease_expires_at is not None and run.lease_expires_at >= now
        )
        event = self.events.prepare(
            {
                "event_type": "run.cancel_requested",
                "project_id": run.project_id,
                "status": "cancelled" if not live_owner else "pending",
                "run_id": run_id,
                "detected_from": "engine",
                "evidence": {"automation": run.automation, "owner": run.owner},
            }
        )
        values: dict[str, Any] = {"cancel_requested_at": now}
        if not live_owner:
            values.update(state="cancelled", finished_at=now, owner=None, error="cancelled")
        try:
            with self.database.begin() as connection:
                connection.execute(
                    runs.update()
                    .where(runs.c.id == run_id, runs.c.state.in_(("pending", "running")))
                    .values(**values)
                )
                if not live_owner:
                    connection.execute(
                        run_steps.update()
                        .where(
                            run_steps.c.run_id == run_id,
                            run_steps.c.state.in_(("pending", "running")),
                        )
                        .values(state="cancelled", finished_at=now, owner=None)
                    )
                self.events.insert_rows(connection, [event])
        except self.database.errors as exc:
            raise self.database.translate(exc, "cancel run") from exc
        return self.get(run_id)

    def close(self) -> None:
        self._drop_connection()

    def _drop_connection(self, *, invalidate: bool = False) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if not invalidate:
            try:
                if self._checkpointer is not None:  # the pool's connections checkpoint
                    connection.driver_connection.execute(  # type: ignore[union-attr]
                        f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}"
                    )
                connection.close()  # back to the pool
                return
            except self.database.errors:
                pass  # its settings could not be restored: not for the pool
        with contextlib.suppress(*self.database.errors):
            connection.invalidate()

    # -- reading -------------------------------------------------------------------------

    def get(self, run_id: str) -> RunRecord:
        rows = self._fetch(sa.select(runs).where(runs.c.id == run_id))
        if not rows:
            raise NotFound(f"no run with id {run_id!r}")
        return _run_from_row(rows[0])

    def find(self, prefix: str) -> RunRecord:
        """A run by its id or an unambiguous prefix of at least 6 characters."""
        if len(prefix) >= 32:
            return self.get(prefix)
        if len(prefix) < 6:
            raise NotFound(f"no run with id {prefix!r} (give at least 6 characters)")
        rows = self._fetch(sa.select(runs).where(runs.c.id.like(f"{prefix}%")).limit(2))
        if not rows:
            raise NotFound(f"no run with id {prefix!r}")
        if len(rows) > 1:
            raise NotFound(f"run id {prefix!r} is ambiguous: give more characters")
        return _run_from_row(rows[0])

    def steps(self, run_id: str) -> list[StepRecord]:
        """The run's steps in definition order (on the driver's cursor: a runner reads a
        1,000-step run's rows before its first step, and SQLAlchemy's processing of each
        value would cost more than the query)."""
        statement, readers = driver_sql.for_dialect(self.database.dialect).select(
            run_steps, _STEP_COLUMNS, ("run_id",), "position"
        )
        try:
            with self.database.connect() as connection:
                cursor = driver_sql.driver_cursor(connection)
                try:
                    cursor.execute(statement, (run_id,))
                    rows = cursor.fetchall()
                finally:
                    cursor.close()
        except self.database.errors as exc:
            raise self.database.translate(exc, "read runs") from exc
        return [StepRecord(*driver_sql.adapt(readers, row)) for row in rows]

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        rows = self._fetch(
            sa.select(step_attempts)
            .where(step_attempts.c.run_id == run_id)
            .order_by(step_attempts.c.id)
        )
        return [AttemptRecord(**row) for row in rows]

    def list_runs(
        self,
        *,
        automation: str | None = None,
        states: Sequence[str] = (),
        project_id: str | None = None,
        limit: int = 50,
    ) -> list[RunRecord]:
        statement = sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit)
        if automation is not None:
            statement = statement.where(runs.c.automation == automation)
        if states:
            statement = statement.where(runs.c.state.in_(list(states)))
        if project_id is not None:
            statement = statement.where(runs.c.project_id == project_id)
        return [_run_from_row(row) for row in self._fetch(statement)]

    def orphans(self) -> list[RunRecord]:
        """Unfinished runs that nobody executes: never claimed, or their lease expired."""
        now = self.clock()
        statement = (
            sa.select(runs)
            .where(
                runs.c.state.in_(("pending", "running")),
                sa.or_(runs.c.owner.is_(None), runs.c.lease_expires_at < now),
            )
            .order_by(runs.c.created_at)
        )
        return [_run_from_row(row) for row in self._fetch(statement)]

    def completed_output(self, step_id: str, idempotency_key: str) -> tuple[bool, Any]:
        """Whether a step already succeeded under ``idempotency_key``, and its output."""
        statement = (
            sa.select(run_steps.c.output)
            .where(
                run_steps.c.idempotency_key == idempotency_key,
                run_steps.c.state == "succeeded",
                run_steps.c.step_id == step_id,
            )
            .limit(1)
        )
        rows = self._fetch(statement)
        return (True, rows[0]["output"]) if rows else (False, None)

    # -- helpers -------------------------------------------------------------------------

    def _find_by_key(self, automation: str, key: str) -> RunRecord | None:
        rows = self._fetch(
            sa.select(runs).where(runs.c.automation == automation, runs.c.idempotency_key == key)
        )
        return _run_from_row(rows[0]) if rows else None

    def _fetch(self, statement: Any) -> list[dict[str, Any]]:
        return self.database.fetch(statement, "read runs")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        """A driver cursor in a write transaction, on a connection kept for this store (no
        pool round trip, no SQLAlchemy transaction bookkeeping: the engine's hot path)."""
        if self._connection is None:
            self._connection = self.database.engine.raw_connection()
            self._checkpointer = self.database.checkpointer()
            if self._checkpointer is not None:  # checkpoints move off the hot path
                self._connection.driver_connection.execute("PRAGMA wal_autocheckpoint=0")  # type: ignore[union-attr]
        connection: Any = self._connection.driver_connection
        try:
            with self.database.write_lock:
                cursor = connection.cursor()
                if self.database.dialect == "sqlite":
                    cursor.execute("BEGIN IMMEDIATE")  # the connection is in autocommit mode
                yield cursor
                connection.commit()
            if self._checkpointer is not None:
                self._checkpointer.committed()
        except BaseException as exc:
            with contextlib.suppress(*self.database.errors):
                connection.rollback()
            if isinstance(exc, self.database.errors):
                self._drop_connection(invalidate=True)  # a broken connection is not reused
            raise

    def _json(self, value: Any, where: str) -> Any:
        """``value`` made safe, redacted and capped, as data (for a record returned too)."""
        return evidence.prepare(value, where, self.events.redactor, **self._caps())

    def _json_text(self, value: Any, where: str) -> evidence.StoredJson:
        """The same as stored text: encoded once, written as it is."""
        return evidence.encode(value, where, self.events.redactor, **self._caps())

    def _caps(self) -> dict[str, int]:
        limits = self.events.limits
        return {
            "max_bytes": limits.evidence_max_bytes,
            "max_string_chars": limits.string_max_chars,
        }

    def _text(self, text: str, max_chars: int = ERROR_MAX_CHARS) -> str:
        """``text`` redacted, then cut to ``max_chars`` with a marker (after redaction, so
        that a secret is never cut in half and left unrecognised)."""
        redacted = self.events.redactor.text(evidence.clean_text(text))
        if len(redacted) > max_chars:
            cut = len(redacted) - max_chars
            redacted = f"{redacted[:max_chars]}…[truncated {cut} chars]"
        return redacted

    def _step_values(self, values: dict[str, Any]) -> dict[str, Any]:
        prepared = dict(values)
        if prepared.get("output") is not None:
            prepared["output"] = self._json_text(prepared["output"], "output")
        if prepared.get("error") is not None:
            prepared["error"] = self._text(prepared["error"])
        return prepared

    def _attempt_values(self, run_id: str, attempt: NewAttempt) -> tuple[Any, ...]:
        """The values of ``_ATTEMPT_COLUMNS`` for a new attempt."""
        return (
            run_id,
            attempt.step_id,
            attempt.number,
            attempt.method,
            attempt.tier,
            attempt.outcome,
            attempt.started_at,
            attempt.finished_at,
            max(0.0, (attempt.finished_at - attempt.started_at).total_seconds()),
            self._text(attempt.error) if attempt.error else None,
            self._text(attempt.output_snippet, SNIPPET_MAX_CHARS)
            if attempt.output_snippet
            else None,
        )


_STEP_COLUMNS = tuple(field.name for field in dataclasses.fields(StepRecord))
_FENCE_ADAPTERS = driver_sql.Adapters((driver_sql.same, driver_sql.same))
_NEW_STEP_COLUMNS = ("run_id", "step_id", "position", "state", "attempts")
_ATTEMPT_COLUMNS = (
    "run_id",
    "step_id",
    "number",
    "method",
    "tier",
    "outcome",
    "started_at",
    "finished_at",
    "duration_seconds",
    "error",
    "output_snippet",
)


def _run_from_row(row: dict[str, Any]) -> RunRecord:
    return RunRecord(**row)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in data.items()
    }
