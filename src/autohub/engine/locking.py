"""Taking several concurrency leases at once without deadlock or busy waiting.

Keys are always taken in sorted order, so two holders whose key sets overlap can never
each hold what the other waits for. Between polls the waiter sleeps with exponential
backoff; leases already taken are renewed while it waits for the next key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from autohub.errors import AutohubError, InvalidInput
from autohub.registry.policies import ConcurrencyPolicy
from autohub.store.locks import Granted, Queued


class LockLost(AutohubError):
    """A lease expired before it was renewed; its fencing token is no longer valid."""


@dataclass(frozen=True)
class LockRequest:
    """One key to hold: at most ``limit`` holders at once, each lease ``lease_seconds`` long."""

    key: str
    limit: int = 1
    lease_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not self.key:
            raise InvalidInput("lock key: must not be empty")
        if self.limit < 1:
            raise InvalidInput(f"lock {self.key}: limit must be at least 1, got {self.limit}")
        if self.lease_seconds <= 0:
            raise InvalidInput(
                f"lock {self.key}: lease_seconds must be positive, got {self.lease_seconds}"
            )

    @classmethod
    def from_policy(cls, policy: ConcurrencyPolicy, key: str) -> LockRequest:
        """The request of a concurrency policy whose key template rendered to ``key``."""
        return cls(key, policy.limit, float(policy.lease))


class LockBackend(Protocol):
    """What acquire_all needs of a LockStore."""

    def try_acquire(
        self,
        key: str,
        holder: str,
        limit: int,
        lease_seconds: float,
        *,
        project_id: str,
        run_id: str | None = None,
    ) -> Granted | Queued: ...

    def release(self, key: str, holder: str) -> bool: ...


async def acquire_all(
    store: LockBackend,
    requests: Iterable[LockRequest],
    holder: str,
    *,
    project_id: str,
    run_id: str | None = None,
    poll_initial: float = 0.05,
    poll_max: float = 1.0,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> list[tuple[str, int]]:
    """Hold every requested key; returns ``(key, fencing token)`` pairs in key order.

    Waits as long as it takes (wrap it in ``asyncio.timeout`` to bound the wait). If it
    is cancelled or fails, every key taken so far is released and every queue left.
    """
    ordered = _sorted_unique(requests)
    loop = asyncio.get_running_loop()
    held: list[tuple[str, int]] = []
    renew_at: dict[str, float] = {}
    try:
        for request in ordered:
            delay = poll_initial
            while True:
                answer = store.try_acquire(
                    request.key,
                    holder,
                    request.limit,
                    request.lease_seconds,
                    project_id=project_id,
                    run_id=run_id,
                )
                if isinstance(answer, Granted):
                    held.append((request.key, answer.token))
                    renew_at[request.key] = loop.time() + request.lease_seconds / 2
                    break
                pause = delay
                if renew_at:
                    pause = min(pause, max(min(renew_at.values()) - loop.time(), 0.0))
                await sleep(pause)
                delay = min(delay * 2, poll_max)
                _renew_due(store, ordered, held, renew_at, holder, loop.time(), project_id, run_id)
    except BaseException:
        for request in ordered:
            store.release(request.key, holder)
        raise
    return held


def _sorted_unique(requests: Iterable[LockRequest]) -> list[LockRequest]:
    by_key: dict[str, LockRequest] = {}
    for request in requests:
        known = by_key.setdefault(request.key, request)
        if known != request:
            raise InvalidInput(
                f"lock {request.key}: requested twice with different limits or leases"
            )
    return [by_key[key] for key in sorted(by_key)]


def _renew_due(
    store: LockBackend,
    requests: list[LockRequest],
    held: list[tuple[str, int]],
    renew_at: dict[str, float],
    holder: str,
    now: float,
    project_id: str,
    run_id: str | None,
) -> None:
    """Renew the leases already taken whose half-life has passed while waiting."""
    by_key = {request.key: request for request in requests}
    for key, token in held:
        if renew_at[key] > now:
            continue
        request = by_key[key]
        answer = store.try_acquire(
            key,
            holder,
            request.limit,
            request.lease_seconds,
            project_id=project_id,
            run_id=run_id,
        )
        if answer != Granted(token):
            raise LockLost(f"lock {key}: lease {token} expired while waiting for the next key")
        renew_at[key] = now + request.lease_seconds / 2
