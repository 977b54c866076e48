"""The spool: durable, ordered, exactly-once; and EventStore writing through it while the
database is unreachable, on both databases."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from store_helpers import FakeClock, RawQuery, event_fields

from autohub.errors import InvalidInput, StoreError, StoreUnavailable
from autohub.store import migrations
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.schema import automation_events
from autohub.store.spool import EventSpool
from services import TEST_PASSWORD, free_port


@pytest.fixture
def spool(tmp_path: Path) -> EventSpool:
    return EventSpool(tmp_path / "spool")


@pytest.fixture
def unreachable(database: Database, tmp_path: Path) -> Iterator[Database]:
    """A database of the same kind as ``database`` that cannot be reached."""
    if database.dialect == "sqlite":
        home = tmp_path / "gone"
        broken = Database.create(f"sqlite:///{home / 'autohub.db'}")
        home.rmdir()  # SQLite cannot open a file in a missing directory
    else:
        closed = make_url(database.url).set(port=free_port())  # nothing listens there
        broken = Database.create(closed.render_as_string(hide_password=False))
    yield broken
    broken.dispose()


def rows_in_order(raw: RawQuery) -> list[dict[str, Any]]:
    return raw("SELECT id, uid, status FROM automation_events ORDER BY id")


def assert_stored_once_in_order(raw: RawQuery, uids: list[str]) -> None:
    rows = rows_in_order(raw)
    stored = [row["uid"] for row in rows]
    assert sorted(stored) == sorted(set(stored)), "an event was stored twice"
    assert stored == uids, "events are missing, extra or out of order"


def spool_row(n: int) -> dict[str, Any]:
    return {"uid": uuid.uuid4().hex, "n": n}


# -- the spool file ------------------------------------------------------------------------


def test_append_pending_and_drain_keep_the_order(spool: EventSpool) -> None:
    rows = [spool_row(n) for n in range(5)]
    spool.append(rows[:2])
    spool.append(rows[2:])
    drained: list[dict[str, Any]] = []

    assert spool.has_pending()
    assert spool.pending() == 5
    assert spool.drain(drained.extend, batch_size=2) == 5

    assert drained == rows
    assert spool.pending() == 0
    assert not spool.has_pending()


def test_drain_calls_insert_in_batches(spool: EventSpool) -> None:
    spool.append([spool_row(n) for n in range(7)])
    batches: list[list[dict[str, Any]]] = []

    spool.drain(batches.append, batch_size=3)

    assert [[row["n"] for row in batch] for batch in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_drain_of_an_empty_spool_inserts_nothing(spool: EventSpool) -> None:
    calls: list[Any] = []

    assert spool.drain(calls.append) == 0
    assert calls == []
    assert spool.pending() == 0


def test_a_spool_survives_into_a_new_instance(spool: EventSpool) -> None:
    rows = [spool_row(n) for n in range(3)]
    spool.append(rows)

    again = EventSpool(spool.directory)
    drained: list[dict[str, Any]] = []
    again.drain(drained.extend)

    assert drained == rows


def test_a_failed_drain_leaves_the_spool_whole(spool: EventSpool) -> None:
    rows = [spool_row(n) for n in range(6)]
    spool.append(rows)
    calls = 0

    def insert(batch: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise StoreUnavailable("gone")

    with pytest.raises(StoreUnavailable):
        spool.drain(insert, batch_size=2)

    assert spool.pending() == 6


def test_a_torn_last_line_is_skipped(spool: EventSpool) -> None:
    rows = [spool_row(n) for n in range(2)]
    spool.append(rows)
    with open(spool.path, "a", encoding="utf-8") as handle:
        handle.write('{"uid": "torn-by-a-cr')  # a crash mid-append: never acknowledged

    drained: list[dict[str, Any]] = []
    assert spool.pending() == 2
    spool.drain(drained.extend)

    assert drained == rows
    assert not spool.has_pending()


def test_an_append_after_a_torn_line_is_not_lost(spool: EventSpool) -> None:
    before, after = spool_row(0), spool_row(1)
    spool.append([before])
    with open(spool.path, "a", encoding="utf-8") as handle:
        handle.write('{"uid": "torn')

    spool.append([after])  # the next process appends after the crash

    drained: list[dict[str, Any]] = []
    assert spool.pending() == 2
    spool.drain(drained.extend)
    assert drained == [before, after]


APPENDER = """
import sys
from pathlib import Path
from autohub.store.spool import EventSpool

spool = EventSpool(Path(sys.argv[1]))
worker = int(sys.argv[2])
for n in range(40):
    spool.append([{"uid": f"{worker}-{n}", "worker": worker, "n": n, "pad": "x" * 5000}])
"""


def test_concurrent_appends_from_processes_are_all_kept_whole(spool: EventSpool) -> None:
    workers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(spool.directory), str(worker)])
        for worker in range(4)
    ]
    for process in workers:
        assert process.wait(timeout=60) == 0

    drained: list[dict[str, Any]] = []
    spool.drain(drained.extend)

    assert len(drained) == 160
    assert len({row["uid"] for row in drained}) == 160
    for worker in range(4):  # each writer's rows stay in its own order
        assert [row["n"] for row in drained if row["worker"] == worker] == list(range(40))


# -- exactly once, against a real database -------------------------------------------------


def _event_row(n: int) -> dict[str, Any]:
    """A spooled event row, as EventStore writes it (times as ISO text)."""
    return {
        "uid": uuid.uuid4().hex,
        "event_type": "production_check",
        "project_id": "web",
        "status": "success",
        "evidence": {"n": n},
        "metadata": {},
        "detected_from": None,
        "created_at": f"2025-03-01T12:00:{n:02d}+00:00",
        "resolved_at": None,
        "run_id": None,
        "correlation_id": None,
        "parent_id": None,
    }


def test_drain_is_exactly_once_when_the_insert_fails_part_way_and_is_retried(
    database: Database, spool: EventSpool, raw: RawQuery
) -> None:
    rows = [_event_row(n) for n in range(8)]
    spool.append(rows)
    statement = database.insert_ignoring_duplicates(automation_events)
    calls = 0

    def insert(batch: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        restored = [{**r, "created_at": datetime.fromisoformat(r["created_at"])} for r in batch]
        with database.begin() as connection:
            connection.execute(statement, restored)
        if calls == 2:  # committed, but the acknowledgement was lost
            raise StoreUnavailable("connection lost after commit")

    with pytest.raises(StoreUnavailable):
        spool.drain(insert, batch_size=3)
    assert len(rows_in_order(raw)) == 6
    assert spool.pending() == 8

    assert spool.drain(insert, batch_size=3) == 8  # the retry

    assert_stored_once_in_order(raw, [row["uid"] for row in rows])
    assert spool.pending() == 0


# -- EventStore with a spool ---------------------------------------------------------------


def test_add_spools_while_the_database_is_unreachable(
    unreachable: Database, spool: EventSpool, clock: FakeClock
) -> None:
    store = EventStore(unreachable, spool=spool, clock=clock)

    event = store.add(event_fields(evidence={"n": 1}, run_id="run-7"))

    assert event.id is None
    assert event.spooled
    assert (event.evidence, event.run_id, event.created_at) == ({"n": 1}, "run-7", clock.now)
    assert spool.pending() == 1


def test_the_next_add_after_an_outage_flushes_the_spool_first_in_order(
    database: Database, unreachable: Database, spool: EventSpool, raw: RawQuery
) -> None:
    down = EventStore(unreachable, spool=spool)
    spooled = [down.add(event_fields(evidence={"n": n})) for n in range(5)]
    batch = down.add_many([event_fields(evidence={"n": n}) for n in range(5, 8)])
    assert all(event.spooled for event in spooled)
    assert (batch.count, batch.spooled) == (3, True)
    assert spool.pending() == 8

    up = EventStore(database, spool=EventSpool(spool.directory))  # the database is back
    last = up.add(event_fields(evidence={"n": 8}))

    assert last.id is not None
    assert spool.pending() == 0
    rows = raw("SELECT uid, evidence FROM automation_events ORDER BY id")
    assert [_json(row["evidence"])["n"] for row in rows] == list(range(9))
    assert len({row["uid"] for row in rows}) == 9
    assert rows[0]["uid"] == spooled[0].uid


def test_flush_spool_moves_everything_and_returns_the_count(
    database: Database, unreachable: Database, spool: EventSpool, raw: RawQuery
) -> None:
    down = EventStore(unreachable, spool=spool)
    uids = [down.add(event_fields()).uid for _ in range(4)]

    up = EventStore(database, spool=spool)
    assert up.flush_spool() == 4
    assert up.flush_spool() == 0

    assert_stored_once_in_order(raw, uids)


def test_flushing_twice_after_a_lost_truncate_stores_each_event_once(
    database: Database, unreachable: Database, spool: EventSpool, raw: RawQuery
) -> None:
    down = EventStore(unreachable, spool=spool)
    uids = [down.add(event_fields()).uid for _ in range(3)]
    saved = spool.path.read_bytes()

    up = EventStore(database, spool=spool)
    up.flush_spool()
    spool.path.write_bytes(saved)  # a crash between the commit and the truncate
    last = up.add(event_fields())

    assert_stored_once_in_order(raw, [*uids, last.uid])


def test_the_same_store_spools_and_recovers_when_sqlite_comes_back(
    tmp_path: Path, spool: EventSpool
) -> None:
    home = tmp_path / "data"
    database = Database.create(f"sqlite:///{home / 'autohub.db'}")
    migrations.upgrade(database)
    store = EventStore(database, spool=spool)
    try:
        written = [store.add(event_fields(evidence={"n": 0}))]
        database.dispose()
        home.rename(tmp_path / "unmounted")  # the disk goes away
        written += [store.add(event_fields(evidence={"n": n})) for n in (1, 2)]
        assert [event.spooled for event in written] == [False, True, True]
        (tmp_path / "unmounted").rename(home)  # and comes back
        written.append(store.add(event_fields(evidence={"n": 3})))

        with database.connect() as connection:
            rows = connection.execute(
                sa.select(automation_events.c.uid, automation_events.c.evidence).order_by(
                    automation_events.c.id
                )
            ).all()
    finally:
        database.dispose()
    assert [row.uid for row in rows] == [event.uid for event in written]
    assert [row.evidence["n"] for row in rows] == [0, 1, 2, 3]
    assert spool.pending() == 0


def test_invalid_events_are_rejected_even_while_the_database_is_down(
    unreachable: Database, spool: EventSpool
) -> None:
    store = EventStore(unreachable, spool=spool)

    with pytest.raises(InvalidInput):
        store.add(event_fields(status="exploded"))

    assert spool.pending() == 0


def test_errors_that_are_not_an_outage_are_raised_not_spooled(
    empty_database: Database, spool: EventSpool
) -> None:
    store = EventStore(empty_database, spool=spool)  # no tables: a bug, not an outage

    with pytest.raises(StoreError) as caught:
        store.add(event_fields())

    assert not isinstance(caught.value, StoreUnavailable)
    assert "automation_events" in str(caught.value)
    assert spool.pending() == 0


def test_without_a_spool_an_outage_is_an_error_that_hides_the_password(
    unreachable: Database,
) -> None:
    store = EventStore(unreachable)

    with pytest.raises(StoreUnavailable) as caught:
        store.add(event_fields())

    message = str(caught.value)
    assert "record events: database " in message
    assert "unavailable" in message
    assert TEST_PASSWORD not in message
    assert "p%40ss" not in message


def test_ping_and_the_database_checks_see_the_outage(unreachable: Database) -> None:
    with pytest.raises(StoreUnavailable):
        unreachable.ping()
    with pytest.raises(StoreUnavailable):
        migrations.require_current(unreachable)


def _json(value: Any) -> Any:
    """A JSON column as read by a raw select (text on SQLite, decoded on PostgreSQL)."""
    return json.loads(value) if isinstance(value, str) else value


def test_a_row_the_database_refuses_is_set_aside_and_blocks_nothing(
    database: Database, tmp_path: Path, raw: RawQuery
) -> None:
    spool = EventSpool(tmp_path / "spool")
    good_before, poison, good_after = _event_row(1), _event_row(2), _event_row(3)
    poison["status"] = None  # violates NOT NULL on both databases: not an outage
    spool.append([good_before, poison, good_after])
    store = EventStore(database, spool=spool)

    event = store.record("after_the_poison", "acme", "success")

    assert event.id is not None
    stored = [row["uid"] for row in rows_in_order(raw)]
    assert stored == [good_before["uid"], good_after["uid"], event.uid]
    assert not spool.has_pending()
    (rejected,) = (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()
    assert json.loads(rejected)["row"]["uid"] == poison["uid"]
    assert "record events" in json.loads(rejected)["reason"]
