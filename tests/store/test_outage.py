"""A real PostgreSQL outage: a throwaway cluster is crashed (``pg_ctl stop -m immediate``)
and restarted while an EventStore with a spool keeps writing. Every event must end up in
the database exactly once, in the order it was written.

Runs in the default suite; select it alone with ``-m postgres_only``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from store_helpers import event_fields

from autohub.store import migrations
from autohub.store.database import Database
from autohub.store.events import Event, EventStore
from autohub.store.spool import EventSpool
from services import PgCluster, free_port, scratch_dir

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    """A private PostgreSQL server that the tests may crash and restart."""
    if PgCluster.bindir() is None:
        pytest.fail(
            "PostgreSQL server binaries not found: run the tests through `make test` or "
            '`eval "$(python3 tests/services.py up)"` first',
            pytrace=False,
        )
    scratch = scratch_dir()
    cluster = PgCluster(datadir=scratch / "pg", port=free_port())
    try:
        cluster.init()
        # The shared test settings turn synchronous_commit off, which may lose the last
        # acknowledged commits in a crash; this test needs acknowledged to mean durable.
        with (cluster.datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("synchronous_commit = on\n")
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture
def outage_database(cluster: PgCluster) -> Iterator[Database]:
    """A migrated database of its own on the throwaway cluster."""
    cluster.start()  # a previous test may have failed while the server was down
    name = f"outage_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    database = Database.create(cluster.url(name))
    migrations.upgrade(database)
    yield database
    database.dispose()


def stored(database: Database) -> list[dict[str, Any]]:
    """Every row's uid and sequence number, in id order, read with plain SQL."""
    database.dispose()  # drop connections from before the crash
    with database.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT id, uid, (evidence ->> 'n')::int AS n FROM automation_events ORDER BY id"
            )
        )
        return [dict(row) for row in rows.mappings()]


def assert_all_once_in_write_order(database: Database, written: list[Event]) -> None:
    rows = stored(database)
    uids = [row["uid"] for row in rows]
    duplicated = {uid for uid in uids if uids.count(uid) > 1}
    assert not duplicated, f"stored more than once: {duplicated}"
    missing = {event.uid for event in written} - set(uids)
    assert not missing, f"lost: {missing}"
    assert uids == [event.uid for event in written], "not in write order"
    assert [row["n"] for row in rows] == list(range(len(written)))


def test_events_written_through_a_crash_are_stored_once_in_order(
    cluster: PgCluster, outage_database: Database, tmp_path: Path
) -> None:
    spool = EventSpool(tmp_path / "spool")
    store = EventStore(outage_database, spool=spool)
    written: list[Event] = []

    for n in range(20):
        if n == 8:
            cluster.stop("immediate")  # a crash, not a clean shutdown
        written.append(store.add(event_fields(evidence={"n": n})))

    assert [event.spooled for event in written] == [False] * 8 + [True] * 12
    assert spool.pending() == 12

    cluster.start()
    written.append(store.add(event_fields(evidence={"n": 20})))

    assert not written[-1].spooled
    assert spool.pending() == 0
    assert_all_once_in_write_order(outage_database, written)


@pytest.mark.parametrize("moment", ["before-insert", "before-commit"])
def test_a_crash_while_a_batch_is_in_flight_loses_nothing(
    cluster: PgCluster, outage_database: Database, tmp_path: Path, moment: str
) -> None:
    spool = EventSpool(tmp_path / "spool")
    store = EventStore(outage_database, spool=spool)
    written = [store.add(event_fields(evidence={"n": n})) for n in range(3)]
    armed = True

    def crash(*_args: Any) -> None:
        nonlocal armed
        if armed:
            armed = False
            cluster.stop("immediate")

    # before-insert: the transaction began, the INSERT (sent to the driver's cursor) has
    # not; before-commit: the INSERT ran, the COMMIT never arrives.
    hook = "begin" if moment == "before-insert" else "commit"
    engine = outage_database.engine
    sa.event.listen(engine, hook, crash)
    batch = [event_fields(evidence={"n": n}) for n in range(3, 8)]
    try:
        result = store.add_many(batch)
    finally:
        sa.event.remove(engine, hook, crash)

    assert not armed, "the crash did not happen"
    assert (result.count, result.spooled) == (5, True)
    assert spool.pending() == 5

    cluster.start()
    after = store.add(event_fields(evidence={"n": 8}))

    assert not after.spooled
    rows = stored(outage_database)
    assert [row["n"] for row in rows] == list(range(9))
    assert len({row["uid"] for row in rows}) == 9
    assert [row["uid"] for row in rows[:3]] == [event.uid for event in written]
    assert rows[-1]["uid"] == after.uid
