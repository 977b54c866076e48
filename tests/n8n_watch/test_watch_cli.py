"""``autohub n8n watch`` as a user runs it, and the watcher inside ``autohub serve``."""

from __future__ import annotations

import signal
import time
from typing import Any

from serve_helpers import started
from watcher_helpers import (
    ERROR_ASYNC,
    N8n,
    find_execution,
    n8n_config,
    new_job,
    post_webhook,
    settle,
)

from autohub.n8n.executions import ExecutionsClient
from autohub.n8n.watcher import DEFAULT_SETTLE_SECONDS


def _configure(project: Any, n8n: N8n, extra: str = "") -> None:
    config = project.path("autohub.yaml")
    config.write_text(config.read_text() + "\n" + n8n_config(n8n, extra))


def test_watch_once_reports_a_failure_once(
    cli: Any, project: Any, n8n: N8n, api: ExecutionsClient
) -> None:
    _configure(project, n8n)
    cli.env["N8N_API_KEY"] = n8n.api_key  # the ${N8N_API_KEY} reference, from the environment
    job = new_job()
    post_webhook(n8n, "autohub-error-async", job)
    execution = find_execution(api, ERROR_ASYNC, job)
    settle(execution)  # the CLI leaves executions stopped in the last 5 s to the next poll
    args = ("n8n", "watch", "--once", "--lookback", "2m", "--workflow", ERROR_ASYNC)

    first = cli(*args, check=0)
    [line] = [line for line in first.stdout.splitlines() if job in line]
    assert line.startswith(f"unknown_error execution {execution.id} of autohub-error-async")
    assert f'autohub deliberate failure: {{"job":"{job}"}}' in line
    assert "failure(s) reported" in first.stderr

    again = cli(*args, "--json", check=0)  # another process on the same store
    assert job not in again.stdout


def test_watch_with_a_bad_key_is_a_one_line_error(cli: Any, project: Any, n8n: N8n) -> None:
    _configure(project, n8n)
    wrong = cli("n8n", "watch", "--once", env={"N8N_API_KEY": "not-the-key"}, check=2)
    assert wrong.stdout == ""
    [message] = wrong.stderr.strip().splitlines()
    assert "refused the API key (HTTP 401)" in message
    assert "n8n.api_key" in message

    missing = cli("n8n", "watch", "--once", check=2)  # N8N_API_KEY is set nowhere
    [message] = missing.stderr.strip().splitlines()
    assert "N8N_API_KEY" in message

    bad_interval = cli("n8n", "watch", "--interval", "soon", env={"N8N_API_KEY": "x"}, check=2)
    assert "--interval" in bad_interval.stderr


def test_serve_runs_the_watcher(
    cli: Any, project: Any, n8n: N8n, api: ExecutionsClient, read_db: Any
) -> None:
    _configure(project, n8n, "watch_interval_seconds: 0.5")
    cli.env["N8N_API_KEY"] = n8n.api_key
    with started(cli) as served:
        job = new_job()
        post_webhook(n8n, "autohub-error-async", job)
        execution = find_execution(api, ERROR_ASYNC, job)
        deadline = time.monotonic() + 30
        sql = (
            "SELECT evidence FROM automation_events WHERE event_type = 'n8n_failure_detected'"
            " AND detected_from = 'n8n-watcher'"
        )
        while True:
            rows = [r for r in read_db(project.database_url, sql) if execution.id in str(r)]
            ours = [r for r in rows if job in str(r["evidence"])]
            if ours:
                break
            assert served.server.poll() is None, served.server.stderr.read()
            assert time.monotonic() < deadline, "the server's watcher reported nothing in 30 s"
            time.sleep(0.3)
        assert len(ours) == 1
        served.server.terminate()  # uvicorn stops gracefully (the watcher too), then exits
        assert served.server.wait(timeout=30) in (0, -signal.SIGTERM)
        assert "Traceback" not in served.server.stderr.read()


def test_serve_without_watch_starts_no_watcher(
    cli: Any, project: Any, n8n: N8n, api: ExecutionsClient, read_db: Any
) -> None:
    _configure(project, n8n, "watch: false\nwatch_interval_seconds: 0.2")
    cli.env["N8N_API_KEY"] = n8n.api_key
    job = new_job()
    post_webhook(n8n, "autohub-error-async", job)
    find_execution(api, ERROR_ASYNC, job)  # a failed execution a watcher would report
    with started(cli) as served:
        # past the settle delay and several polls: a running watcher would have reported it
        time.sleep(DEFAULT_SETTLE_SECONDS + 1.5)
        assert served.client.get("/health").status_code == 200
    sql = "SELECT id FROM automation_events WHERE detected_from = 'n8n-watcher'"
    assert read_db(project.database_url, sql) == []


def test_watch_stops_cleanly_on_ctrl_c(cli: Any, project: Any, n8n: N8n) -> None:
    _configure(project, n8n)
    cli.env["N8N_API_KEY"] = n8n.api_key
    watching = cli.popen("n8n", "watch", "--interval", "0.2s", "--workflow", ERROR_ASYNC)
    try:
        line = watching.stderr.readline()  # "watching n8n ... (Ctrl-C stops)"
        assert "Ctrl-C stops" in line
        time.sleep(0.5)  # a few polls
        watching.send_signal(signal.SIGINT)
        _out, err = watching.communicate(timeout=20)
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.communicate()
    assert watching.returncode == 0, err
    assert err.strip().splitlines()[-1] == "stopped"
    assert "Traceback" not in err
