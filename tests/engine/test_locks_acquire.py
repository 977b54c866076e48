"""acquire_all on both databases: sorted order, waiting without spinning, release on
cancellation, renewal while waiting, and real contention between processes."""

from __future__ import annotations

import asyncio
import json
import random
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from locking_helpers import (
    GO_FILE_ENV,
    WAIT_FOR_GO,
    events,
    finish,
    start_python,
    start_together,
)

from autohub.engine.locking import LockRequest, acquire_all
from autohub.errors import InvalidInput
from autohub.registry.policies import ConcurrencyPolicy
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.locks import Granted, LockStore, Queued


class CountingStore:
    """A LockStore that remembers every try_acquire call."""

    def __init__(self, store: LockStore) -> None:
        self.store = store
        self.calls: list[tuple[str, str]] = []

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
        self.calls.append((key, holder))
        return self.store.try_acquire(
            key, holder, limit, lease_seconds, project_id=project_id, run_id=run_id
        )

    def release(self, key: str, holder: str) -> bool:
        return self.store.release(key, holder)

    def polls(self, holder: str) -> Counter[str]:
        return Counter(key for key, who in self.calls if who == holder)


@pytest.fixture
def locks(database: Database) -> LockStore:
    return LockStore(database, EventStore(database))


def take(store: LockStore, key: str, holder: str, lease: float = 30) -> None:
    assert isinstance(store.try_acquire(key, holder, 1, lease, project_id="web"), Granted)


def test_lock_requests_come_from_concurrency_policies() -> None:
    policy = ConcurrencyPolicy.model_validate(
        {"key": "deploy-{{ env }}", "limit": 2, "lease": "2m"}
    )
    assert LockRequest.from_policy(policy, "deploy-prod") == LockRequest("deploy-prod", 2, 120.0)
    with pytest.raises(InvalidInput):
        LockRequest("x", limit=0)


def test_keys_are_taken_in_sorted_order(locks: LockStore) -> None:
    counting = CountingStore(locks)
    requests = [LockRequest("c"), LockRequest("a", 2), LockRequest("b"), LockRequest("a", 2)]

    held = asyncio.run(acquire_all(counting, requests, "h", project_id="web"))

    assert [key for key, _ in held] == ["a", "b", "c"]
    assert [token for _, token in held] == [1, 1, 1]
    assert [key for key, _ in counting.calls] == ["a", "b", "c"]


def test_a_key_requested_twice_differently_is_refused(locks: LockStore) -> None:
    requests = [LockRequest("a", 1), LockRequest("a", 2)]
    with pytest.raises(InvalidInput, match="requested twice"):
        asyncio.run(acquire_all(locks, requests, "h", project_id="web"))
    assert locks.holders("a") == []


def test_waiting_polls_a_handful_of_times_not_hundreds(locks: LockStore) -> None:
    counting = CountingStore(locks)
    take(locks, "k", "first")

    async def scenario() -> list[tuple[str, int]]:
        waiter = asyncio.create_task(
            acquire_all(counting, [LockRequest("k")], "second", project_id="web")
        )
        await asyncio.sleep(1.0)
        assert not waiter.done()
        locks.release("k", "first")
        return await asyncio.wait_for(waiter, timeout=10)

    started = time.monotonic()
    held = asyncio.run(scenario())

    assert held == [("k", 2)]
    assert time.monotonic() - started < 3
    assert 3 <= counting.polls("second")["k"] <= 10


def test_cancellation_releases_what_is_held_and_leaves_the_queues(locks: LockStore) -> None:
    take(locks, "b", "other")

    async def scenario() -> None:
        task = asyncio.create_task(
            acquire_all(locks, [LockRequest("b"), LockRequest("a")], "h", project_id="web")
        )
        await asyncio.sleep(0.3)
        assert [lease.holder for lease in locks.holders("a")] == ["h"]
        assert [waiter.holder for waiter in locks.waiters("b")] == ["h"]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())

    assert locks.holders("a") == []
    assert locks.waiters("b") == []


def test_a_timeout_around_it_releases_too(locks: LockStore) -> None:
    take(locks, "b", "other")

    async def scenario() -> None:
        async with asyncio.timeout(0.3):
            await acquire_all(locks, [LockRequest("a"), LockRequest("b")], "h", project_id="web")

    with pytest.raises(TimeoutError):
        asyncio.run(scenario())
    assert locks.holders("a") == []
    assert locks.waiters("b") == []


def test_leases_already_taken_are_renewed_while_waiting(locks: LockStore) -> None:
    take(locks, "b", "other")
    requests = [LockRequest("a", lease_seconds=0.6), LockRequest("b", lease_seconds=0.6)]

    async def scenario() -> list[tuple[str, int]]:
        task = asyncio.create_task(
            acquire_all(locks, requests, "h", project_id="web", poll_max=0.5)
        )
        await asyncio.sleep(1.5)  # more than two leases of "a"
        assert [lease.holder for lease in locks.holders("a")] == ["h"]
        locks.release("b", "other")
        return await asyncio.wait_for(task, timeout=10)

    held = asyncio.run(scenario())

    assert held == [("a", 1), ("b", 2)]
    assert [(lease.holder, lease.token) for lease in locks.holders("a")] == [("h", 1)]


# -- contention between processes -----------------------------------------------------------

MUTEX_USER = WAIT_FOR_GO + textwrap.dedent(
    """
    import asyncio, os, random
    from autohub.engine.locking import LockRequest, acquire_all
    from autohub.store.database import Database
    from autohub.store.events import EventStore
    from autohub.store.locks import LockStore

    database = Database.create(os.environ["AUTOHUB_TEST_DATABASE_URL"])
    store = LockStore(database, EventStore(database))
    me, path = os.environ["WORKER_NAME"], os.environ["SHARED_FILE"]

    def write(line):
        with open(path, "a") as shared:
            shared.write(line + "\\n")

    async def main():
        for round in range(int(os.environ["ROUNDS"])):
            holder = f"{me}-{round}"
            [(_, token)] = await acquire_all(
                store, [LockRequest("shared", 1, 30)], holder,
                project_id="web", poll_initial=0.005, poll_max=0.05)
            write(f"enter {me} {token}")
            await asyncio.sleep(random.uniform(0, 0.02))
            write(f"exit {me} {token}")
            store.release("shared", holder)

    wait_for_go()
    asyncio.run(main())
"""
)


def test_a_mutex_between_two_processes_never_overlaps(database: Database, tmp_path: Path) -> None:
    shared, go = tmp_path / "shared.log", tmp_path / "go"
    rounds = 15
    env = {"SHARED_FILE": str(shared), "ROUNDS": str(rounds), GO_FILE_ENV: str(go)}
    processes = [
        start_python(MUTEX_USER, database, WORKER_NAME=name, **env) for name in ("p1", "p2")
    ]
    start_together(processes, go)
    for process in processes:
        finish(process)

    lines = [line.split() for line in shared.read_text().splitlines()]
    assert len(lines) == 2 * rounds * 2
    tokens = []
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter[0] == "enter", lines
        assert leave[:1] == ["exit"], lines
        assert enter[1:] == leave[1:], "another holder entered before this one left"
        tokens.append(int(enter[2]))
    assert tokens == sorted(set(tokens)), "fencing tokens must strictly increase"
    assert {line[1] for line in lines} == {"p1", "p2"}
    assert events(database, "lock.waited"), "the processes never contended"


KEY_SETS = [("a", "b"), ("b", "c"), ("c", "a")]

OVERLAPPING_USER = WAIT_FOR_GO + textwrap.dedent(
    """
    import asyncio, json, os, random
    from autohub.engine.locking import LockRequest, acquire_all
    from autohub.store.database import Database
    from autohub.store.events import EventStore
    from autohub.store.locks import LockStore

    database = Database.create(os.environ["AUTOHUB_TEST_DATABASE_URL"])
    store = LockStore(database, EventStore(database))
    me = os.environ["WORKER_NAME"]
    key_sets = json.loads(os.environ["KEY_SETS"])

    async def main():
        for round in range(int(os.environ["ROUNDS"])):
            keys = list(random.choice(key_sets))
            random.shuffle(keys)
            holder = f"{me}-{round}"
            await acquire_all(store, [LockRequest(key) for key in keys], holder,
                              project_id="web", poll_initial=0.005, poll_max=0.05)
            await asyncio.sleep(random.uniform(0, 0.005))
            store.release_all(holder)

    wait_for_go()
    asyncio.run(main())
    print("done")
"""
)


def test_overlapping_key_sets_are_acquired_without_deadlock(
    locks: LockStore, tmp_path: Path
) -> None:
    rounds = 12
    go = tmp_path / "go"
    env = {"KEY_SETS": json.dumps(KEY_SETS), "ROUNDS": str(rounds), GO_FILE_ENV: str(go)}
    processes = [
        start_python(OVERLAPPING_USER, locks.database, WORKER_NAME=f"proc{index}", **env)
        for index in range(2)
    ]
    start_together(processes, go)
    inside: dict[str, str] = {}

    async def actor(name: str) -> int:
        done = 0
        for round_ in range(rounds):
            keys = list(random.choice(KEY_SETS))
            random.shuffle(keys)
            holder = f"{name}-{round_}"
            await acquire_all(
                locks,
                [LockRequest(key) for key in keys],
                holder,
                project_id="web",
                poll_initial=0.005,
                poll_max=0.05,
            )
            for key in keys:
                assert key not in inside, f"{holder} and {inside[key]} both hold {key}"
                inside[key] = holder
            await asyncio.sleep(random.uniform(0, 0.005))
            for key in keys:
                del inside[key]
            locks.release_all(holder)
            done += 1
        return done

    async def scenario() -> list[int]:
        async with asyncio.timeout(90):
            return await asyncio.gather(*(actor(f"task{index}") for index in range(3)))

    assert asyncio.run(scenario()) == [rounds] * 3
    assert [finish(process).strip() for process in processes] == ["done", "done"]
    assert events(locks.database, "lock.waited"), "the actors never contended"
    for key in "abc":
        assert locks.holders(key) == []
        assert locks.waiters(key) == []
