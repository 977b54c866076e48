"""Runs checkpoint the SQLite WAL from a thread of their own, and leave the pool as they
found it; on PostgreSQL there is nothing to checkpoint."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from runner_helpers import make_project, open_hub

from autohub.store.checkpoints import Checkpointer
from autohub.store.database import WAL_AUTOCHECKPOINT_PAGES

STEP = (
    '    - {{id: s{n}, needs: [{needs}], python: {{function: "jobs:add", kwargs: {{a: 1, b: 2}}}}}}'
)
CHAIN = "\n".join(
    ["chain:", "  steps:"] + [STEP.format(n=n, needs=f"s{n - 1}" if n else "") for n in range(30)]
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_run_checkpoints_the_wal_in_the_background(project: Path, database_url: str) -> None:
    make_project(project, database_url, CHAIN)
    hub = open_hub(project, database_url)
    with hub:
        run = hub.run("chain")
        checkpointer = hub.database.checkpointer()
        assert run.state == "succeeded", run.error
        if hub.database.dialect != "sqlite":
            assert checkpointer is None
            return
        assert checkpointer is not None
        hub.runs.close()  # the runner's connection goes back to the pool
        with hub.database.engine.connect() as connection:
            pages = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert pages == WAL_AUTOCHECKPOINT_PAGES
    assert checkpointer.checkpoints >= 1  # at least the last one, when the hub closed


@contextmanager
def checkpointed_writer(
    path: Path, **settings: Any
) -> Iterator[tuple[sqlite3.Connection, Checkpointer]]:
    """A connection to a new WAL database with a table ``t``, its autocheckpoint off, and
    a started ``Checkpointer(settings)`` of it; both stopped and closed on exit."""
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (v TEXT)")
    checkpointer = Checkpointer(str(path), **settings)
    checkpointer.start()
    try:
        yield writer, checkpointer
    finally:
        checkpointer.stop()
        writer.close()


def wait_for_a_checkpoint(checkpointer: Checkpointer, seconds: float = 5) -> None:
    """Until ``checkpointer`` has checkpointed once, or ``seconds`` passed."""
    deadline = time.monotonic() + seconds
    while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_checkpoint_moves_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    # Only the commit count can trigger a checkpoint here: no pause is long enough.
    with checkpointed_writer(path, commits_per_checkpoint=5, quiet_seconds=60) as (
        writer,
        checkpointer,
    ):
        for n in range(5):
            writer.execute("INSERT INTO t VALUES (?)", (f"row {n}",))
            checkpointer.committed()
        wait_for_a_checkpoint(checkpointer)
        triggered = checkpointer.checkpoints
        copy = tmp_path / "copy.db"
        shutil.copyfile(path, copy)  # the database file alone, without its WAL
    reader = sqlite3.connect(copy)
    try:
        rows = reader.execute("SELECT count(*) FROM t").fetchone()[0]
    finally:
        reader.close()

    assert triggered == 1
    assert rows == 5, "the committed rows are in the database file itself"


def test_a_checkpoint_waits_for_the_writers_to_pause(tmp_path: Path) -> None:
    with checkpointed_writer(
        tmp_path / "x.db", commits_per_checkpoint=10_000, quiet_seconds=0.3
    ) as (writer, checkpointer):
        burst_ends = time.monotonic() + 1.0
        while time.monotonic() < burst_ends:  # a commit every 20 ms: never a pause
            writer.execute("INSERT INTO t VALUES ('row')")
            checkpointer.committed()
            time.sleep(0.02)
        during_the_burst = checkpointer.checkpoints
        wait_for_a_checkpoint(checkpointer)
        waited = time.monotonic() - burst_ends
        after_the_pause = checkpointer.checkpoints

    assert during_the_burst == 0
    assert after_the_pause == 1
    assert 0.25 <= waited < 2
