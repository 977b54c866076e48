"""``autohub serve``: real HTTP against uvicorn on a free loopback port, on SQLite and
PostgreSQL: the seed endpoints, token checks, and readiness that tracks the store."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import time
from datetime import datetime
from typing import Any

import httpx
from serve_helpers import add_automations, add_nap, bearer, serving, start_running, started, token


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
        ("executor", True),
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


def test_metrics_pass_promtool_check_metrics(cli, project):
    """Debian's promtool lints the exposition (names, types, help, units)."""
    promtool = os.environ.get("AUTOHUB_TEST_PROMTOOL")
    assert promtool, "AUTOHUB_TEST_PROMTOOL is not set: run the tests through `make test`"
    cli("run", "hello", "-p", "who=metrics", check=0)
    cli("run", "backup-data", check=None)  # whatever its outcome, it adds stages
    viewer = bearer(token(cli, "viewer"))

    with serving(cli) as client:
        breakers = client.post(
            "/v1/breakers/deploy-target/reset", headers=bearer(token(cli, "operator"))
        )
        body = client.get("/metrics", headers=viewer).text

    assert breakers.status_code == 200
    assert 'autohub_breaker_state{breaker="deploy-target"}' in body
    assert 'automation_stage_success_total{automation="hello",stage="greet"} 1.0' in body
    assert (
        'autohub_step_attempts_total{automation="hello",outcome="succeeded",stage="greet"} 1.0'
        in body
    )
    assert (
        'autohub_step_duration_seconds_bucket{automation="hello",le="+Inf",stage="greet"} 1.0'
        in body
    )
    assert 'autohub_run_duration_seconds_count{automation="hello",state="succeeded"} 1.0' in body
    lint = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


ROLE_MATRIX = [
    # (method, path, least role that may call it)
    ("GET", "/v1/automations", "viewer"),
    ("GET", "/v1/automations/hello", "viewer"),
    ("GET", "/v1/runs/{run}", "viewer"),
    ("GET", "/metrics", "viewer"),
    ("GET", "/v1/events/stream", "viewer"),
    ("POST", "/v1/hooks/hooked", "operator"),
    ("GET", "/v1/runs", "viewer"),
    ("GET", "/v1/events", "viewer"),
    ("GET", "/v1/events/timeline", "viewer"),
    ("GET", "/v1/events/correlate?run={run}", "viewer"),
    ("POST", "/v1/automations/validate", "viewer"),
    ("GET", "/status", "viewer"),
    ("POST", "/v1/runs", "operator"),
    ("POST", "/v1/events/{event}/resolve", "operator"),
    ("GET", "/v1/breakers", "viewer"),
    ("POST", "/v1/breakers/deploy-target/reset", "operator"),
    ("GET", "/v1/tokens", "admin"),
    ("POST", "/v1/tokens", "admin"),
    ("POST", "/v1/runs/{run}/cancel", "operator"),
    ("DELETE", "/v1/tokens/{spare}", "admin"),
    ("GET", "/v1/gate/checks", "viewer"),
    ("POST", "/v1/gate/check", "operator"),
    ("GET", "/v1/todos", "viewer"),
    ("GET", "/v1/todos/{todo}", "viewer"),
    ("POST", "/v1/todos", "operator"),
    ("POST", "/v1/todos/{todo}/start", "operator"),
    ("POST", "/v1/todos/observe", "operator"),
]
ROLES = ("viewer", "operator", "admin")


def test_every_role_may_do_what_its_role_allows_and_no_more(cli, project):
    secrets = {role: token(cli, role) for role in ROLES}
    event = json.loads(
        cli("events", "record", "--type", "probe", "--status", "failed", "--json", check=0).stdout
    )
    cli("run", "hello", "-p", "who=matrix", check=0)
    run = json.loads(cli("runs", "--json", check=0).stdout)[0]["id"]
    spare = json.loads(cli("token", "create", "--role", "viewer", "--json", check=0).stdout)
    todo = json.loads(cli("todo", "add", "matrix", "--json", check=0).stdout)
    bodies = {
        "/v1/gate/check": {"checks": ["documentation"]},
        "/v1/todos": {"title": "matrix"},
        "/v1/todos/observe": {"tool_name": "Bash", "text": "ls"},
        "/v1/runs": {"automation": "hello", "params": {"who": "matrix"}},
        "/v1/tokens": {"role": "viewer", "projects": ["proj"]},
        "/v1/automations/validate": {"definition": {"name": "x", "steps": [{"id": "a"}]}},
    }

    add_automations(
        project,
        "  hooked:\n    triggers: [{type: webhook}]\n    steps:\n"
        "      - {id: a, shell: [echo, hooked]}\n",
    )

    def call(client: httpx.Client, method: str, url: str, **options: Any) -> httpx.Response:
        if url.endswith("/stream"):  # the live stream never ends: its status is enough
            with client.stream(method, url, **options) as answer:
                if answer.status_code != 200:
                    answer.read()  # the refusal's JSON
                    return answer
                return httpx.Response(200, text="(stream open)")
        return client.request(method, url, **options)

    outcomes = {}
    with serving(cli) as client:
        for method, path, least in ROLE_MATRIX:
            url = path.format(event=event["id"], run=run, spare=spare["id"], todo=todo["ref"])
            for role in ROLES:
                answer = call(
                    client, method, url, headers=bearer(secrets[role]), json=bodies.get(path)
                )
                allowed = ROLES.index(role) >= ROLES.index(least)
                expected = "2xx" if allowed else "403"
                got = "2xx" if answer.status_code < 300 else str(answer.status_code)
                outcomes[(path, role)] = (got, expected, answer.text[:200])
            anonymous = call(client, method, url, json=bodies.get(path))
            outcomes[(path, "none")] = (str(anonymous.status_code), "401", anonymous.text[:200])

    wrong = {key: (got, text) for key, (got, expected, text) in outcomes.items() if got != expected}
    assert wrong == {}


def test_a_triggered_run_executes_and_its_key_returns_the_same_run(cli, project):
    operator = bearer(token(cli, "operator"))
    body = {"automation": "hello", "params": {"who": "api"}, "idempotency_key": "deploy-42"}

    with serving(cli) as client:
        first = client.post("/v1/runs", json=body, headers=operator)
        again = client.post("/v1/runs", json=body, headers=operator)
        run_id = first.json()["run"]["id"]
        deadline = time.monotonic() + 60
        while True:
            shown = client.get(f"/v1/runs/{run_id}", headers=operator).json()
            if shown["state"] not in ("pending", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.2)

    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert again.json()["run"]["id"] == run_id
    assert shown["state"] == "succeeded"
    assert shown["trigger"] == "api"
    assert [step["step_id"] for step in shown["steps"]] == ["greet"]
    assert shown["steps"][0]["output"]["stdout"] == "hello, api\n"
    assert len(shown["attempts"]) == 1


def test_bad_requests_get_json_errors_naming_the_field(cli, project):
    operator = bearer(token(cli, "operator"))

    with serving(cli) as client:
        not_a_dict = client.post(
            "/v1/runs", json={"automation": "hello", "params": "x"}, headers=operator
        )
        bad_param = client.post(
            "/v1/runs", json={"automation": "hello", "params": {"who": 5}}, headers=operator
        )
        unknown = client.post("/v1/runs", json={"automation": "nope"}, headers=operator)
        too_large = client.post(
            "/v1/runs",
            content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            headers={**operator, "content-type": "application/json"},
        )
        bad_limit = client.get("/v1/events", params={"limit": 0}, headers=operator)
        bad_cursor = client.get("/v1/events", params={"cursor": "zzz"}, headers=operator)

    assert not_a_dict.status_code == 422
    assert not_a_dict.json()["error"]["field"] == "body.params"
    assert bad_param.status_code == 400
    assert bad_param.json()["error"] == {
        "code": "invalid_input",
        "message": "invalid params: param who: 5 is not a string",
    }
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "too_large")
    assert bad_limit.status_code == 422
    assert bad_limit.json()["error"]["field"] == "query.limit"
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.json()["error"]["message"]


def test_a_token_sees_only_its_projects(cli, project):
    own = bearer(token(cli, "operator"))
    other = json.loads(
        cli("token", "create", "--role", "admin", "-p", "elsewhere", "--json", check=0).stdout
    )
    foreign = bearer(other["secret"])
    cli("run", "hello", "-p", "who=mine", check=0)

    with serving(cli) as client:
        run_id = client.get("/v1/runs", headers=own).json()[0]["id"]
        mine = client.get(f"/v1/runs/{run_id}", headers=own)
        theirs = client.get(f"/v1/runs/{run_id}", headers=foreign)
        automations = client.get("/v1/automations", headers=foreign)
        trigger = client.post("/v1/runs", json={"automation": "hello"}, headers=foreign)
        events = client.get("/v1/events", params={"project": "proj"}, headers=foreign)

    assert mine.status_code == 200
    assert theirs.status_code == 404
    assert automations.json() == []
    assert trigger.status_code == 404
    assert events.status_code == 404


def test_events_page_with_a_cursor_and_resolve(cli, project):
    viewer, operator = bearer(token(cli, "viewer")), bearer(token(cli, "operator"))
    for n in range(3):
        cli(
            "events",
            "record",
            "--type",
            "paged",
            "--status",
            "warning",
            "--evidence",
            f'{{"n": {n}}}',
            check=0,
        )

    with serving(cli) as client:
        first = client.get(
            "/v1/events", params={"type": "paged", "limit": 2}, headers=viewer
        ).json()
        second = client.get(
            "/v1/events",
            params={"type": "paged", "limit": 2, "cursor": first["next_cursor"]},
            headers=viewer,
        ).json()
        newest = first["events"][0]["id"]
        resolved = client.post(f"/v1/events/{newest}/resolve", headers=operator)
        unresolved = client.get(
            "/v1/events", params={"type": "paged", "unresolved": "true"}, headers=viewer
        ).json()

    assert [e["evidence"]["n"] for e in first["events"] + second["events"]] == [2, 1, 0]
    assert second["next_cursor"] is None
    assert resolved.status_code == 200
    assert resolved.json()["resolved_at"] is not None
    assert [e["evidence"]["n"] for e in unresolved["events"]] == [1, 0]


def test_breakers_are_listed_and_reset(cli, project):
    viewer, operator = bearer(token(cli, "viewer")), bearer(token(cli, "operator"))

    with serving(cli) as client:
        listed = client.get("/v1/breakers", headers=viewer)
        reset = client.post("/v1/breakers/deploy-target/reset", headers=operator)
        unknown = client.post("/v1/breakers/nope/reset", headers=operator)

    assert listed.json() == [
        {"name": "deploy-target", "state": "closed", "failures": 0, "opened_at": None}
    ]
    assert reset.status_code == 200
    assert reset.json()["state"] == "closed"
    assert unknown.status_code == 404


def test_admins_manage_tokens_of_their_projects(cli, project):
    admin = bearer(token(cli, "admin"))

    with serving(cli) as client:
        created = client.post(
            "/v1/tokens",
            json={"role": "operator", "projects": ["proj"], "expires_in_seconds": 3600},
            headers=admin,
        )
        secret = created.json()["secret"]
        works = client.get("/v1/runs", headers=bearer(secret))
        foreign = client.post(
            "/v1/tokens", json={"role": "viewer", "projects": ["elsewhere"]}, headers=admin
        )
        bad_role = client.post(
            "/v1/tokens", json={"role": "root", "projects": ["proj"]}, headers=admin
        )
        listed = client.get("/v1/tokens", headers=admin).json()
        revoked = client.delete(f"/v1/tokens/{created.json()['id']}", headers=admin)
        after = client.get("/v1/runs", headers=bearer(secret))

    assert created.status_code == 201
    assert secret.startswith("ahk_")
    assert works.status_code == 200
    assert foreign.status_code == 404
    assert bad_role.status_code == 400
    assert "role: 'root'" in bad_role.json()["error"]["message"]
    assert created.json()["id"] in {t["id"] for t in listed}
    assert all("secret" not in t for t in listed)
    assert revoked.status_code == 200
    assert after.status_code == 401


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(cli, project):
    config = project.path("autohub.yaml")
    config.write_text(config.read_text() + "\nserver:\n  rate_limit_per_minute: 3\n")
    viewer = bearer(token(cli, "viewer"))
    other = bearer(token(cli, "viewer"))

    with serving(cli) as client:
        answers = [client.get("/v1/runs", headers=viewer) for _ in range(4)]
        another = client.get("/v1/runs", headers=other)

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "rate_limited"
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert another.status_code == 200, "the limit is per token"


def test_cors_is_off_by_default_and_allows_configured_origins(cli, project):
    preflight = {
        "Origin": "https://ops.example.com",
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    with serving(cli) as client:
        closed = client.options("/v1/runs", headers=preflight)
    config = project.path("autohub.yaml")
    config.write_text(
        config.read_text() + '\nserver:\n  cors_origins: ["https://ops.example.com"]\n'
    )
    with serving(cli) as client:
        opened = client.options("/v1/runs", headers=preflight)

    assert "access-control-allow-origin" not in closed.headers
    assert opened.status_code == 200
    assert opened.headers["access-control-allow-origin"] == "https://ops.example.com"


def test_two_servers_on_one_store_execute_each_run_once(cli, project):
    operator = bearer(token(cli, "operator"))

    with serving(cli) as first, serving(cli) as second:
        ids = [
            client.post(
                "/v1/runs",
                json={"automation": "hello", "params": {"who": f"n{n}"}},
                headers=operator,
            ).json()["run"]["id"]
            for n, client in enumerate([first, second] * 3)
        ]
        deadline = time.monotonic() + 90
        while True:
            shown = [first.get(f"/v1/runs/{run_id}", headers=operator).json() for run_id in ids]
            if all(run["state"] == "succeeded" for run in shown) or time.monotonic() > deadline:
                break
            time.sleep(0.3)

    assert [run["state"] for run in shown] == ["succeeded"] * 6
    assert [len(run["attempts"]) for run in shown] == [1] * 6, "each step ran once"


def test_sigterm_lets_a_running_run_finish(cli, project):
    add_nap(project, 2)
    operator = bearer(token(cli, "operator"))
    with started(cli) as served:
        run_id = start_running(served.client, operator, "nap")
        served.server.terminate()  # SIGTERM while the step sleeps
        # uvicorn shuts down gracefully, then exits by the signal it caught
        assert served.server.wait(timeout=30) in (0, -signal.SIGTERM)

    runs = json.loads(cli("runs", "--json", check=0).stdout)
    assert [(run["id"], run["state"]) for run in runs if run["automation"] == "nap"] == [
        (run_id, "succeeded")
    ]


def test_two_servers_sharing_a_store_fire_each_cron_tick_once(cli, project):
    add_automations(
        project,
        '  beat:\n    triggers: [{type: cron, schedule: "* * * * * *"}]\n'
        "    steps:\n      - {id: a, shell: [echo, beat]}\n",
    )
    with serving(cli, scheduler=True) as one, serving(cli, scheduler=True) as two:
        ready = [one.get("/ready").json(), two.get("/ready").json()]
        time.sleep(4)

    assert [{c["name"]: c["ok"] for c in r["checks"]}.get("scheduler") for r in ready] == [
        True,
        True,
    ]
    fired = json.loads(
        cli("events", "--type", "schedule.fired", "--limit", "1000", "--json", check=0).stdout
    )["events"]
    ticks = sorted(e["evidence"]["scheduled_for"] for e in fired)
    assert len(ticks) >= 3, "about one tick a second for 4 s"
    assert len(set(ticks)) == len(ticks), "a tick fired twice"
    seconds = [datetime.fromisoformat(t).timestamp() for t in ticks]
    assert [b - a for a, b in itertools.pairwise(seconds)] == [1.0] * (len(ticks) - 1)
    runs = json.loads(cli("runs", "--json", "--limit", "1000", check=0).stdout)
    assert sorted(run["id"] for run in runs if run["automation"] == "beat") == sorted(
        e["run_id"] for e in fired
    )
    assert all(run["trigger"] == "cron" for run in runs if run["automation"] == "beat")


def test_a_run_still_going_after_the_grace_is_handed_over_not_cancelled(cli, project):
    add_nap(project, 4, extra="\nserver:\n  shutdown_grace_seconds: 0.5\n")
    operator = bearer(token(cli, "operator"))
    with started(cli) as served:
        run_id = start_running(served.client, operator, "nap")
        served.server.terminate()  # SIGTERM: the step sleeps 4 s, the grace is 0.5 s
        assert served.server.wait(timeout=30) in (0, -signal.SIGTERM)

    left = cli("run-show", run_id, "--json", check=0).json()
    resumed = cli("resume", run_id, check=None)
    shown = cli("run-show", run_id, "--json", check=0).json()

    assert (left["state"], left["owner"]) == ("running", None), "handed over, not cancelled"
    assert resumed.code == 0, resumed.output
    assert shown["state"] == "succeeded"
    assert [a["outcome"] for a in shown["attempts"]] == ["interrupted", "succeeded"]


def test_a_new_definition_file_is_served_without_a_restart(cli, project):
    viewer = bearer(token(cli, "viewer"))
    new = "name: fresh-job\nsteps: [{id: s, shell: [echo, fresh]}]\n"

    with serving(cli) as client:
        before = {a["name"] for a in client.get("/v1/automations", headers=viewer).json()}
        project.path("automations/fresh.yaml").write_text(new)
        deadline = time.monotonic() + 20
        while True:
            listed = client.get("/v1/automations", headers=viewer).json()
            after = {automation["name"] for automation in listed}
            if "fresh-job" in after or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        events = client.get("/v1/events?type=registry.reloaded", headers=viewer).json()

    assert "fresh-job" not in before
    assert after == before | {"fresh-job"}
    (reloaded,) = events["events"]
    assert reloaded["evidence"]["added"] == ["fresh-job"]


def test_a_recorded_event_starts_the_run_that_waits_for_it(cli, project):
    add_automations(
        project,
        "  on-alert:\n"
        "    params: {service: {type: string, required: true}}\n"
        "    triggers:\n"
        "      - {type: event, event_type: alert.raised, status: [failed],"
        " params: {service: evidence.service}}\n"
        '    steps:\n      - {id: a, shell: [echo, "restart {{ params.service }}"]}\n',
    )
    with serving(cli, scheduler=True) as client:
        ready = {c["name"]: c["ok"] for c in client.get("/ready").json()["checks"]}
        evidence = json.dumps({"service": "billing-api"})
        for status in ("warning", "failed"):
            cli("events", "record", "--type", "alert.raised", "--status", status,
                "--evidence", evidence, check=0)  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            runs = json.loads(cli("runs", "--json", check=0).stdout)
            triggered = [run for run in runs if run["automation"] == "on-alert"]
            done = triggered and triggered[0]["state"] == "succeeded"
            if done or time.monotonic() > deadline:
                break
            time.sleep(0.3)

    assert ready["event_triggers"] is True
    assert [(run["trigger"], run["params"], run["state"]) for run in triggered] == [
        ("event", {"service": "billing-api"}, "succeeded")
    ]
    shown = cli("run-show", triggered[0]["id"], "--json", check=0).json()
    assert shown["steps"][0]["output"]["stdout"] == "restart billing-api\n"
