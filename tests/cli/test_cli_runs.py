"""``autohub run | runs | run-show | cancel | resume`` as a user runs them (both databases).

The project is ``autohub init proj`` (its ``hello`` automation, ``deploy-service``,
``disk-report``) plus automations written into ``automations/`` by each test.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
RUN_KEYS = {
    "id", "automation", "version", "project_id", "params", "trigger", "idempotency_key",
    "state", "error", "max_parallel", "created_at", "started_at", "finished_at",
    "deadline_at", "owner", "lease_expires_at", "cancel_requested_at",
}  # fmt: skip
STEP_KEYS = {
    "run_id", "step_id", "position", "state", "attempts", "next_attempt_at", "output",
    "error", "method", "idempotency_key", "owner", "lease_expires_at", "started_at",
    "finished_at",
}  # fmt: skip
ATTEMPT_KEYS = {
    "id", "run_id", "step_id", "number", "method", "tier", "outcome", "started_at",
    "finished_at", "duration_seconds", "error", "output_snippet",
}  # fmt: skip

BROKEN = """
name: broken
steps:
  - id: check
    shell: [sh, -c, "echo disk on fire >&2; exit 7"]
    retry: {attempts: 2, backoff: {initial: 100ms, max: 100ms}}
"""

SLOW = """
name: slow
timeout: 1s
steps:
  - id: wait
    shell: [sleep, "30"]
"""

NAP = """
name: nap
steps:
  - id: doze
    shell: [sleep, "3"]
"""

LONG = """
name: long
steps:
  - id: wait
    shell: {command: "echo $$ > long.pid; exec sleep 60", shell: true}
"""


def add_automation(project, text: str) -> None:
    name = re.search(r"^name: (\S+)$", text, re.MULTILINE).group(1)  # type: ignore[union-attr]
    project.path(f"automations/{name}.yaml").write_text(textwrap.dedent(text).lstrip())


def runs_in(read_db, project) -> list[dict]:
    return read_db(project.database_url, "SELECT id, automation, state FROM runs")


def wait_for(probe, what: str, within: float = 20.0):
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"waited {within} s for {what}"
        time.sleep(0.1)


def pid_is_gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` has ended (a zombie counts: PID 1 here does not reap orphans)."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.kill(pid, 0)
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (ProcessLookupError, FileNotFoundError):
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


@pytest.fixture
def background_runners(project, read_db):
    """Kills, at the end, the runners of runs left unfinished (a detached run whose test
    failed must not hold the database for the next test)."""
    yield
    rows = read_db(
        project.database_url,
        "SELECT owner FROM runs WHERE state IN ('pending', 'running') AND owner IS NOT NULL",
    )
    for row in rows:
        pid = int(row["owner"].split(":")[1])
        if pid != os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# -- run ------------------------------------------------------------------------------


def test_run_exits_0_and_prints_the_step_tree(cli, project, read_db):
    _code, stdout, stderr = cli("run", "hello", "-p", "who=x", check=0)

    (run,) = runs_in(read_db, project)
    assert (run["automation"], run["state"]) == ("hello", "succeeded")
    lines = stdout.splitlines()
    assert lines[0] == "  greet: succeeded (attempt 1)"  # the progress line
    assert lines[1].startswith(f"run {run['id']} hello succeeded ")
    assert lines[2] == "params: {'who': 'x'}"
    assert lines[3:5] == ["steps", "└── greet succeeded via shell"]
    assert re.fullmatch(r"    └── attempt 1 shell succeeded \d+\.\d{3}s", lines[5])
    assert len(lines) == 6
    assert stderr == ""
    (step,) = read_db(project.database_url, "SELECT output FROM run_steps")
    assert "hello, x" in str(step["output"])


def test_a_run_on_sqlite_does_not_import_the_postgresql_dialect_or_driver(cli, sqlite_project):
    # SQLAlchemy's PostgreSQL dialect costs a SQLite process 19 modules and 2.7 MB.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "autohub", "run", "hello", "-p", "who=x"],
        cwd=cli.cwd,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "sqlalchemy.dialects.sqlite" in imported  # the log is read right...
    assert {name for name in imported if "postgresql" in name or "psycopg" in name} == set()


def test_a_failed_run_exits_1_and_run_show_lists_every_attempt(cli, project, read_db):
    add_automation(project, BROKEN)
    _code, stdout, _stderr = cli("run", "broken", check=1)
    (run,) = runs_in(read_db, project)
    assert run["state"] == "failed"
    assert f"run {run['id']} broken failed" in stdout
    assert "failed steps: check" in stdout

    _code, shown, _stderr = cli("run-show", run["id"][:8], check=0)
    assert shown.splitlines()[0].startswith(f"run {run['id']} broken failed ")
    assert "check failed" in shown
    attempts = [line.strip(" │└├─") for line in shown.splitlines() if "attempt" in line]
    assert len(attempts) == 2
    for number, line in enumerate(attempts, start=1):
        assert re.fullmatch(
            rf"attempt {number} shell failed \d+\.\d{{3}}s exited with code 7: disk on fire",
            line,
        ), line


def test_a_timed_out_run_exits_3(cli, project, read_db):
    add_automation(project, SLOW)
    started = time.monotonic()
    _code, stdout, _stderr = cli("run", "slow", check=3)
    assert time.monotonic() - started < 10
    (run,) = runs_in(read_db, project)
    assert run["state"] == "timed_out"
    assert f"run {run['id']} slow timed_out" in stdout
    assert "the run exceeded its timeout of 1.0s" in stdout


def test_bad_input_exits_2_with_one_clear_line(cli, project, read_db):
    cases = [
        (("run", "hello", "-p", "nokey"), "error: -p 'nokey': expected key=value"),
        (("run", "helo"), "error: unknown automation 'helo'; did you mean hello? (known: "),
        (
            ("run", "deploy-service", "-p", "version=1.2"),
            "error: invalid params: param env: required",
        ),
        (
            ("run", "disk-report", "-p", "min_free_percent=lots"),
            "error: invalid params: param min_free_percent: 'lots' is not a number",
        ),
        (("run-show", "0123456789ab"), "error: no run with id '0123456789ab'"),
        (("cancel", "0123456789ab"), "error: no run with id '0123456789ab'"),
    ]
    for args, message in cases:
        _code, stdout, stderr = cli(*args, check=2)
        assert stdout == "", args
        assert len(stderr.splitlines()) == 1, (args, stderr)
        assert stderr.startswith(message), (args, stderr)
    assert runs_in(read_db, project) == []


def test_the_same_idempotency_key_gives_the_same_run_and_says_so(cli, project, read_db):
    first = cli("run", "hello", "--idempotency-key", "deploy-42", "--json", check=0)
    second = cli("run", "hello", "--idempotency-key", "deploy-42", "--json", check=0)

    assert first.json()["id"] == second.json()["id"]
    assert "already used" not in first.output
    assert second.stderr.strip() == (
        f"idempotency key deploy-42 already used: run {first.json()['id']}"
    )
    assert len(runs_in(read_db, project)) == 1


def test_run_json_is_the_run_with_its_steps_and_attempts(cli, project):
    data = cli("run", "hello", "-p", "who=json", "--json", check=0).json()

    assert set(data) == RUN_KEYS | {"steps", "attempts"}
    assert RUN_ID.match(data["id"])
    assert (data["automation"], data["state"], data["trigger"]) == ("hello", "succeeded", "cli")
    assert data["params"] == {"who": "json"}
    (step,) = data["steps"]
    assert set(step) == STEP_KEYS
    assert (step["step_id"], step["state"], step["method"]) == ("greet", "succeeded", "shell")
    assert step["output"]["stdout"] == "hello, json\n"
    (attempt,) = data["attempts"]
    assert set(attempt) == ATTEMPT_KEYS
    assert (attempt["number"], attempt["outcome"]) == (1, "succeeded")
    assert cli("run-show", data["id"], "--json", check=0).json() == data


# -- runs -----------------------------------------------------------------------------


def test_runs_lists_runs_newest_first_with_filters(cli, project):
    add_automation(project, BROKEN)
    hello = cli("run", "hello", "--json", check=0).json()["id"]
    broken = cli("run", "broken", "--json", check=1).json()["id"]

    table = cli("runs", check=0).stdout
    assert table.splitlines()[0] == "2 runs, newest first"
    assert table.index(broken[:12]) < table.index(hello[:12])
    assert "succeeded" in table
    assert "failed" in table

    failed = cli("runs", "--state", "failed", "--json", check=0).json()
    assert [(run["id"], run["state"]) for run in failed] == [(broken, "failed")]
    assert set(failed[0]) == RUN_KEYS
    only_hello = cli("runs", "--automation", "hello", check=0).stdout
    assert only_hello.splitlines()[0] == "1 runs, newest first"
    assert hello[:12] in only_hello
    assert broken[:12] not in only_hello


# -- detach, cancel, resume -----------------------------------------------------------


def test_run_detach_returns_at_once_and_the_run_finishes_in_the_background(
    cli, project, read_db, background_runners
):
    add_automation(project, NAP)
    _code, stdout, _stderr = cli("run", "nap", "--detach", check=0)
    run_id = stdout.strip()
    assert RUN_ID.match(run_id), stdout
    (at_return,) = runs_in(read_db, project)
    assert at_return["state"] in ("pending", "running"), "it did not wait for the 3 s step"

    def finished():
        data = cli("run-show", run_id, "--json", check=0).json()
        return data if data["state"] not in ("pending", "running") else None

    data = wait_for(finished, "the detached run to finish")
    assert data["state"] == "succeeded"
    assert data["trigger"] == "cli"
    assert [a["outcome"] for a in data["attempts"]] == ["succeeded"]
    assert project.path(f".autohub/logs/{run_id}.log").exists()


def test_cancel_ends_a_detached_long_run_as_cancelled(cli, project, read_db, background_runners):
    add_automation(project, LONG)
    run_id = cli("run", "long", "--detach", check=0).stdout.strip()
    pid_file = project.path("long.pid")
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), "the step to start")
    sleeper = int(pid_file.read_text())

    _code, stdout, _stderr = cli("cancel", run_id[:10], check=0)
    assert stdout.strip() == f"run {run_id}: cancelled"  # within its --wait of 10 s
    data = cli("run-show", run_id, "--json", check=0).json()
    assert data["state"] == "cancelled"
    assert [step["state"] for step in data["steps"]] == ["cancelled"]
    assert data["cancel_requested_at"] is not None
    assert pid_is_gone(sleeper)
    (row,) = read_db(project.database_url, "SELECT owner FROM runs")
    assert row["owner"] is None


def test_resume_with_nothing_to_resume_says_so(cli, project):
    _code, stdout, _stderr = cli("resume", check=0)
    assert stdout.strip() == "nothing to resume"
