"""Concurrency leases in the store on both databases: limits, FIFO waiters, fencing
tokens, expiry of crashed holders and waiters, renewal, and their events."""

from __future__ import annotations

from datetime import timedelta

import pytest
from locking_helpers import START, FakeClock, events

from autohub.errors import InvalidInput
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.locks import Granted, LockStore, Queued

LEASE = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def locks(database: Database, clock: FakeClock) -> LockStore:
    return LockStore(database, EventStore(database, clock=clock), clock)


def take(
    locks: LockStore, holder: str, key: str = "deploy", limit: int = 1, lease: float = LEASE
) -> Granted | Queued:
    return locks.try_acquire(key, holder, limit, lease, project_id="web", run_id=f"run-{holder}")


def test_limit_one_is_a_mutex(locks: LockStore) -> None:
    assert take(locks, "a") == Granted(1)
    assert take(locks, "b") == Queued(0)
    assert take(locks, "b") == Queued(0)

    assert locks.release("deploy", "a")
    assert take(locks, "b") == Granted(2)
    assert [lease.holder for lease in locks.holders("deploy")] == ["b"]
    assert locks.waiters("deploy") == []


def test_limit_two_admits_two_holders(locks: LockStore) -> None:
    assert take(locks, "a", limit=2) == Granted(1)
    assert take(locks, "b", limit=2) == Granted(2)
    assert take(locks, "c", limit=2) == Queued(0)

    locks.release("deploy", "a")
    assert take(locks, "c", limit=2) == Granted(3)
    assert [(lease.holder, lease.token) for lease in locks.holders("deploy")] == [
        ("b", 2),
        ("c", 3),
    ]


def test_waiters_are_served_in_order_without_barging(locks: LockStore) -> None:
    take(locks, "a")
    for holder in "bcd":
        take(locks, holder)
    locks.release("deploy", "a")

    # d and c ask first, but b waited longest.
    assert take(locks, "d") == Queued(2)
    assert take(locks, "c") == Queued(1)
    assert take(locks, "e") == Queued(3)  # a newcomer queues at the back
    assert take(locks, "b") == Granted(2)

    order = []
    for _ in range(4):
        current = locks.holders("deploy")[0].holder
        order.append(current)
        locks.release("deploy", current)
        for holder in "cde":
            take(locks, holder)
    assert order == ["b", "c", "d", "e"]


def test_a_holder_asking_again_renews_its_lease_and_keeps_its_token(
    locks: LockStore, clock: FakeClock
) -> None:
    take(locks, "a")
    clock.advance(seconds=20)

    assert take(locks, "a") == Granted(1)

    assert locks.holders("deploy")[0].expires_at == START + timedelta(seconds=20 + LEASE)
    assert len(events(locks.database, "lock.acquired")) == 1


def test_fencing_tokens_strictly_increase_per_key(locks: LockStore, clock: FakeClock) -> None:
    tokens = []
    for index in range(6):
        holder = f"h{index}"
        answer = take(locks, holder)
        assert isinstance(answer, Granted)
        tokens.append(answer.token)
        if index % 2:
            locks.release("deploy", holder)
        else:
            clock.advance(seconds=LEASE)  # let the lease expire instead
    assert tokens == [1, 2, 3, 4, 5, 6]
    assert take(locks, "x", key="other") == Granted(1)


def test_an_expired_lease_blocks_nobody_for_longer_than_its_lease(
    locks: LockStore, clock: FakeClock
) -> None:
    take(locks, "crashed", lease=10)
    clock.advance(seconds=9.9)
    assert take(locks, "b") == Queued(0)
    assert [lease.holder for lease in locks.holders("deploy")] == ["crashed"]

    clock.advance(seconds=0.1)
    assert locks.holders("deploy") == []
    assert take(locks, "b") == Granted(2)
    # The crashed holder lost its lease: asking again queues it, with no token of its own.
    assert take(locks, "crashed", lease=10) == Queued(0)


def test_a_waiter_that_stops_asking_is_dropped_after_its_lease(
    locks: LockStore, clock: FakeClock
) -> None:
    take(locks, "a", lease=100)
    take(locks, "gone", lease=10)  # queued first, then its process dies
    clock.advance(seconds=5)
    take(locks, "b", lease=10)
    locks.release("deploy", "a")

    assert take(locks, "b", lease=10) == Queued(1)
    clock.advance(seconds=5)
    assert take(locks, "b", lease=10) == Granted(2)
    assert [waiter.holder for waiter in locks.waiters("deploy")] == []


def test_release_all_and_renew_cover_every_key_of_a_holder(
    locks: LockStore, clock: FakeClock
) -> None:
    for key in ("a", "b", "c"):
        take(locks, "h", key=key)
    take(locks, "other", key="c")
    take(locks, "h", key="d", lease=5)
    clock.advance(seconds=10)

    assert locks.renew("h", 60) == ["a", "b", "c"]  # d expired: lost
    assert locks.holders("a")[0].expires_at == clock.now + timedelta(seconds=60)

    assert locks.release_all("h") == 3
    assert locks.holders("a") == []
    assert take(locks, "other", key="c") == Granted(2)
    assert not locks.release("c", "h")


def test_release_leaves_the_queue(locks: LockStore) -> None:
    take(locks, "a")
    take(locks, "b")
    take(locks, "c")
    assert not locks.release("deploy", "b")

    locks.release("deploy", "a")
    assert take(locks, "c") == Granted(2)


def test_events_record_the_wait_once_and_each_grant(locks: LockStore, clock: FakeClock) -> None:
    take(locks, "a", limit=1)
    take(locks, "b", limit=1)
    clock.advance(seconds=3)
    take(locks, "b", limit=1)
    locks.release("deploy", "a")
    clock.advance(seconds=2)
    take(locks, "b", limit=1)

    found = events(locks.database, "lock.")
    assert [(e["event_type"], e["status"], e["run_id"]) for e in found] == [
        ("lock.acquired", "success", "run-a"),
        ("lock.waited", "pending", "run-b"),
        ("lock.acquired", "success", "run-b"),
    ]
    assert [e["evidence"] for e in found] == [
        {"key": "deploy", "holder": "a", "fence": 1, "waited_seconds": 0.0, "limit": 1},
        {"key": "deploy", "holder": "b", "position": 0, "limit": 1},
        {"key": "deploy", "holder": "b", "fence": 2, "waited_seconds": 5.0, "limit": 1},
    ]


def test_a_failed_event_insert_rolls_back_the_grant(database: Database, clock: FakeClock) -> None:
    locks = LockStore(database, EventStore(database, clock=clock), clock)
    with pytest.raises(InvalidInput):  # the event's project id is invalid
        locks.try_acquire("deploy", "a", 1, LEASE, project_id="not valid!")

    assert locks.holders("deploy") == []
    assert take(locks, "b") == Granted(1)


@pytest.mark.parametrize(
    ("limit", "lease"),
    [(0, 10.0), (1, 0.0)],
)
def test_impossible_limits_and_leases_are_refused(
    locks: LockStore, limit: int, lease: float
) -> None:
    with pytest.raises(InvalidInput):
        take(locks, "a", limit=limit, lease=lease)
