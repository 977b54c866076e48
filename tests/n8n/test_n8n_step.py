"""The ``n8n`` step kind against the real n8n 2.8.4, run with Hub.run on both databases:
detection, the failure event, the breaker per instance, and recovery by fallbacks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from n8n_helpers import (
    AUTH_TOKEN,
    EVIDENCE_KEYS,
    PROJECT,
    WRONG_TOKEN,
    TaskServer,
    open_project,
)

from autohub.hub import Hub
from autohub.n8n.breaker import breaker_name, breaker_settings
from autohub.store.database import Database
from autohub.store.events import Event
from project_helpers import events_of

CONFIG = """
n8n:
  base_url: {n8n}
  breaker: {{failure_threshold: 2, reset_timeout: 60s}}
  workflows:
    ok: {{path: autohub-ok}}
    failing: {{path: autohub-error}}
    slow-timeout: {{path: autohub-slow-timeout}}
    missing: {{path: does-not-exist}}
    async: {{path: autohub-error-async, response_mode: immediately}}
    auth-good: {{path: autohub-auth, auth_header: X-Autohub-Token, auth_token: "${{N8N_TOKEN}}"}}
    auth-bad:
      path: autohub-auth
      auth_header: X-Autohub-Token
      auth_token: "${{N8N_WRONG_TOKEN}}"
    video-assembly:
      path: autohub-ok
      base_url: {stopped}
      fallback:
        - http:
            method: POST
            url: "{tasks}/tasks/process_video"
            json: {{job: "{{{{ params.job }}}}"}}
        - shell: [echo, recovered]
automations:
  call:
    params:
      workflow: {{type: string}}
      job: {{type: string, default: j1}}
    steps:
      - id: call
        n8n: {{workflow: ok, payload: {{job: "{{{{ params.job }}}}"}}}}
  direct:
    steps:
      - id: call
        n8n: {{path: autohub-ok, payload: {{job: d1}}}}
  direct-auth:
    steps:
      - id: call
        n8n:
          path: autohub-auth
          auth_header: X-Autohub-Token
          auth_value: "${{N8N_TOKEN}}"
          payload: {{job: s1}}
  slow:
    steps:
      - {{id: call, n8n: {{path: autohub-slow}}, timeout: 1s}}
  failing:
    steps:
      - {{id: call, n8n: failing}}
  slow-timeout:
    steps:
      - {{id: call, n8n: slow-timeout}}
  missing:
    steps:
      - {{id: call, n8n: missing}}
  async:
    steps:
      - {{id: call, n8n: async}}
  auth-good:
    steps:
      - {{id: call, n8n: auth-good}}
  auth-bad:
    steps:
      - {{id: call, n8n: auth-bad}}
  render:
    params:
      job: {{type: string, default: v1}}
    steps:
      - id: assemble
        n8n: {{workflow: video-assembly, payload: {{job: "{{{{ params.job }}}}"}}}}
"""


@pytest.fixture
def hub(
    tmp_path: Path,
    database: Database,
    database_url: str,
    n8n: str,
    stopped_n8n: str,
    task_server: TaskServer,
) -> Iterator[Hub]:
    config = CONFIG.format(n8n=n8n, stopped=stopped_n8n, tasks=task_server.url)
    with open_project(tmp_path, database_url, config) as opened:
        yield opened


def output_of(hub: Hub, run_id: str, step: str = "call") -> object:
    return {s.step_id: s.output for s in hub.runs.steps(run_id)}[step]


def one_failure(hub: Hub, run_id: str) -> Event:
    found = [e for e in events_of(hub.events, "n8n_failure_detected") if e.run_id == run_id]
    assert len(found) == 1, found
    return found[0]


def test_a_workflow_call_returns_the_json_n8n_answered(hub: Hub) -> None:
    run = hub.run("call", {"workflow": "ok", "job": "a1"})
    assert run.state == "succeeded"
    assert output_of(hub, run.id) == {"ok": True, "workflow": "autohub-ok", "echo": {"job": "a1"}}
    assert events_of(hub.events, "n8n_failure_detected") == []


def test_a_step_may_give_the_webhook_path_itself(hub: Hub) -> None:
    run = hub.run("direct")
    assert run.state == "succeeded"
    assert output_of(hub, run.id) == {"ok": True, "workflow": "autohub-ok", "echo": {"job": "d1"}}


def test_a_step_may_send_its_own_auth_header_from_a_secret(hub: Hub) -> None:
    run = hub.run("direct-auth")
    assert run.state == "succeeded"
    assert output_of(hub, run.id) == {"ok": True, "workflow": "autohub-auth", "echo": {"job": "s1"}}


def test_a_client_side_timeout_is_a_gateway_timeout(hub: Hub) -> None:
    run = hub.run("slow")  # the workflow waits 10 s; the step gives it 1 s
    assert run.state == "failed"
    assert {s.step_id: s.state for s in hub.runs.steps(run.id)}["call"] == "timed_out"
    evidence = one_failure(hub, run.id).evidence
    assert (evidence["failure_type"], evidence["status_code"]) == ("504_gateway_timeout", None)
    assert "client-side timeout" in evidence["reason"]
    assert 0.9 < evidence["duration_seconds"] < 5


def test_a_code_node_error_is_an_unknown_error_with_its_evidence(hub: Hub) -> None:
    run = hub.run("failing")
    assert run.state == "failed"
    event = one_failure(hub, run.id)
    assert (event.status, event.project_id, event.correlation_id) == ("failed", PROJECT, run.id)
    evidence = event.evidence
    assert set(evidence) == EVIDENCE_KEYS
    assert evidence["failure_type"] == "unknown_error"
    assert evidence["status_code"] == 500
    assert evidence["response_snippet"] == '{"message":"Error in workflow"}'
    assert "Error in workflow" in evidence["reason"]
    assert (evidence["workflow_name"], evidence["webhook_path"]) == ("failing", "autohub-error")
    assert evidence["task_id"] == f"{run.id}:call"
    assert evidence["started_at"] <= evidence["finished_at"]
    assert evidence["started_at"].endswith("+00:00")
    assert 0 < evidence["duration_seconds"] < 10
    attempt = next(a for a in hub.runs.attempts(run.id) if a.step_id == "call")
    assert "unknown_error" in str(attempt.error)
    # no fallback chain: no recovery
    assert events_of(hub.events, "n8n_recovery_attempted") == []


def test_the_workflows_execution_timeout_is_an_execution_timeout(hub: Hub) -> None:
    run = hub.run("slow-timeout")
    assert run.state == "failed"
    evidence = one_failure(hub, run.id).evidence
    assert (evidence["failure_type"], evidence["status_code"]) == ("execution_timeout", 500)
    assert "There was a problem executing the workflow" in evidence["response_snippet"]
    assert 2.5 < evidence["duration_seconds"] < 10


def test_an_unregistered_webhook_is_a_webhook_error(hub: Hub) -> None:
    run = hub.run("missing")
    assert run.state == "failed"
    evidence = one_failure(hub, run.id).evidence
    assert (evidence["failure_type"], evidence["status_code"]) == ("webhook_error", 404)
    assert "is not registered" in evidence["response_snippet"]
    assert len(evidence["response_snippet"]) <= 200


def test_a_wrong_auth_header_is_403_unauthorized_and_the_right_one_passes(hub: Hub) -> None:
    bad = hub.run("auth-bad")
    assert bad.state == "failed"
    evidence = one_failure(hub, bad.id).evidence
    assert (evidence["failure_type"], evidence["status_code"]) == ("403_unauthorized", 403)
    assert evidence["response_snippet"] == "Authorization data is wrong!"

    good = hub.run("auth-good")
    assert good.state == "succeeded"
    assert output_of(hub, good.id) == {"ok": True, "workflow": "autohub-auth", "echo": {}}
    stored = str([e.to_dict() for e in events_of(hub.events)])
    assert AUTH_TOKEN not in stored
    assert WRONG_TOKEN not in stored


def test_an_onreceived_workflow_answers_it_was_started(hub: Hub) -> None:
    run = hub.run("async")
    assert run.state == "succeeded"
    assert output_of(hub, run.id) == {"message": "Workflow was started"}


def test_a_stopped_n8n_opens_the_breaker_and_the_fallback_chain_recovers(
    hub: Hub, stopped_n8n: str, task_server: TaskServer
) -> None:
    runs = [hub.run("render", {"job": f"v{i}"}) for i in range(3)]
    assert [r.state for r in runs] == ["succeeded"] * 3
    outputs = [output_of(hub, r.id, "assemble") for r in runs]
    assert [o["json"] for o in outputs] == [{"queued": True}] * 3  # type: ignore[index]
    assert task_server.received == [{"job": "v0"}, {"job": "v1"}, {"job": "v2"}]

    failures = events_of(hub.events, "n8n_failure_detected")
    assert [e.run_id for e in failures] == [runs[0].id, runs[1].id]  # the third failed fast
    assert {e.evidence["failure_type"] for e in failures} == {"unknown_error"}
    assert "n8n unreachable" in failures[0].evidence["reason"]
    assert failures[0].evidence["base_url"] == stopped_n8n
    name = breaker_name(stopped_n8n)
    assert hub.breakers.get(name).state == "open"
    opened = events_of(hub.events, "breaker.opened")
    assert [e.evidence["breaker"] for e in opened] == [name]

    recoveries = events_of(hub.events, "n8n_recovery_attempted")
    assert [e.run_id for e in recoveries] == [r.id for r in runs]
    assert [e.correlation_id for e in recoveries] == [r.id for r in runs]
    assert [e.status for e in recoveries] == ["success"] * 3
    assert [e.evidence["original_failure"] for e in recoveries] == [
        "unknown_error",
        "unknown_error",
        "breaker_open",
    ]
    evidence = recoveries[0].evidence
    assert evidence["recovery_method"] == "http"
    assert [(a["method"], a["success"]) for a in evidence["attempts"]] == [("http", True)]
    assert evidence["recovery_duration_seconds"] == evidence["attempts"][0]["duration"]
    assert evidence["workflow_name"] == "video-assembly"
    assert evidence["task_id"] == f"{runs[0].id}:assemble"

    # correlate shows the whole story of one run
    story = [e.event_type for e in hub.events.correlate(run_id=runs[0].id)]
    assert story.index("n8n_failure_detected") < story.index("n8n_recovery_attempted")
    assert "fallback.used" in story


def test_the_chain_records_a_failed_recovery_when_every_tier_fails(
    tmp_path: Path, database: Database, database_url: str, stopped_n8n: str
) -> None:
    config = f"""
    n8n:
      base_url: {stopped_n8n}
      workflows:
        video-assembly:
          path: autohub-ok
          fallback:
            - shell: ["false"]
            - shell: [sh, -c, "exit 3"]
    automations:
      render:
        steps:
          - {{id: assemble, n8n: video-assembly}}
    """
    with open_project(tmp_path, database_url, config) as hub:
        tiers = hub.registry.get("render").automation.steps[0].fallback
        assert [t.timeout for t in tiers] == [1.0, 5.0]
        run = hub.run("render")
        assert run.state == "failed"
        (recovery,) = events_of(hub.events, "n8n_recovery_attempted")
        assert recovery.status == "failed"
        assert recovery.evidence["recovery_method"] is None
        assert [(a["method"], a["success"]) for a in recovery.evidence["attempts"]] == [
            ("shell", False),
            ("shell", False),
        ]


def test_a_half_open_probe_that_succeeds_closes_the_instance_breaker(
    tmp_path: Path, database: Database, database_url: str, n8n: str
) -> None:
    config = f"""
    n8n:
      base_url: {n8n}
      breaker: {{failure_threshold: 1, reset_timeout: 1s}}
      workflows:
        ok:
          path: autohub-ok
          fallback: [{{shell: [echo, fallback]}}]
    automations:
      call:
        steps:
          - {{id: call, n8n: ok}}
    """
    with open_project(tmp_path, database_url, config) as hub:
        name = breaker_name(n8n)
        settings = breaker_settings(hub.config.file.n8n.breaker)
        hub.breakers.record(name, settings, success=False, probe=False, project_id=PROJECT)
        assert hub.breakers.get(name).state == "open"

        fast = hub.run("call")
        assert fast.state == "succeeded"
        assert output_of(hub, fast.id)["stdout"].strip() == "fallback"  # type: ignore[index]
        time.sleep(1.1)
        probe = hub.run("call")
        assert probe.state == "succeeded"
        assert output_of(hub, probe.id) == {"ok": True, "workflow": "autohub-ok", "echo": {}}
        assert hub.breakers.get(name).state == "closed"
        recoveries = events_of(hub.events, "n8n_recovery_attempted")
        assert [e.run_id for e in recoveries] == [fast.id]
