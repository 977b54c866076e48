"""Breakers in the store on both databases: transitions, their events in the same
transaction, and one breaker shared by two processes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from locking_helpers import START, FakeClock, Worker, events, finish, rows, start_python

from autohub.engine.breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerSettings,
    BreakerState,
    BreakerStore,
    Permit,
)
from autohub.errors import StoreError
from autohub.store.database import Database
from autohub.store.events import EventStore, NewEvent

SETTINGS = BreakerSettings(failure_threshold=3, reset_timeout_seconds=10, half_open_probes=1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breakers(database: Database, clock: FakeClock) -> BreakerStore:
    return BreakerStore(database, EventStore(database, clock=clock), clock)


def fail(store: BreakerStore, name: str = "smtp", times: int = 1) -> str:
    state = ""
    for _ in range(times):
        permit = store.acquire(name, SETTINGS, project_id="web")
        state = store.record(
            name, SETTINGS, success=False, probe=permit.probe, project_id="web", run_id="run-1"
        )
    return state


def evidence(frm: str, to: str, failures: int, name: str = "smtp") -> dict[str, Any]:
    return {
        "breaker": name,
        "failures": failures,
        "failure_threshold": 3,
        "reset_timeout_seconds": 10.0,
        "from": frm,
        "to": to,
    }


def test_a_breaker_never_used_is_closed_and_has_no_row(
    breakers: BreakerStore, database: Database
) -> None:
    assert breakers.acquire("smtp", SETTINGS, project_id="web") == Permit(allowed=True)
    assert breakers.get("smtp") == BreakerState()
    assert breakers.all() == {}
    assert rows(database, "SELECT name FROM breakers") == []


def test_failures_open_it_at_the_threshold_with_one_event(
    breakers: BreakerStore, database: Database, clock: FakeClock
) -> None:
    assert fail(breakers, times=2) == CLOSED
    assert breakers.get("smtp").failures == 2
    assert events(database, "breaker.") == []

    assert fail(breakers) == OPEN

    state = breakers.get("smtp")
    assert (state.state, state.failures, state.opened_at) == (OPEN, 3, START)
    assert events(database, "breaker.") == [
        {
            "event_type": "breaker.opened",
            "status": "warning",
            "project_id": "web",
            "run_id": "run-1",
            "evidence": evidence(CLOSED, OPEN, 3),
        }
    ]


def test_an_open_breaker_refuses_calls_until_its_reset_timeout(
    breakers: BreakerStore, clock: FakeClock
) -> None:
    fail(breakers, times=3)
    clock.advance(seconds=4)

    permit = breakers.acquire("smtp", SETTINGS, project_id="web")

    assert not permit.allowed
    assert permit.retry_after_seconds == pytest.approx(6)
    assert breakers.get("smtp").state == OPEN


def test_a_full_cycle_writes_exactly_one_event_per_transition(
    breakers: BreakerStore, database: Database, clock: FakeClock
) -> None:
    fail(breakers, times=3)
    clock.advance(seconds=10)
    probe = breakers.acquire("smtp", SETTINGS, project_id="web", run_id="run-2")
    refused = breakers.acquire("smtp", SETTINGS, project_id="web", run_id="run-3")
    assert probe == Permit(allowed=True, probe=True)
    assert not refused.allowed

    state = breakers.record(
        "smtp", SETTINGS, success=False, probe=True, project_id="web", run_id="run-2"
    )
    assert state == OPEN
    clock.advance(seconds=10)
    probe = breakers.acquire("smtp", SETTINGS, project_id="web", run_id="run-4")
    state = breakers.record(
        "smtp", SETTINGS, success=True, probe=probe.probe, project_id="web", run_id="run-4"
    )

    assert state == CLOSED
    assert breakers.get("smtp") == BreakerState(CLOSED, 0, 0, None, clock.now)
    found = events(database, "breaker.")
    assert [(e["event_type"], e["status"], e["run_id"]) for e in found] == [
        ("breaker.opened", "warning", "run-1"),
        ("breaker.half_opened", "pending", "run-2"),
        ("breaker.opened", "warning", "run-2"),
        ("breaker.half_opened", "pending", "run-4"),
        ("breaker.closed", "success", "run-4"),
    ]
    assert [e["evidence"] for e in found] == [
        evidence(CLOSED, OPEN, 3),
        evidence(OPEN, HALF_OPEN, 3),
        evidence(HALF_OPEN, OPEN, 4),
        evidence(OPEN, HALF_OPEN, 4),
        evidence(HALF_OPEN, CLOSED, 0),
    ]


def test_breakers_are_independent_and_listed_by_name(breakers: BreakerStore) -> None:
    fail(breakers, "smtp", times=3)
    fail(breakers, "billing", times=1)

    assert {name: state.state for name, state in breakers.all().items()} == {
        "billing": CLOSED,
        "smtp": OPEN,
    }
    assert list(breakers.all()) == ["billing", "smtp"]
    assert breakers.acquire("billing", SETTINGS, project_id="web").allowed


def test_reset_closes_an_open_breaker_with_an_event(
    breakers: BreakerStore, database: Database
) -> None:
    fail(breakers, times=3)

    state = breakers.reset("smtp", project_id="ops")

    assert (state.state, state.failures) == (CLOSED, 0)
    assert breakers.acquire("smtp", SETTINGS, project_id="web") == Permit(allowed=True)
    closed = events(database, "breaker.closed")
    assert [(e["project_id"], e["evidence"]["from"]) for e in closed] == [("ops", OPEN)]
    assert breakers.reset("smtp", project_id="ops") == state
    assert len(events(database, "breaker.closed")) == 1


class RefusingEvents(EventStore):
    """An event store whose rows the database refuses (status is NOT NULL)."""

    def prepare(self, event: NewEvent | dict[str, Any]) -> dict[str, Any]:
        return {**super().prepare(event), "status": None}


def test_a_failed_event_insert_rolls_back_the_state_change(
    database: Database, clock: FakeClock
) -> None:
    good = BreakerStore(database, EventStore(database, clock=clock), clock)
    broken = BreakerStore(database, RefusingEvents(database, clock=clock), clock)
    fail(good, times=2)

    with pytest.raises(StoreError):
        broken.record("smtp", SETTINGS, success=False, probe=False, project_id="web")

    state = good.get("smtp")
    assert (state.state, state.failures) == (CLOSED, 2)
    assert events(database, "breaker.") == []
    # A change without a transition writes no event, so the broken store can still count.
    assert broken.record("smtp", SETTINGS, success=True, probe=False, project_id="web") == CLOSED
    assert good.get("smtp").failures == 0


def test_the_stored_state_survives_a_new_store(database: Database, clock: FakeClock) -> None:
    first = BreakerStore(database, EventStore(database, clock=clock), clock)
    fail(first, times=3)
    database.dispose()

    second = BreakerStore(database, EventStore(database, clock=clock), clock)
    assert not second.acquire("smtp", SETTINGS, project_id="web").allowed


# -- one breaker, two processes -------------------------------------------------------------

WORKER = """
    import json, os, sys
    from autohub.engine.breaker import BreakerSettings, BreakerStore
    from autohub.store.database import Database
    from autohub.store.events import EventStore

    database = Database.create(os.environ["AUTOHUB_TEST_DATABASE_URL"])
    store = BreakerStore(database, EventStore(database))
    settings = BreakerSettings(**json.loads(os.environ["BREAKER_SETTINGS"]))
    project = os.environ["WORKER_NAME"]
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "acquire":
            permit = store.acquire("shared", settings, project_id=project)
            answer = {"allowed": permit.allowed, "probe": permit.probe,
                      "retry_after_seconds": permit.retry_after_seconds}
        else:
            answer = store.record("shared", settings, success=command["do"] == "succeed",
                                  probe=command.get("probe", False), project_id=project)
        print(json.dumps(answer), flush=True)
"""

REAL_SETTINGS = {"failure_threshold": 4, "reset_timeout_seconds": 1.5, "half_open_probes": 1}


def test_a_breaker_is_shared_by_two_processes(database: Database) -> None:
    env = {"BREAKER_SETTINGS": json.dumps(REAL_SETTINGS)}
    first = Worker(WORKER, database, WORKER_NAME="first", **env)
    second = Worker(WORKER, database, WORKER_NAME="second", **env)
    workers = [first, second]
    try:
        # Four failures in total, alternating between the processes, open it.
        for index in range(4):
            worker = workers[index % 2]
            assert worker.ask(do="acquire")["allowed"]
            state = worker.ask(do="fail")
            assert state == ("open" if index == 3 else "closed")

        # Both now fail fast.
        for worker in workers:
            permit = worker.ask(do="acquire")
            assert not permit["allowed"]
            assert 0 < permit["retry_after_seconds"] <= 1.5

        time.sleep(1.6)
        probe = first.ask(do="acquire")
        assert probe == {"allowed": True, "probe": True, "retry_after_seconds": 0.0}
        assert not second.ask(do="acquire")["allowed"]  # one probe at a time

        assert first.ask(do="succeed", probe=True) == "closed"
        assert second.ask(do="acquire") == {
            "allowed": True,
            "probe": False,
            "retry_after_seconds": 0.0,
        }
    finally:
        for worker in workers:
            worker.close()

    found = events(database, "breaker.")
    assert [(e["event_type"], e["project_id"]) for e in found] == [
        ("breaker.opened", "second"),
        ("breaker.half_opened", "first"),
        ("breaker.closed", "first"),
    ]


RACER = """
    import json, os
    from autohub.engine.breaker import BreakerSettings, BreakerStore
    from autohub.store.database import Database
    from autohub.store.events import EventStore

    database = Database.create(os.environ["AUTOHUB_TEST_DATABASE_URL"])
    store = BreakerStore(database, EventStore(database))
    settings = BreakerSettings(**json.loads(os.environ["BREAKER_SETTINGS"]))
    admitted = 0
    while True:
        permit = store.acquire("shared", settings, project_id="web")
        if not permit.allowed:
            break
        admitted += 1
        store.record("shared", settings, success=False, probe=permit.probe, project_id="web")
    print(json.dumps({"admitted": admitted, "retry_after": permit.retry_after_seconds}))
"""


def test_two_processes_racing_open_it_after_exactly_the_threshold(database: Database) -> None:
    settings = {"failure_threshold": 25, "reset_timeout_seconds": 60, "half_open_probes": 1}
    env = {"BREAKER_SETTINGS": json.dumps(settings)}
    processes = [start_python(RACER, database, **env) for _ in range(2)]
    results = [json.loads(finish(process)) for process in processes]

    admitted = sum(result["admitted"] for result in results)
    state = BreakerStore(database, EventStore(database)).get("shared")
    assert (state.state, state.failures) == (OPEN, 25)
    # Calls in flight when it opened are admitted, but never more than one per process.
    assert 25 <= admitted <= 26
    assert all(result["retry_after"] > 0 for result in results)
    assert [e["evidence"]["failures"] for e in events(database, "breaker.")] == [25]
