"""`autohub events record` keeps events in the spool while PostgreSQL is unreachable."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url

from services import free_port


# PostgreSQL only: a SQLite file is not a server that can be down.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_events_recorded_while_the_database_is_down_arrive_once_when_it_returns(
    cli, project, read_db
):
    down = make_url(project.database_url).set(port=free_port())
    cli.env["AUTOHUB_DATABASE_URL"] = down.render_as_string(hide_password=False)
    for n in (1, 2):
        result = cli(
            "events",
            "record",
            "--type",
            "outage_probe",
            "--status",
            "failed",
            "--evidence",
            json.dumps({"n": n}),
            check=0,
        )
        assert "event spooled (database unavailable)" in result.stdout
    assert project.path(".autohub/spool/events.jsonl").read_text().count("\n") == 2

    cli.env["AUTOHUB_DATABASE_URL"] = project.database_url
    cli(
        "events",
        "record",
        "--type",
        "outage_probe",
        "--status",
        "success",
        "--evidence",
        json.dumps({"n": 3}),
        check=0,
    )

    rows = read_db(
        project.database_url,
        "SELECT id, evidence FROM automation_events WHERE event_type = 'outage_probe' ORDER BY id",
    )
    numbers = [
        row["evidence"]["n"]
        if isinstance(row["evidence"], dict)
        else json.loads(row["evidence"])["n"]
        for row in rows
    ]
    assert numbers == [1, 2, 3]
    assert project.path(".autohub/spool/events.jsonl").read_text() == ""
