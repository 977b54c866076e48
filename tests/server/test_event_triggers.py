"""Event triggers, on SQLite and PostgreSQL: an event an automation waits for starts one
run (with params from the event) however many servers look, the cursor survives a
restart, history is not replayed, and an automation's own events never start it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from autohub.hub import Hub
from autohub.server.event_triggers import MAX_CHAIN, EventTriggers
from autohub.store import migrations
from autohub.store.events import EventFilter

AUTOMATIONS = """
triage:
  params:
    workflow: {type: string, required: true}
  triggers:
    - type: event
      event_type: n8n.failure_detected
      status: [failed]
      params: {workflow: evidence.workflow.name}
  steps:
    - {id: a, shell: [echo, triage]}
retry-failed:
  triggers:
    - {type: event, event_type: run.finished, status: [failed]}
  steps:
    - {id: a, shell: [sh, -c, "exit 3"]}
"""


def open_hub(root: Path, database_url: str) -> Hub:
    hub = Hub.from_config(root / "autohub.yaml")
    hub.config.settings.database_url = database_url
    return hub


@pytest.fixture
def hubs(tmp_path: Path, database_url: str) -> Iterator[list[Hub]]:
    """Two hubs (two servers' views) of one project and store."""
    body = textwrap.indent(textwrap.dedent(AUTOMATIONS).strip("\n"), "  ")
    (tmp_path / "autohub.yaml").write_text(f"project: ops\nautomations:\n{body}\n")
    opened = [open_hub(tmp_path, database_url) for _ in range(2)]
    migrations.upgrade(opened[0].database)
    yield opened
    for hub in opened:
        hub.close()


def failure(hub: Hub, workflow: str, *, status: str = "failed", project: str = "ops") -> int:
    event = hub.events.record(
        "n8n.failure_detected", project, status, evidence={"workflow": {"name": workflow}}
    )
    assert event.id is not None
    return event.id


def event_runs(hub: Hub) -> list[tuple[str, dict]]:
    runs = hub.runs.list_runs(limit=100)
    made = [(run.automation, run.params) for run in runs if run.trigger == "event"]
    return sorted(made, key=repr)


def recorded(hub: Hub, event_type: str) -> list[dict]:
    page = hub.events.query(EventFilter(event_types=[event_type]), limit=100)
    return [event.to_dict() for event in reversed(page.events)]


def test_a_matching_event_starts_one_run_however_many_servers_look(hubs):
    first, second = EventTriggers(hubs[0]), EventTriggers(hubs[1])
    first.check(), second.check()  # both start from now
    cause = failure(hubs[0], "sync contacts")
    failure(hubs[0], "sync contacts", status="warning")  # not a status it waits for
    failure(hubs[0], "sync orders", project="elsewhere")  # another project's event

    first.check(), second.check(), first.check()

    assert event_runs(hubs[0]) == [("triage", {"workflow": "sync contacts"})]
    (fired,) = recorded(hubs[0], "event_trigger.fired")
    assert fired["parent_id"] == cause
    assert fired["evidence"]["automation"] == "triage"
    assert fired["evidence"]["event_id"] == cause
    assert fired["run_id"] == hubs[0].runs.list_runs(limit=1)[0].id


def test_the_events_of_a_downtime_fire_after_a_restart_and_history_never(hubs):
    failure(hubs[0], "before any server")  # history: never fired
    server = EventTriggers(hubs[0])
    server.check()
    failure(hubs[0], "handled")
    server.check()
    failure(hubs[0], "while down")  # the server is stopped here

    restarted = EventTriggers(hubs[1])
    restarted.check()
    restarted.check()

    assert event_runs(hubs[0]) == [
        ("triage", {"workflow": "handled"}),
        ("triage", {"workflow": "while down"}),
    ]


def test_an_event_whose_params_do_not_validate_is_recorded_as_failed(hubs):
    triggers = EventTriggers(hubs[0])
    triggers.check()
    hubs[0].events.record("n8n.failure_detected", "ops", "failed", evidence={"other": 1})

    triggers.check()

    assert event_runs(hubs[0]) == []
    (failed,) = recorded(hubs[0], "event_trigger.failed")
    assert failed["status"] == "failed"
    assert "workflow" in failed["evidence"]["error"]


def test_an_automation_is_not_started_by_its_own_runs_events(hubs):
    hub = hubs[0]
    triggers = EventTriggers(hub)
    triggers.check()
    other = hub.run("retry-failed")  # a failed run: run.finished, failed
    assert other.state == "failed"

    triggers.check()  # retry-failed waits for failed runs, but not for its own

    assert event_runs(hub) == []
    run = hub.run("triage", {"workflow": "x"})
    assert run.state == "succeeded"
    hub.events.record("run.finished", "ops", "failed", run_id=run.id)  # another's failure
    triggers.check()
    assert event_runs(hub) == [("retry-failed", {})]


BOUNCING = """
fix:
  triggers: [{type: event, event_type: run.finished, status: [failed]}]
  steps: [{id: a, shell: [sh, -c, "exit 1"]}]
escalate:
  triggers: [{type: event, event_type: run.finished, status: [failed]}]
  steps: [{id: a, shell: [sh, -c, "exit 2"]}]
"""


def test_two_automations_that_start_each_other_stop_after_max_chain_runs(
    tmp_path: Path, database_url: str
):
    body = textwrap.indent(textwrap.dedent(BOUNCING).strip("\n"), "  ")
    (tmp_path / "autohub.yaml").write_text(f"project: ops\nautomations:\n{body}\n")
    hub = open_hub(tmp_path, database_url)
    try:
        migrations.upgrade(hub.database)
        triggers = EventTriggers(hub)
        triggers.check()
        assert hub.run("fix").state == "failed"  # starts escalate, which starts fix...
        for _ in range(MAX_CHAIN + 3):
            triggers.check()
            for run in hub.runs.list_runs(limit=100):
                if run.state == "pending":
                    hub.execute(run.id)
        triggers.check()

        started = [run.automation for run in reversed(hub.runs.list_runs(limit=100))]
        assert len(started) == 1 + MAX_CHAIN
        assert started[:4] == ["fix", "escalate", "fix", "escalate"]
        (skipped,) = recorded(hub, "event_trigger.skipped")
        assert skipped["status"] == "warning"
        assert "10 runs in a row" in skipped["evidence"]["reason"]
    finally:
        hub.close()


def test_servers_record_an_event_they_cannot_start_a_run_for_once(hubs):
    first, second = EventTriggers(hubs[0]), EventTriggers(hubs[1])
    first.check(), second.check()
    hubs[0].events.record("n8n.failure_detected", "ops", "failed", evidence={"other": 1})

    first.check(), second.check()

    assert len(recorded(hubs[0], "event_trigger.failed")) == 1
