"""``autohub events``: record, query with every filter, page, resolve, timeline, correlate."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

EVENT_KEYS = {
    "id", "uid", "event_type", "project_id", "status", "evidence", "metadata", "detected_from",
    "created_at", "resolved_at", "run_id", "correlation_id", "parent_id",
}  # fmt: skip


def record(cli, *args: str) -> dict:
    """``autohub events record ... --json``: the stored event."""
    return json.loads(cli("events", "record", *args, "--json", check=0).stdout)


def query(cli, *args: str) -> list[int]:
    """The ids ``autohub events ... --json`` returns (newest first), checking the structure."""
    data = json.loads(cli("events", *args, "--json", check=0).stdout)
    assert set(data) == {"events", "next_cursor"}
    for event in data["events"]:
        assert set(event) == EVENT_KEYS
    return [event["id"] for event in data["events"]]


def test_record_then_query_with_each_filter(cli, project):
    first = record(
        cli,
        "--type",
        "deploy_finished",
        "--status",
        "success",
        "--run",
        "r1",
        "--evidence",
        '{"version": "1.2.3", "checks": [1, 2]}',
        "--metadata",
        '{"host": "web1"}',
    )
    second = record(
        cli, "--type", "deploy_finished", "--status", "failed", "--project", "other", "--run", "r2"
    )
    third = record(cli, "--type", "backup_done", "--status", "warning", "--run", "r1")
    e1, e2, e3 = first["id"], second["id"], third["id"]

    assert first["project_id"] == "proj", "the config's project by default"
    assert first["evidence"] == {"version": "1.2.3", "checks": [1, 2]}
    assert first["metadata"] == {"host": "web1"}
    assert (first["detected_from"], first["run_id"], first["resolved_at"]) == ("cli", "r1", None)

    assert query(cli, "--type", "deploy_finished") == [e2, e1], "newest first"
    assert query(cli, "--status", "failed", "--status", "warning") == [e3, e2]
    assert query(cli, "--project", "other") == [e2]
    assert query(cli, "--run", "r1", "--type", "backup_done") == [e3]
    assert query(cli, "--since", first["created_at"]) == [e3, e2, e1], "init's is older"
    later = (datetime.fromisoformat(third["created_at"]) + timedelta(hours=1)).isoformat()
    successes = query(cli, "--since", "1h", "--until", later, "--status", "success")
    assert len(successes) == 2, "e1 and init's event"
    assert successes[0] == e1


def test_events_table_shows_each_column(cli, sqlite_project):
    record(
        cli,
        "--type",
        "deploy_finished",
        "--status",
        "failed",
        "--run",
        "r9",
        "--from",
        "ci",
        "--evidence",
        '{"code": 504}',
    )
    stdout = cli("events", "--type", "deploy_finished", check=0).stdout

    lines = stdout.splitlines()
    assert lines[0].strip() == "1 event, newest first"
    header = lines[1].split()
    assert header == ["id", "time", "status", "type", "project", "run", "from", "evidence"]
    assert all(len(line) <= 80 for line in lines), "an 80-column pipe gets 80 columns"
    row = lines[2]
    for text in ("deploy_fi", "proj", "failed", "r9", "ci", '{"code":'):
        assert text in row, text


def test_cursor_pages_through_every_event_once(cli, project):
    for status in ("success", "failed"):
        record(cli, "--type", "page_test", "--status", status)
    first = json.loads(cli("events", "-n", "2", "--json", check=0).stdout)
    assert len(first["events"]) == 2
    assert first["next_cursor"]
    table = cli("events", "-n", "2", check=0).stdout
    assert f"more: --cursor {first['next_cursor']}" in table

    second = json.loads(
        cli("events", "-n", "2", "--cursor", first["next_cursor"], "--json", check=0).stdout
    )
    assert len(second["events"]) == 1
    assert second["next_cursor"] is None, "the last page"
    ids = [event["id"] for event in first["events"] + second["events"]]
    assert ids == sorted(set(ids), reverse=True), "every event once, newest first"
    assert second["events"][0]["event_type"] == "project_initialised"

    _code, _stdout, stderr = cli("events", "--cursor", "garbage", check=2)
    assert stderr.strip() == "error: cursor: 'garbage' is not a cursor this store returned"


def test_resolve_timeline_and_correlate(cli, project):
    first = record(
        cli, "--type", "deploy_started", "--status", "running", "--run", "r7", "--correlation", "c7"
    )
    second = record(cli, "--type", "deploy_finished", "--status", "failed", "--run", "r7")
    record(cli, "--type", "alert_sent", "--status", "success", "--project", "pager")

    stdout = cli("events", "resolve", str(second["id"]), check=0).stdout
    assert stdout.startswith(f"event {second['id']} resolved at ")
    again = cli("events", "resolve", str(second["id"]), check=0).stdout
    assert again == stdout, "resolving twice keeps the first resolution"
    unresolved = query(cli, "--unresolved")
    assert second["id"] not in unresolved
    assert first["id"] in unresolved

    stdout = cli("events", "timeline", check=0).stdout
    timeline = [line.split()[0] for line in stdout.splitlines()]
    assert timeline[-2:] == [str(first["id"]), str(second["id"])], "oldest first"
    assert "alert_sent" not in stdout, "another project's event"
    assert "project_initialised" in stdout

    related = json.loads(cli("events", "correlate", "--run", "r7", "--json", check=0).stdout)
    assert [e["id"] for e in related] == [first["id"], second["id"]]
    assert related[1]["resolved_at"] is not None

    _code, stdout, stderr = cli("events", "resolve", "999999", check=1)
    assert stderr.strip() == "error: no event with id 999999"


def test_timeline_and_correlate_say_when_they_cut(cli, project):
    ids = [
        record(cli, "--type", "step_ran", "--status", "success", "--run", "r9")["id"]
        for _ in range(3)
    ]

    cut = cli("events", "correlate", "--run", "r9", "--limit", "2", "--json", check=0)
    whole = cli("events", "correlate", "--run", "r9", "--limit", "3", "--json", check=0)
    timeline = cli("events", "timeline", "--limit", "1", check=0)

    assert [e["id"] for e in json.loads(cut.stdout)] == ids[:2]
    assert "only the first 2 events are shown; there are more" in cut.stderr
    assert [e["id"] for e in json.loads(whole.stdout)] == ids
    assert whole.stderr == ""
    assert len(timeline.stdout.splitlines()) == 1
    assert "only the first 1 events are shown" in timeline.stderr


BAD_INPUT = [
    pytest.param(
        ["events", "--since", "yesterday"],
        "error: --since: 'yesterday' is neither a duration (30m, 2h, 7d) nor an ISO time",
        id="since-yesterday",
    ),
    pytest.param(
        ["events", "--status", "done"],
        "error: --status: 'done' is not one of pending, running, success, failed, warning, "
        "pending_review, skipped, cancelled",
        id="status-done",
    ),
    pytest.param(
        ["events", "record", "--type", "x", "--status", "done"],
        "error: --status: 'done' is not one of pending, running, success, failed, warning, "
        "pending_review, skipped, cancelled",
        id="record-status-done",
    ),
    pytest.param(
        ["events", "record", "--type", "x", "--status", "success", "--evidence", "not json"],
        "error: --evidence: not JSON: Expecting value at position 0",
        id="evidence-not-json",
    ),
    pytest.param(
        ["events", "record", "--type", "x", "--status", "success", "--metadata", "[1, 2]"],
        "error: --metadata: expected a JSON object, got list",
        id="metadata-a-list",
    ),
    pytest.param(
        ["events", "--follow", "--interval", "soon"],
        "error: --interval: invalid duration 'soon': expected e.g. 500ms, 30s, 5m, 1h",
        id="interval-soon",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_is_a_one_line_usage_error_before_the_store(cli, example, args, message):
    """Checked before the store is opened: the example has no database at all."""
    _code, stdout, stderr = cli(*args, check=2)
    assert stderr.strip() == message
    assert stdout == ""


def test_an_invalid_event_type_is_a_usage_error(cli, sqlite_project):
    _code, _stdout, stderr = cli(
        "events", "record", "--type", "Deploy Done", "--status", "success", check=2
    )
    assert stderr.strip().startswith("error: invalid event: event.event_type: 'Deploy Done'")
    assert len(stderr.strip().splitlines()) == 1
