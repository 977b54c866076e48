"""A run's step rows read on the driver's cursor come back exactly as SQLAlchemy reads
them: aware UTC times, JSON output as data, NULLs as None (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.runs import NewRun, RunChanges, RunStore, StepRecord
from autohub.store.schema import run_steps


def test_step_rows_read_back_as_sqlalchemy_reads_them(database: Database) -> None:
    store = RunStore(database, EventStore(database))
    run, _ = store.create(
        NewRun(
            automation="deploy",
            version="v1",
            project_id="acme",
            params={},
            trigger="manual",
            step_ids=["build", "ship", "verify"],
            max_parallel=4,
        )
    )
    assert store.claim(run.id, "runner-1", 30) is not None
    started = datetime(2026, 11, 22, 9, 30, 1, 250_000, tzinfo=timezone(timedelta(hours=2)))
    changes = RunChanges()
    changes.step(
        "build",
        state="succeeded",
        attempts=2,
        output={"artifact": "app-1.2.tar.gz", "sizes": [1, 2.5], "note": "déployé ✓"},
        method="python",
        started_at=started,
        finished_at=started + timedelta(seconds=3),
        idempotency_key="deploy:build:1.2",
    )
    changes.step("verify", output="pong")  # a JSON string, not a document
    changes.step("ship", output=42)  # SQLite keeps a JSON number as a number
    changes.step(
        "ship",
        state="running",
        attempts=1,
        owner="runner-1",
        lease_expires_at=started + timedelta(minutes=1),
        next_attempt_at=None,
    )
    store.apply(run.id, "runner-1", changes)

    fast = store.steps(run.id)
    statement = sa.select(run_steps).where(run_steps.c.run_id == run.id)
    slow = [
        StepRecord(**row)
        for row in database.fetch(statement.order_by(run_steps.c.position), "read")
    ]

    assert fast == slow
    assert [step.step_id for step in fast] == ["build", "ship", "verify"]
    build = fast[0]
    assert build.output == {"artifact": "app-1.2.tar.gz", "sizes": [1, 2.5], "note": "déployé ✓"}
    assert build.started_at == started
    assert build.started_at.tzinfo == UTC
    assert fast[2].output == "pong"
    assert fast[1].output == 42
    assert fast[2].started_at is None
