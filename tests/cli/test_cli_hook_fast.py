"""The Claude Code hook's fast start: after a first call on the normal route, calls on a
SQLite store are handled without SQLAlchemy, pydantic or Typer, take the same decisions
and write the same rows; a changed autohub.yaml, or a PostgreSQL store, takes the normal
route again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PAYLOADS = Path(__file__).resolve().parents[1] / "fixtures" / "claude-hooks"
HEAVY = ("sqlalchemy", "pydantic", "typer", "yaml")


def hook(cli: Any, payload: dict[str, Any] | str, *, importtime: bool = False) -> Any:
    """``autohub hook claude-code`` with ``payload`` on stdin, from the project."""
    argv = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "autohub"]
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run(
        [*argv, "hook", "claude-code"],
        input=data,
        cwd=cli.cwd,
        env={**cli.env, "CLAUDE_PROJECT_DIR": str(cli.cwd)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def heavy_imports(stderr: str) -> set[str]:
    """The heavy packages a ``-X importtime`` run imported."""
    names = {line.split("|")[-1].strip() for line in stderr.splitlines() if "|" in line}
    return {name for name in names if name.split(".")[0] in HEAVY}


def bash_output(stdout: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((PAYLOADS / "posttooluse-bash.json").read_text())
    payload["tool_response"]["stdout"] = stdout
    return payload


def events(read_db: Any, url: str) -> list[dict[str, Any]]:
    return read_db(
        url,
        "SELECT event_type, status, evidence, correlation_id FROM automation_events "
        "WHERE event_type NOT IN ('project_initialised', 'todo.added') ORDER BY id",
    )


def evidence_of(row: dict[str, Any]) -> dict[str, Any]:
    value = row["evidence"]
    return json.loads(value) if isinstance(value, str) else dict(value)


def test_after_one_normal_call_the_hook_starts_without_the_heavy_imports(
    cli, sqlite_project, read_db
):
    cli("todo", "add", "Run the test suite", "--start", check=0)
    cache = sqlite_project.path(".autohub/hook-settings.json")

    first = hook(cli, bash_output("Tests: 3 passed, 3 total"), importtime=True)
    assert first.returncode == 0
    assert first.stdout == ""
    assert "sqlalchemy" in heavy_imports(first.stderr)  # the normal route, which...
    assert cache.is_file()  # ...writes the settings the next calls read
    assert "password" not in cache.read_text().lower()

    second = hook(cli, bash_output("Tests: 3 passed, 3 total"), importtime=True)
    assert second.returncode == 0
    assert second.stdout == ""
    assert heavy_imports(second.stderr) == set()

    rows = events(read_db, sqlite_project.database_url)
    assert [row["event_type"] for row in rows] == ["action_item_completed", "no_action_taken"]
    assert evidence_of(rows[1])["reason"] == "no todo is in progress"
    assert {row["correlation_id"] for row in rows} == {"abc123"}


def test_both_routes_write_the_same_evidence(cli, sqlite_project, read_db):
    payload = bash_output("ok: build succeeded in 4.2s, 0 errors")
    hook(cli, payload)  # normal route (no cache yet)
    hook(cli, payload)  # fast start

    normal, fast = (evidence_of(row) for row in events(read_db, sqlite_project.database_url))
    assert normal == fast
    assert normal["keyword_category"] == "build-success"
    assert normal["confidence"] == 95
    assert normal["reason"] == "no todo is in progress"


def test_a_changed_autohub_yaml_takes_the_normal_route_and_its_new_policy(cli, sqlite_project):
    rm = {"hook_event_name": "PreToolUse", "tool_name": "Bash", "session_id": "s1"}
    rm["tool_input"] = {"command": "rm -rf / --no-preserve-root"}
    assert hook(cli, rm).returncode == 0  # allowed; the cache is written

    config = sqlite_project.path("autohub.yaml")
    config.write_text(
        config.read_text() + "\nwatch:\n  claude_code:\n    deny_commands: ['rm\\s+-rf\\s+/']\n"
    )
    blocked = hook(cli, rm, importtime=True)
    again = hook(cli, rm, importtime=True)

    assert blocked.returncode == 2
    assert "deny_commands" in blocked.stderr
    assert "sqlalchemy" in heavy_imports(blocked.stderr)
    assert again.returncode == 2
    assert heavy_imports(again.stderr) == set()


def test_secrets_are_redacted_on_the_fast_start(cli, sqlite_project, read_db):
    secrets = sqlite_project.path("secrets.env")
    secrets.write_text("DEPLOY_KEY=s3cr3t-value-42\n")
    os.chmod(secrets, 0o600)
    config = sqlite_project.path("autohub.yaml")
    config.write_text(config.read_text() + "\nsecrets_file: secrets.env\n")
    hook(cli, bash_output("hello"))  # the normal route writes the cache

    leaked = hook(cli, bash_output("deployed with s3cr3t-value-42 to prod 7"), importtime=True)

    assert heavy_imports(leaked.stderr) == set()
    rows = events(read_db, sqlite_project.database_url)
    snippet = evidence_of(rows[-1])["context_snippet"]
    assert "s3cr3t-value-42" not in snippet
    assert "[REDACTED]" in snippet


def test_a_secret_a_definition_file_refers_to_is_redacted_on_both_routes(
    cli, sqlite_project, read_db
):
    cli.env["PARTNER_LOGIN"] = "pl-4d3c2b1a-value"  # not a secret by its name
    hook(cli, bash_output("hello"))  # the normal route writes the cache
    sqlite_project.path("automations/partner.yaml").write_text(
        'name: partner\nsteps: [{id: s, shell: [login, "${PARTNER_LOGIN}"]}]\n'
    )

    normal = hook(cli, bash_output("deployed with pl-4d3c2b1a-value to prod 1"), importtime=True)
    fast = hook(cli, bash_output("deployed with pl-4d3c2b1a-value to prod 2"), importtime=True)

    assert "sqlalchemy" in heavy_imports(normal.stderr), "a new definition file: a miss"
    assert heavy_imports(fast.stderr) == set()
    snippets = [
        evidence_of(row)["context_snippet"]
        for row in events(read_db, sqlite_project.database_url)[-2:]
    ]
    assert all("pl-4d3c2b1a-value" not in snippet for snippet in snippets)
    assert all("[REDACTED]" in snippet for snippet in snippets)


def test_input_the_fast_start_cannot_use_goes_the_normal_way(cli, sqlite_project, read_db):
    hook(cli, bash_output("hello"))  # cache written
    broken = hook(cli, "{not json", importtime=True)

    assert broken.returncode == 0
    assert "sqlalchemy" in heavy_imports(broken.stderr)
    rows = events(read_db, sqlite_project.database_url)
    assert evidence_of(rows[-1])["reason"].startswith("invalid hook input: hook input is not JSON")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_postgresql_store_never_gets_a_fast_start(cli, project, database_url):
    first = hook(cli, bash_output("hello"))
    second = hook(cli, bash_output("hello"), importtime=True)

    assert (first.returncode, second.returncode) == (0, 0)
    assert not project.path(".autohub/hook-settings.json").exists()
    assert "sqlalchemy" in heavy_imports(second.stderr)
