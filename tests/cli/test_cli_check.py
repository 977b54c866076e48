"""``autohub check``, the ``gate`` step kind and ``/v1/gate`` as a user runs them, on
sample repositories built in the project (both databases).

The samples' pytest runs without plugin autoloading (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``
in the CLI's environment): each gate runs two tiny pytest sessions of ~0.4 s.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from serve_helpers import bearer, serving, token
from sqlalchemy.engine import make_url

from services import free_port

sys.path.insert(0, str(Path(__file__).parents[1] / "gate"))

from gate_samples import FAST_PYTEST, go_repo, no_go_repo, warning_repo, write

CHECK_NAMES = ("tests", "security", "documentation", "performance", "integration", "rollback")

GATED_DEPLOY = """
name: gated-deploy
params:
  tree: {type: string}
steps:
  - id: gate
    gate: "{{ params.tree }}"
  - id: deploy
    needs: [gate]
    shell: [touch, deployed]
"""


def json_value(value: Any) -> Any:
    """A JSON column as read back: a dict on PostgreSQL, text on SQLite."""
    return json.loads(value) if isinstance(value, str) else value


def gate_events(read_db: Any, project: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = read_db(
        project.database_url,
        "SELECT status, evidence, detected_from, run_id FROM automation_events "
        "WHERE event_type = 'production_check' ORDER BY id",
    )
    return rows


@pytest.fixture
def fast(cli: Any) -> None:
    cli.env[FAST_PYTEST] = "1"


def test_each_decision_has_its_exit_code_and_its_stored_event(
    cli: Any, project: Any, read_db: Any, fast: None
) -> None:
    go_repo(project.path("go"))
    warning_repo(project.path("warn"))
    no_go_repo(project.path("nogo"))

    go = cli("check", "go", check=0)
    warn = cli("check", "warn", "--json", check=3)
    nogo = cli("check", "nogo", check=1)

    for name in CHECK_NAMES:
        assert re.search(rf"│ {name} +│ passed +│", go.stdout), name
    assert go.stdout.splitlines()[-1].startswith("GO  confidence 100/100")
    assert re.fullmatch(r"recorded as event \d+\n", go.stderr)
    report = warn.json()
    assert (report["decision"], report["confidence"]) == ("WARNING", 95)
    assert report["checks"]["performance"]["status"] == "missing"
    assert report["checks"]["tests"]["evidence"]["passed"] == 2
    assert re.search(r"│ tests +│ failed +│ 1 of 2 tests failed", nogo.stdout)
    assert nogo.stdout.splitlines()[-1].startswith("NO-GO  confidence 70/100")
    events = gate_events(read_db, project)
    assert [(e["status"], e["detected_from"]) for e in events] == [
        ("success", "autohub check"),
        ("warning", "autohub check"),
        ("failed", "autohub check"),
    ]
    assert json_value(events[1]["evidence"]) == report  # --json is the event's evidence


def test_bad_input_and_bad_config_are_one_line_errors_exiting_2(
    cli: Any, example: Any, line: Any, tables: Any
) -> None:
    config = example.path("autohub.yaml")
    cases = [
        (("check", "nowhere"), f"error: PATH: {example.root}/nowhere does not exist"),
        (("check", "--only", "speed"), "error: --only: speed not among tests, security, "),
    ]
    for args, message in cases:
        result = cli(*args, check=2)
        assert (result.stdout, len(result.stderr.splitlines())) == ("", 1), args
        assert result.stderr.startswith(message), result.stderr

    config.write_text(config.read_text() + "gate:\n  tests:\n    timeout_seconds: 0\n")
    result = cli("check", check=2)

    where = f"autohub.yaml:{line(config, 'timeout_seconds')}"
    assert result.stderr == (
        f"error: invalid configuration: {where}: gate.tests.timeout_seconds: "
        "Input should be greater than 0\n"
    )
    assert tables(example.database_url) == set()  # nothing touched the store


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_decision_is_printed_and_its_event_spooled_while_the_database_is_down(
    cli: Any, project: Any
) -> None:
    write(project.root, {"README.md": "# proj\n"})
    down = make_url(project.database_url).set(port=free_port())
    cli.env["AUTOHUB_DATABASE_URL"] = down.render_as_string(hide_password=False)

    result = cli("check", "--only", "documentation", "--json", check=0)

    assert result.json()["decision"] == "GO"
    assert result.stderr.startswith("event spooled (database unavailable): uid ")
    (spooled,) = project.path(".autohub/spool/events.jsonl").read_text().splitlines()
    assert json.loads(spooled)["event_type"] == "production_check"


def test_a_deploy_does_not_run_past_a_no_go_gate(
    cli: Any, project: Any, read_db: Any, fast: None
) -> None:
    project.path("automations/gated-deploy.yaml").write_text(textwrap.dedent(GATED_DEPLOY))
    no_go_repo(project.path("nogo"))
    go_repo(project.path("go"))

    stopped = cli("run", "gated-deploy", "-p", "tree=nogo", "--json", check=1)
    assert not project.path("deployed").exists()
    cli("run", "gated-deploy", "-p", "tree=go", check=0)

    assert project.path("deployed").exists()
    run = stopped.json()
    assert [(s["step_id"], s["state"]) for s in run["steps"]] == [
        ("gate", "failed"),
        ("deploy", "skipped"),
    ]
    assert run["steps"][0]["error"].startswith("gate: NO-GO (confidence 70): tests failed")
    # One attempt despite the project's default retry (attempts: 2): a NO-GO is final.
    (attempt,) = [a for a in run["attempts"] if a["step_id"] == "gate"]
    assert attempt["output_snippet"].startswith('{"decision": "NO-GO", "confidence": 70')
    events = gate_events(read_db, project)
    assert [(e["status"], e["detected_from"]) for e in events] == [
        ("failed", "gate step"),
        ("success", "gate step"),
    ]
    assert events[0]["run_id"] == run["id"]


def test_the_api_runs_the_gate_for_operators_inside_the_project_root_only(
    cli: Any, project: Any, fast: None
) -> None:
    go_repo(project.path("app"))
    write(project.path("app"), {"benchmarks.py": "import time\ntime.sleep(2)\nprint('ok')\n"})
    operator, viewer = bearer(token(cli, "operator")), bearer(token(cli, "viewer"))
    body = {"path": "app"}

    with serving(cli) as client:
        refusals = [
            client.post("/v1/gate/check", json=body),
            client.post("/v1/gate/check", json=body, headers=viewer),
            client.post("/v1/gate/check", json={"path": ".."}, headers=operator),
            client.post("/v1/gate/check", json={"path": "/etc"}, headers=operator),
            client.post("/v1/gate/check", json={"path": "app", "checks": []}, headers=operator),
        ]
        answers: list[httpx.Response] = []
        gate = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{client.base_url}/v1/gate/check", json=body, headers=operator, timeout=60
                )
            )
        )
        gate.start()
        time.sleep(1.5)  # the gate is in its benchmark now
        started = time.monotonic()
        health = client.get("/health")
        health_seconds = time.monotonic() - started
        still_checking = gate.is_alive()
        gate.join(60)
        listed = client.get("/v1/gate/checks", headers=viewer)

    assert [r.status_code for r in refusals] == [401, 403, 400, 400, 422]
    assert refusals[2].json()["error"]["message"] == (
        f"path: '..' is outside the project root {project.root}"
    )
    assert (still_checking, health.status_code, health_seconds < 0.5) == (True, 200, True)
    (ran,) = answers
    assert ran.status_code == 200
    report = ran.json()["report"]
    assert (report["decision"], report["path"]) == ("GO", str(project.path("app")))
    assert report["checks"]["performance"]["evidence"]["output_tail"] == "ok"
    (event,) = listed.json()["checks"]
    assert (event["id"], event["status"]) == (ran.json()["event_id"], "success")
    assert event["evidence"] == report
