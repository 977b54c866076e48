"""``autohub events --follow --json``: a background process printing events as they arrive."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time

ARRIVAL_SECONDS = 5.0  # from the recording process's exit to the line on the follower's stdout


def _reader(stream, lines: queue.Queue) -> threading.Thread:
    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return thread


def _next_event(lines: queue.Queue, timeout: float) -> dict:
    line = lines.get(timeout=timeout)
    assert line is not None, "the follower exited"
    return json.loads(line)


def test_follow_json_prints_new_events_as_they_are_recorded(cli, project):
    cli(
        "events",
        "record",
        "--type",
        "tick",
        "--status",
        "success",
        "--evidence",
        '{"n": 1}',
        check=0,
    )
    follower = cli.popen("events", "--follow", "--json", "--type", "tick", "--interval", "200ms")
    lines: queue.Queue = queue.Queue()
    _reader(follower.stdout, lines)
    try:
        backlog = _next_event(lines, timeout=30)  # the follower is up once it printed this
        assert (backlog["event_type"], backlog["evidence"]) == ("tick", {"n": 1})

        cli("events", "record", "--type", "tock", "--status", "success", check=0)
        cli(
            "events",
            "record",
            "--type",
            "tick",
            "--status",
            "failed",
            "--evidence",
            '{"n": 2}',
            check=0,
        )
        recorded = time.monotonic()
        new = _next_event(lines, timeout=ARRIVAL_SECONDS)
        assert time.monotonic() - recorded < ARRIVAL_SECONDS
        assert (new["event_type"], new["status"], new["evidence"]) == ("tick", "failed", {"n": 2})
        assert new["id"] > backlog["id"]
        assert lines.empty(), "the tock was filtered out, nothing printed twice"

        follower.send_signal(signal.SIGINT)  # Ctrl-C: a quiet, successful exit
        assert follower.wait(timeout=10) == 0
        stderr = follower.stderr.read()
        assert "Traceback" not in stderr
        assert "KeyboardInterrupt" not in stderr
    finally:
        if follower.poll() is None:
            follower.terminate()
            try:
                follower.wait(timeout=10)
            except subprocess.TimeoutExpired:
                follower.kill()
                follower.wait()
        follower.stdout.close()
        follower.stderr.close()


def test_follow_can_be_terminated(cli, sqlite_project):
    follower = cli.popen("events", "--follow", "--json", "--interval", "100ms")
    lines: queue.Queue = queue.Queue()
    _reader(follower.stdout, lines)
    try:
        assert _next_event(lines, timeout=30)["event_type"] == "project_initialised"
        follower.terminate()
        assert follower.wait(timeout=10) == -signal.SIGTERM
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
        follower.stdout.close()
        follower.stderr.close()
