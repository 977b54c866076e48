"""The executions watcher against the shared n8n, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from watcher_helpers import (
    ERROR_ASYNC,
    EVIDENCE_KEYS,
    SLOW_TIMEOUT,
    N8n,
    find_execution,
    new_job,
    of_execution,
    post_webhook,
    watcher,
)

from autohub.hub import Hub
from autohub.n8n.executions import ExecutionsClient, N8nAuthError, N8nUnavailable
from autohub.n8n.watcher import ExecutionsWatcher


def test_an_async_error_is_reported_once(hub: Hub, n8n: N8n, api: ExecutionsClient) -> None:
    job = new_job()
    answer = post_webhook(n8n, "autohub-error-async", job)
    assert answer.status_code == 200, answer.text  # "Workflow was started": the failure is hidden
    execution = find_execution(api, ERROR_ASYNC, job)

    first = watcher(hub)
    reported = [e for e in first.poll_once() if e.evidence["execution_id"] == execution.id]
    assert len(reported) == 1
    event = reported[0]
    assert event.event_type == "n8n_failure_detected"
    assert event.status == "failed"
    assert event.project_id == "web"
    evidence = event.evidence
    assert set(evidence) == EVIDENCE_KEYS
    assert evidence["failure_type"] == "unknown_error"
    assert evidence["reason"] == f'autohub deliberate failure: {{"job":"{job}"}}'
    assert evidence["response_snippet"] == evidence["reason"]
    assert evidence["detected_by"] == "watcher"
    assert evidence["task_id"] is None
    assert evidence["status_code"] is None
    assert evidence["base_url"] == n8n.url
    assert evidence["webhook_path"] == "autohub-error-async"
    assert evidence["workflow_name"] == "autohub-error-async"
    assert evidence["workflow_id"] == ERROR_ASYNC
    assert evidence["started_at"] == execution.started_at.isoformat()  # type: ignore[union-attr]
    assert evidence["finished_at"] == execution.stopped_at.isoformat()  # type: ignore[union-attr]
    assert 0 <= evidence["duration_seconds"] < 10

    # the same watcher again, then a new one (as after a restart): nothing more
    assert not [e for e in first.poll_once() if e.evidence["execution_id"] == execution.id]
    second = watcher(hub)
    assert not [e for e in second.poll_once() if e.evidence["execution_id"] == execution.id]
    assert len(of_execution(hub.events, execution.id)) == 1
    first.client.close()
    second.client.close()


def test_a_failure_a_webhook_call_saw_is_not_reported_again(
    hub: Hub, n8n: N8n, api: ExecutionsClient
) -> None:
    job = new_job()
    started = datetime.now(UTC)
    post_webhook(n8n, "autohub-error-async", job)
    finished = datetime.now(UTC)
    seen = hub.events.record(  # what the n8n step kind records for its call
        "n8n_failure_detected",
        "web",
        "failed",
        evidence={
            "task_id": "t-1",
            "workflow_name": "error-async",
            "failure_type": "webhook_error",
            "status_code": 500,
            "duration_seconds": (finished - started).total_seconds(),
            "response_snippet": '{"message":"Error in workflow"}',
            "reason": "the workflow failed",
            "base_url": n8n.url,
            "webhook_path": "autohub-error-async",
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
        },
        detected_from="n8n: webhook/autohub-error-async",
    )
    execution = find_execution(api, ERROR_ASYNC, job)
    polling = watcher(hub)
    polling.poll_once()
    assert of_execution(hub.events, execution.id) == []
    assert hub.events.get(seen.id or 0).evidence["status_code"] == 500
    polling.client.close()


def test_a_webhook_call_elsewhere_does_not_hide_a_failure(
    hub: Hub, n8n: N8n, api: ExecutionsClient
) -> None:
    """Another path, or a call long before, does not count as having seen the failure."""
    job = new_job()
    post_webhook(n8n, "autohub-error-async", job)
    long_ago = datetime.now(UTC) - timedelta(minutes=1)
    for path, start in (("autohub-error", datetime.now(UTC)), ("autohub-error-async", long_ago)):
        hub.events.record(
            "n8n_failure_detected",
            "web",
            "failed",
            evidence={
                "base_url": n8n.url,
                "webhook_path": path,
                "started_at": start.isoformat(),
                "finished_at": (start + timedelta(seconds=1)).isoformat(),
                "detected_by": "webhook",
            },
        )
    execution = find_execution(api, ERROR_ASYNC, job)
    polling = watcher(hub)
    polling.poll_once()
    assert len(of_execution(hub.events, execution.id)) == 1
    polling.client.close()


def test_a_timed_out_execution_is_an_execution_timeout(
    hub: Hub, n8n: N8n, api: ExecutionsClient
) -> None:
    job = new_job()
    answer = post_webhook(n8n, "autohub-slow-timeout", job)
    assert answer.status_code == 500
    execution = find_execution(api, SLOW_TIMEOUT, job, status="canceled")
    polling = watcher(hub, SLOW_TIMEOUT)
    polling.poll_once()
    [event] = of_execution(hub.events, execution.id)
    evidence = event.evidence
    assert set(evidence) == EVIDENCE_KEYS
    assert evidence["failure_type"] == "execution_timeout"
    assert "executionTimeout (3 s)" in evidence["reason"]
    assert evidence["webhook_path"] == "autohub-slow-timeout"
    assert 2.5 <= evidence["duration_seconds"] < 10
    assert event.metadata["n8n_status"] == "canceled"
    polling.client.close()


def test_a_wrong_api_key_is_a_clear_error(hub: Hub, n8n: N8n, tmp_path: Path) -> None:
    (tmp_path / "secrets.env").write_text("N8N_API_KEY=not-the-key\n")
    wrong = Hub.from_config(tmp_path / "autohub.yaml")
    wrong.config.settings.database_url = hub.config.database_url
    with wrong:
        polling = watcher(wrong)
        with pytest.raises(N8nAuthError) as caught:
            polling.run(1, once=True)
        assert "refused the API key (HTTP 401)" in caught.value.message
        assert "n8n.api_key" in caught.value.message
        assert polling.status.ok is False
        polling.client.close()


def test_n8n_down_is_a_warning_and_the_next_poll(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    """A closed port (the shared n8n is never stopped): the loop goes on, --once raises."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = int(probe.getsockname()[1])
    client = ExecutionsClient(f"http://127.0.0.1:{closed}", "key", timeout_seconds=2)
    polling = ExecutionsWatcher(hub.events, "web", client, lookback_seconds=60)
    with pytest.raises(N8nUnavailable, match="unreachable"):
        polling.run(0.05, once=True)
    stop = threading.Event()
    polls = []

    def count(_event: object) -> None:
        polls.append(_event)

    timer = threading.Timer(0.5, stop.set)
    timer.start()
    polling.run(0.1, stop=stop, on_report=count)  # returns when stopped, never raises
    timer.join()
    warnings = [r for r in caplog.records if "poll failed" in r.getMessage()]
    assert len(warnings) >= 2
    assert polling.status.ok is False
    assert polling.status.error
    client.close()


def test_a_just_stopped_execution_waits_for_the_next_poll(
    hub: Hub, n8n: N8n, api: ExecutionsClient
) -> None:
    """The step kind records its failure when its call returns: the watcher gives it the
    settling delay before deciding the failure went unseen."""
    job = new_job()
    post_webhook(n8n, "autohub-error-async", job)
    execution = find_execution(api, ERROR_ASYNC, job)
    polling = ExecutionsWatcher.from_hub(
        hub, lookback_seconds=120, settle_seconds=60, workflow_ids=[ERROR_ASYNC]
    )
    polling.poll_once()
    assert of_execution(hub.events, execution.id) == []
    polling.settle_seconds = 0
    polling.poll_once()
    assert len(of_execution(hub.events, execution.id)) == 1
    polling.client.close()


def test_the_workflows_are_listed_once_for_a_workflow_they_do_not_hold() -> None:
    """A snapshot without its webhook path asks the workflows API; a workflow it does not
    list (deleted) is remembered as unknown, not listed again for each execution."""
    import httpx

    from autohub.store.events import EventStore

    listed: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        listed.append(request.url.path)
        data = [{"id": "w1", "name": "render", "nodes": []}]
        return httpx.Response(200, json={"data": data})

    client = ExecutionsClient("http://n8n.test", "key", transport=httpx.MockTransport(answer))
    polling = ExecutionsWatcher(cast(EventStore, None), "web", client)
    assert polling._workflow("w1", "", None) == ("render", None)
    assert polling._workflow("gone", "", None) == ("", None)
    assert polling._workflow("gone", "named", "p") == ("named", "p")
    assert polling._workflow("w1", "", "path") == ("render", "path")
    assert listed == ["/api/v1/workflows", "/api/v1/workflows"]
    client.close()
