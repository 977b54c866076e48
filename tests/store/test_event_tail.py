"""Following the event table: each event once, and one that commits after a newer one
is still delivered (PostgreSQL hands out ids before commit)."""

from __future__ import annotations

from autohub.store.event_tail import EventTail
from autohub.store.events import EventStore
from autohub.store.schema import automation_events


def event(n: int) -> dict:
    return {"event_type": "tail.test", "project_id": "p", "status": "success", "evidence": {"n": n}}


def test_a_tail_returns_each_new_event_once_from_where_it_started(store: EventStore):
    store.add(event(0))
    tail = EventTail.from_now(store)
    store.add_many([event(1), event(2)])

    first = tail.poll()
    again = tail.poll()
    store.add(event(3))
    later = tail.poll(limit=10)

    assert [e.evidence["n"] for e in first] == [1, 2]
    assert again == []
    assert [e.evidence["n"] for e in later] == [3]


def test_a_page_limit_leaves_the_rest_for_the_next_poll(store: EventStore):
    tail = EventTail.from_now(store)
    store.add_many([event(n) for n in range(5)])

    assert [e.evidence["n"] for e in tail.poll(limit=3)] == [0, 1, 2]
    assert [e.evidence["n"] for e in tail.poll(limit=3)] == [3, 4]


def test_an_event_committed_after_a_newer_one_is_delivered_late_not_lost(store: EventStore):
    """Two writers: the first takes an id, the second commits a higher one first."""
    tail = EventTail.from_now(store)
    start = tail.last_id
    if store.database.engine.dialect.name == "sqlite":  # one writer: lay the ids out by hand
        first_id = tail.last_id + 1
        with store.database.begin() as connection:
            connection.execute(
                automation_events.insert(), [{**store.prepare(event(2)), "id": first_id + 1}]
            )
        assert [e.evidence["n"] for e in tail.poll()] == [2]
        assert tail.settled_id == start, "a cursor stays below the awaited id"
        with store.database.begin() as connection:  # the skipped id shows up late
            connection.execute(
                automation_events.insert(), [{**store.prepare(event(1)), "id": first_id}]
            )
    else:
        with store.database.engine.connect() as late:
            transaction = late.begin()
            late.execute(automation_events.insert(), [store.prepare(event(1))])  # id N, open
            store.add(event(2))  # id N+1, committed first
            assert [e.evidence["n"] for e in tail.poll()] == [2]
            assert tail.settled_id == start, "a cursor stays below the awaited id"
            transaction.commit()

    assert [e.evidence["n"] for e in tail.poll()] == [1]
    assert tail.poll() == []
    assert tail.settled_id == tail.last_id == start + 2


def test_a_gap_is_given_up_after_gap_seconds(store: EventStore):
    now = [0.0]
    tail = EventTail(store, store.last_id(), gap_seconds=10, clock=lambda: now[0])
    skipped = tail.last_id + 1

    def insert(n: int, event_id: int) -> None:
        with store.database.begin() as connection:
            connection.execute(
                automation_events.insert(), [{**store.prepare(event(n)), "id": event_id}]
            )

    insert(2, skipped + 1)
    assert [e.evidence["n"] for e in tail.poll()] == [2]
    now[0] = 11.0  # the skipped id was rolled back, as far as the tail can tell
    assert tail.poll() == []
    insert(1, skipped)

    assert tail.poll() == [], "given up: an insert that slow is not waited for"
