"""Webhook triggers, definition validation, the timeline and correlation, over real HTTP
against ``autohub serve`` on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from serve_helpers import add_automations, bearer, serving, token

SECRET = "whsec-3f9a7c1e"
HOOKED = """  on-push:
    params:
      repo: {type: string, required: true}
      ref: {type: string, default: main}
      commits: {type: integer, default: 0}
    triggers:
      - type: webhook
        secret: ${PUSH_HOOK_SECRET}
        params: {repo: repository.name, ref: ref, commits: stats.commits}
    steps:
      - {id: show, shell: [echo, "{{ params.repo }}@{{ params.ref }}"]}
  token-only:
    triggers: [{type: webhook}]
    steps:
      - {id: a, shell: [echo, hi]}
"""


def add_hooked(cli, project) -> None:
    add_automations(project, HOOKED)
    cli.env["PUSH_HOOK_SECRET"] = SECRET


def signed(body: bytes, secret: str = SECRET, header: str = "X-Autohub-Signature-256") -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {header: f"sha256={digest}", "Content-Type": "application/json"}


def wait_finished(client, run_id: str, headers: dict) -> dict:
    deadline = time.monotonic() + 60
    while True:
        shown = client.get(f"/v1/runs/{run_id}", headers=headers).json()
        if shown["state"] not in ("pending", "running") or time.monotonic() > deadline:
            return shown
        time.sleep(0.1)


def test_a_signed_webhook_maps_its_payload_to_params_and_runs(cli, project):
    add_hooked(cli, project)
    viewer = bearer(token(cli, "viewer"))
    body = json.dumps({"repository": {"name": "api"}, "ref": "v2", "stats": {"commits": 3}})
    raw = body.encode()

    with serving(cli) as client:
        first = client.post("/v1/hooks/on-push", content=raw, headers=signed(raw))
        github = client.post(  # GitHub's header and delivery id
            "/v1/hooks/on-push",
            content=raw,
            headers={**signed(raw, header="X-Hub-Signature-256"), "X-GitHub-Delivery": "d-1"},
        )
        redelivered = client.post(
            "/v1/hooks/on-push",
            content=raw,
            headers={**signed(raw), "X-Autohub-Delivery": "d-1"},
        )
        shown = wait_finished(client, first.json()["run"]["id"], viewer)

    assert first.status_code == 202, first.text
    assert first.json()["run"]["params"] == {"repo": "api", "ref": "v2", "commits": 3}
    assert first.json()["run"]["trigger"] == "webhook"
    assert github.status_code == 202
    assert (redelivered.status_code, redelivered.json()["created"]) == (200, False)
    assert redelivered.json()["run"]["id"] == github.json()["run"]["id"]
    assert shown["state"] == "succeeded"
    assert shown["steps"][0]["output"]["stdout"] == "api@v2\n"


def test_a_bad_or_missing_signature_gets_401_and_an_audit_event(cli, project):
    add_hooked(cli, project)
    raw = b'{"repository": {"name": "api"}}'

    with serving(cli) as client:
        forged = client.post("/v1/hooks/on-push", content=raw, headers=signed(raw, "guess"))
        tampered = client.post(
            "/v1/hooks/on-push", content=raw + b" ", headers=signed(raw)
        )  # the body changed after signing
        unsigned = client.post("/v1/hooks/on-push", content=raw)
        token_only = client.post("/v1/hooks/token-only", content=raw, headers=signed(raw))

    assert [r.status_code for r in (forged, tampered, unsigned, token_only)] == [401] * 4
    assert forged.json()["error"] == {"code": "unauthorized", "message": "bad signature"}
    assert "missing signature" in unsigned.json()["error"]["message"]
    assert "operator token" in token_only.json()["error"]["message"]
    denied = json.loads(cli("events", "--type", "api.denied", "--json", check=0).stdout)["events"]
    assert sorted(e["evidence"]["path"] for e in denied) == ["/v1/hooks/on-push"] * 3 + [
        "/v1/hooks/token-only"
    ]
    assert cli("runs", "--json", check=0).stdout.strip() == "[]", "nothing ran"


def test_a_webhook_with_an_operator_token_and_bad_payloads(cli, project):
    add_hooked(cli, project)
    operator, viewer = bearer(token(cli, "operator")), bearer(token(cli, "viewer"))

    with serving(cli) as client:
        by_token = client.post("/v1/hooks/token-only", json={}, headers=operator)
        by_viewer = client.post("/v1/hooks/token-only", json={}, headers=viewer)
        no_hook = client.post("/v1/hooks/hello", json={}, headers=operator)
        unknown = client.post("/v1/hooks/nope", json={}, headers=operator)
        missing = client.post("/v1/hooks/on-push", json={"ref": "x"}, headers=operator)
        mistyped = client.post(
            "/v1/hooks/on-push",
            json={"repository": {"name": "api"}, "stats": {"commits": "many"}},
            headers=operator,
        )
        raw = b"{not json"
        not_json = client.post("/v1/hooks/on-push", content=raw, headers=signed(raw))

    assert by_token.status_code == 202, by_token.text
    assert by_viewer.status_code == 403
    assert (no_hook.status_code, unknown.status_code) == (404, 404)
    assert no_hook.json()["error"]["message"] == "no webhook for automation 'hello'"
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "invalid_params"
    assert "param repo: required" in missing.json()["error"]["message"]
    assert mistyped.status_code == 422
    assert "param commits" in mistyped.json()["error"]["message"]
    assert not_json.status_code == 400
    assert not_json.json()["error"]["field"] == "body"


def test_validate_timeline_and_correlate(cli, project):
    viewer = bearer(token(cli, "viewer"))
    cli("run", "hello", "-p", "who=timeline", check=0)
    run_id = json.loads(cli("runs", "--json", check=0).stdout)[0]["id"]
    good = {"name": "ping", "steps": [{"id": "a", "shell": ["echo", "hi"]}]}
    bad = {
        "name": "ping",
        "steps": [{"id": "a", "shell": ["echo"], "breaker": "nope", "needs": ["zz"]}],
    }

    with serving(cli) as client:
        valid = client.post("/v1/automations/validate", json={"definition": good}, headers=viewer)
        invalid = client.post("/v1/automations/validate", json={"definition": bad}, headers=viewer)
        timeline = client.get("/v1/events/timeline", params={"hours": 1}, headers=viewer)
        correlated = client.get("/v1/events/correlate", params={"run": run_id}, headers=viewer)
        no_anchor = client.get("/v1/events/correlate", params={"event": 999999}, headers=viewer)
        nothing = client.get("/v1/events/correlate", headers=viewer)

    assert valid.status_code == 200
    assert valid.json()["valid"] is True
    assert len(valid.json()["version"]) == 64
    assert invalid.json()["valid"] is False
    assert invalid.json()["problems"] == [
        {"path": "steps[0].needs[0]", "message": "step 'a' needs unknown step 'zz'"}
    ]
    times = [e["created_at"] for e in timeline.json()["events"]]
    assert times == sorted(times)
    assert len(times) >= 3
    types = [e["event_type"] for e in correlated.json()["events"]]
    assert types[0] == "run.created"
    assert types[-1] == "run.finished"
    assert {e["run_id"] for e in correlated.json()["events"]} == {run_id}
    assert no_anchor.status_code == 404
    assert nothing.status_code == 400
