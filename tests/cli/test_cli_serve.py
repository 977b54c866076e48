"""``autohub serve``: real HTTP against uvicorn on a free loopback port, on SQLite and
PostgreSQL: the seed endpoints, token checks, and readiness that tracks the store."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(cli) -> Iterator[httpx.Client]:
    port = _free_port()
    server = cli.popen("serve", "--port", str(port))
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read()
            assert time.monotonic() < deadline, "the server did not answer /health in 30 s"
            time.sleep(0.1)
        yield client
    finally:
        client.close()
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
        server.stderr.close()


def token(cli, role: str) -> str:
    created = cli("token", "create", "--role", role, "--json", check=0).stdout
    return json.loads(created)["secret"]


def test_the_seed_endpoints_answer_with_tokens_where_required(cli, project):
    cli("run", "hello", "-p", "who=server", check=0)
    viewer = {"Authorization": f"Bearer {token(cli, 'viewer')}"}

    with serving(cli) as client:
        health = client.get("/health")
        ready = client.get("/ready")
        anonymous = client.get("/status")
        forged = client.get("/status", headers={"Authorization": "Bearer ahk_forged"})
        status = client.get("/status", headers=viewer)
        closed_metrics = client.get("/metrics")
        metrics = client.get("/metrics", headers=viewer)

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert ready.status_code == 200
    assert [(c["name"], c["ok"]) for c in ready.json()["checks"]] == [
        ("store", True),
        ("migrations", True),
        ("runs", True),
    ]
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": {"code": "unauthorized", "message": "missing bearer token"}
    }
    assert forged.status_code == 401
    assert status.status_code == 200
    document = status.json()
    assert document["status"] == "healthy"
    assert document["execution_count"] >= 1
    assert {"automation": "hello", "stage": "greet"}.items() <= document["stages"][0].items()
    assert document["open_breakers"] == []
    assert closed_metrics.status_code == 401
    assert metrics.status_code == 200
    text = metrics.text
    for name in (
        "automation_uptime_seconds",
        "automation_execution_count_total",
        "automation_status",
        "automation_stage_success_total",
        "automation_stage_retries_total",
        "autohub_queue_depth",
        "autohub_spool_events",
    ):
        assert f"\n{name}" in text or text.startswith(name), name
    assert 'automation_execution_count_total{automation="hello",state="succeeded"} 1.0' in text


def test_denied_requests_are_audit_events(cli, project):
    with serving(cli) as client:
        client.get("/status", headers={"Authorization": "Bearer ahk_not-a-real-token-at-all"})

    events = json.loads(cli("events", "--type", "api.denied", "--json", check=0).stdout)["events"]
    assert [(e["status"], e["evidence"]["path"], e["evidence"]["reason"]) for e in events] == [
        ("failed", "/status", "invalid or expired token")
    ]
    assert "ahk_not-a-real-token" not in json.dumps(events)


def test_ready_answers_503_while_migrations_are_pending(cli, project):
    with serving(cli) as client:
        cli("db", "downgrade", "0002", check=0)
        behind = client.get("/ready")
        cli("db", "upgrade", check=0)
        again = client.get("/ready")

    assert behind.status_code == 503
    failing = [c for c in behind.json()["checks"] if not c["ok"]]
    assert [c["name"] for c in failing] == ["migrations"]
    assert "autohub db upgrade" in failing[0]["detail"]
    assert again.status_code == 200


def test_metrics_can_be_opened_by_config(cli, project):
    config = project.path("autohub.yaml")
    config.write_text(config.read_text() + "\nserver:\n  metrics_open: true\n")

    with serving(cli) as client:
        metrics = client.get("/metrics")

    assert metrics.status_code == 200
    assert "automation_status" in metrics.text
