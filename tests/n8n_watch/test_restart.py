"""The watcher across an n8n restart, on a private n8n (the shared one is never stopped):
a poll while n8n is down is a warning, and after the restart nothing is reported twice.

One database only (SQLite): the restart is n8n's, and two private n8n at once (about
0.6 GB and 15 s of start-up each) would slow the shared one down for the other tests;
the store's side of "never twice" is tested on both databases in test_watcher.py."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from watcher_helpers import (
    ERROR_ASYNC,
    N8n,
    find_execution,
    new_job,
    of_execution,
    open_project,
    post_webhook,
    private_n8n,
)

from autohub.hub import Hub
from autohub.n8n.executions import ExecutionsClient, N8nUnavailable
from autohub.n8n.watcher import ExecutionsWatcher
from autohub.store import migrations
from autohub.store.database import Database


def test_the_watcher_survives_an_n8n_restart(
    tmp_path: Path, n8n: N8n, caplog: pytest.LogCaptureFixture
) -> None:
    database_url = f"sqlite:///{tmp_path / 'autohub.db'}"
    database = Database.create(database_url)
    migrations.upgrade(database)
    database.dispose()
    shared_home = Path(os.environ["AUTOHUB_TEST_N8N_HOME"])
    with private_n8n(tmp_path, shared_home, n8n.api_key) as server:
        own = server.n8n
        (tmp_path / "project").mkdir()
        with (
            open_project(tmp_path / "project", database_url, own) as hub,
            ExecutionsClient(own.url, own.api_key) as api,
        ):
            watcher = _watcher(hub)
            before = new_job()
            post_webhook(own, "autohub-error-async", before)
            first = find_execution(api, ERROR_ASYNC, before)
            # (plus any failure of the last minute copied with the shared home)
            assert first.id in [e.evidence["execution_id"] for e in watcher.poll_once()]

            server.stop()
            with pytest.raises(N8nUnavailable):
                watcher.poll_once()
            stop = threading.Event()
            timer = threading.Timer(0.4, stop.set)
            timer.start()
            watcher.run(0.1, stop=stop)  # n8n down: warnings, no crash
            timer.join()
            assert any("poll failed" in r.getMessage() for r in caplog.records)

            server.start()
            assert watcher.poll_once() == []  # the execution n8n kept is not reported again
            after = new_job()
            post_webhook(own, "autohub-error-async", after)
            second = find_execution(api, ERROR_ASYNC, after)
            assert [e.evidence["execution_id"] for e in watcher.poll_once()] == [second.id]
            assert len(of_execution(hub.events, first.id)) == 1
            watcher.client.close()


def _watcher(hub: Hub) -> ExecutionsWatcher:
    """Every workflow of the private n8n, started in the last minute: its copied
    history (older executions) stays out of the window."""
    return ExecutionsWatcher.from_hub(hub, lookback_seconds=60, settle_seconds=0, timeout_seconds=3)
