"""Concurrency leases: at most ``limit`` holders of a key at once, waiters served in order.

A holder gets a lease that expires unless renewed, so a crashed holder blocks nobody
for longer than its lease. Each grant carries a fencing token that strictly increases
per key. Waiters queue FIFO in ``lock_waiters`` and are granted only when every waiter
ahead of them could be too (no barging); a waiter that stops asking is dropped once its
expiry (one lease, refreshed on every ask) passes.

Concurrent acquirers of a key are serialised on its ``lock_tokens`` row: PostgreSQL
locks it (``SELECT ... FOR UPDATE``); SQLite's write transactions are ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from autohub.clock import utcnow
from autohub.errors import InvalidInput
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.schema import lock_leases, lock_tokens, lock_waiters


@dataclass(frozen=True)
class Granted:
    """The holder holds the key; ``token`` is its fencing token."""

    token: int


@dataclass(frozen=True)
class Queued:
    """The holder waits; ``position`` is how many waiters are ahead of it (0: next)."""

    position: int


@dataclass(frozen=True)
class Lease:
    key: str
    holder: str
    token: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Waiter:
    key: str
    holder: str
    enqueued_at: datetime
    expires_at: datetime


@dataclass
class LockStore:
    """Leases on keys in the database; each operation is one transaction."""

    database: Database
    events: EventStore
    clock: Callable[[], datetime] = utcnow

    def try_acquire(
        self,
        key: str,
        holder: str,
        limit: int,
        lease_seconds: float,
        *,
        project_id: str,
        run_id: str | None = None,
    ) -> Granted | Queued:
        """Take a lease on ``key`` now, or join (or stay in) its queue. Never blocks long.

        A holder that already holds the key renews its lease and keeps its token.
        """
        if limit < 1:
            raise InvalidInput(f"limit: must be at least 1, got {limit}")
        if lease_seconds <= 0:
            raise InvalidInput(f"lease_seconds: must be positive, got {lease_seconds}")
        now = self.clock()
        expires_at = now + timedelta(seconds=lease_seconds)
        try:
            with self.database.begin() as connection:
                self._lock_key(connection, key)
                self._drop_expired(connection, key, now)
                token = self._renew_lease(connection, key, holder, expires_at)
                if token is not None:
                    return Granted(token)
                held = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(lock_leases)
                    .where(lock_leases.c.key == key)
                ).scalar_one()
                position, enqueued_at = self._queue_place(connection, key, holder)
                if held + position < limit:
                    token = self._grant(connection, key, holder, now, expires_at)
                    evidence = {
                        "key": key,
                        "holder": holder,
                        "fence": token,  # the fencing token ("token" keys are redacted)
                        "waited_seconds": max((now - (enqueued_at or now)).total_seconds(), 0.0),
                        "limit": limit,
                    }
                    event = self._event(
                        "lock.acquired", "success", evidence, project_id, run_id, now
                    )
                    self.events.insert_rows(connection, [event])
                    return Granted(token)
                self._enqueue(connection, key, holder, now, expires_at, new=enqueued_at is None)
                if enqueued_at is None:
                    evidence = {"key": key, "holder": holder, "position": position, "limit": limit}
                    event = self._event("lock.waited", "pending", evidence, project_id, run_id, now)
                    self.events.insert_rows(connection, [event])
                return Queued(position)
        except self.database.errors as exc:
            raise self.database.translate(exc, f"acquire lock {key}") from exc

    def release(self, key: str, holder: str) -> bool:
        """Give up ``key`` (its lease, or its place in the queue); True if a lease was held."""
        mine = sa.and_(lock_leases.c.key == key, lock_leases.c.holder == holder)
        queued = sa.and_(lock_waiters.c.key == key, lock_waiters.c.holder == holder)
        return self._release(mine, queued, f"release lock {key}") > 0

    def release_all(self, holder: str) -> int:
        """Give up every lease and queue place of ``holder``; returns how many leases it held."""
        mine = lock_leases.c.holder == holder
        queued = lock_waiters.c.holder == holder
        return self._release(mine, queued, f"release the locks of {holder}")

    def _release(
        self, leases: sa.ColumnElement[bool], waiters: sa.ColumnElement[bool], action: str
    ) -> int:
        """Delete the leases and waiters matched; returns how many leases had not expired."""
        now = self.clock()
        try:
            with self.database.begin() as connection:
                connection.execute(lock_waiters.delete().where(waiters))
                alive = connection.execute(
                    sa.select(sa.func.count())
                    .select_from(lock_leases)
                    .where(leases, lock_leases.c.expires_at > now)
                ).scalar_one()
                connection.execute(lock_leases.delete().where(leases))
        except self.database.errors as exc:
            raise self.database.translate(exc, action) from exc
        return int(alive)

    def renew(self, holder: str, lease_seconds: float) -> list[str]:
        """Extend every unexpired lease of ``holder``; returns the keys it still holds.

        A key missing from the answer was lost (its lease expired): stop using it.
        """
        if lease_seconds <= 0:
            raise InvalidInput(f"lease_seconds: must be positive, got {lease_seconds}")
        now = self.clock()
        leases = lock_leases
        alive = sa.and_(leases.c.holder == holder, leases.c.expires_at > now)
        try:
            with self.database.begin() as connection:
                connection.execute(
                    leases.update()
                    .where(alive)
                    .values(expires_at=now + timedelta(seconds=lease_seconds))
                )
                keys = connection.execute(
                    sa.select(leases.c.key).where(alive).order_by(leases.c.key)
                ).scalars()
                return list(keys)
        except self.database.errors as exc:
            raise self.database.translate(exc, f"renew the locks of {holder}") from exc

    def holders(self, key: str) -> list[Lease]:
        """The unexpired leases on ``key``, oldest token first."""
        leases = lock_leases
        statement = (
            sa.select(leases)
            .where(leases.c.key == key, leases.c.expires_at > self.clock())
            .order_by(leases.c.token)
        )
        return [Lease(**row) for row in self._read(statement, f"read lock {key}")]

    def waiters(self, key: str) -> list[Waiter]:
        """The unexpired waiters of ``key``, in the order they will be served."""
        waiters = lock_waiters
        statement = (
            sa.select(waiters.c.key, waiters.c.holder, waiters.c.enqueued_at, waiters.c.expires_at)
            .where(waiters.c.key == key, waiters.c.expires_at > self.clock())
            .order_by(waiters.c.id)
        )
        return [Waiter(**row) for row in self._read(statement, f"read lock {key}")]

    def _read(self, statement: sa.Select[Any], action: str) -> list[dict[str, Any]]:
        return self.database.fetch(statement, action)

    def _lock_key(self, connection: sa.Connection, key: str) -> None:
        """Lock the key's token row until the transaction ends, creating it if missing."""
        tokens = lock_tokens
        connection.execute(
            self.database.insert_ignoring_duplicates(tokens).values(key=key, last_token=0)
        )
        connection.execute(
            sa.select(tokens.c.last_token).where(tokens.c.key == key).with_for_update()
        )

    def _drop_expired(self, connection: sa.Connection, key: str, now: datetime) -> None:
        leases, waiters = lock_leases, lock_waiters
        connection.execute(leases.delete().where(leases.c.key == key, leases.c.expires_at <= now))
        connection.execute(
            waiters.delete().where(waiters.c.key == key, waiters.c.expires_at <= now)
        )

    def _renew_lease(
        self, connection: sa.Connection, key: str, holder: str, expires_at: datetime
    ) -> int | None:
        """Extend the holder's lease on the key; its token, or None if it holds none."""
        leases = lock_leases
        mine = sa.and_(leases.c.key == key, leases.c.holder == holder)
        token = connection.execute(sa.select(leases.c.token).where(mine)).scalar()
        if token is not None:
            connection.execute(leases.update().where(mine).values(expires_at=expires_at))
        return None if token is None else int(token)

    def _queue_place(
        self, connection: sa.Connection, key: str, holder: str
    ) -> tuple[int, datetime | None]:
        """How many waiters are ahead of the holder, and when it joined (None: not queued)."""
        waiters = lock_waiters
        queue = connection.execute(
            sa.select(waiters.c.holder, waiters.c.enqueued_at)
            .where(waiters.c.key == key)
            .order_by(waiters.c.id)
        ).all()
        for position, (queued, enqueued_at) in enumerate(queue):
            if queued == holder:
                return position, enqueued_at
        return len(queue), None

    def _enqueue(
        self,
        connection: sa.Connection,
        key: str,
        holder: str,
        now: datetime,
        expires_at: datetime,
        *,
        new: bool,
    ) -> None:
        """Queue the holder, or refresh the expiry of its place."""
        waiters = lock_waiters
        if new:
            connection.execute(
                waiters.insert().values(
                    key=key, holder=holder, enqueued_at=now, expires_at=expires_at
                )
            )
        else:
            connection.execute(
                waiters.update()
                .where(waiters.c.key == key, waiters.c.holder == holder)
                .values(expires_at=expires_at)
            )

    def _grant(
        self,
        connection: sa.Connection,
        key: str,
        holder: str,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        """Leave the queue, take the key's next fencing token and the lease; the token."""
        tokens, waiters = lock_tokens, lock_waiters
        connection.execute(waiters.delete().where(waiters.c.key == key, waiters.c.holder == holder))
        token = connection.execute(
            tokens.update()
            .where(tokens.c.key == key)
            .values(last_token=tokens.c.last_token + 1)
            .returning(tokens.c.last_token)
        ).scalar_one()
        connection.execute(
            lock_leases.insert().values(
                key=key, holder=holder, token=token, acquired_at=now, expires_at=expires_at
            )
        )
        return int(token)

    def _event(
        self,
        event_type: str,
        status: str,
        evidence: dict[str, Any],
        project_id: str,
        run_id: str | None,
        now: datetime,
    ) -> dict[str, Any]:
        return self.events.prepare(
            {
                "event_type": event_type,
                "project_id": project_id,
                "status": status,
                "run_id": run_id,
                "created_at": now,
                "detected_from": "lock",
                "evidence": evidence,
            }
        )
