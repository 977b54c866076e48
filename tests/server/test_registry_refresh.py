"""A serving hub keeps its definitions current (``RegistryRefresher``), on both databases:
new, changed and broken sources, the events that record each reload, the secrets the new
definitions reference, and the scheduler's cron triggers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autohub.hub import Hub
from autohub.server.registry_refresh import RegistryRefresher
from autohub.server.scheduler import Scheduler
from autohub.store import migrations

CONFIG = "project: live\nautomations:\n  a:\n    steps: [{id: s, shell: [echo, a]}]\n"


def open_hub(root: Path, database_url: str) -> Hub:
    hub = Hub.from_config(root / "autohub.yaml")
    hub.config.settings.database_url = database_url
    migrations.upgrade(hub.database)
    return hub


@pytest.fixture
def hub(tmp_path: Path, database_url: str) -> Iterator[Hub]:
    (tmp_path / "autohub.yaml").write_text(CONFIG)
    opened = open_hub(tmp_path, database_url)
    yield opened
    opened.close()


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def events(hub: Hub, event_type: str) -> list[dict[str, Any]]:
    from autohub.store.events import EventFilter

    page = hub.events.query(EventFilter(event_types=[event_type]), limit=100)
    return [event.to_dict() for event in reversed(page.events)]


def names(hub: Hub) -> list[str]:
    return sorted(definition.name for definition in hub.registry)


def test_a_new_file_is_loaded_and_the_reload_recorded(hub: Hub, tmp_path: Path) -> None:
    refresher = RegistryRefresher(hub)
    assert names(hub) == ["a"]
    assert refresher.check() is False  # nothing changed

    write(tmp_path, "automations/b.yaml", "name: b\nsteps: [{id: s, shell: [echo, b]}]\n")
    write(tmp_path, "autohub.yaml", CONFIG.replace("echo, a", "echo, A"))
    assert refresher.check() is True

    assert names(hub) == ["a", "b"]
    (event,) = events(hub, "registry.reloaded")
    assert event["status"] == "success"
    assert event["project_id"] == "live"
    assert event["evidence"] == {"added": ["b"], "removed": [], "changed": ["a"]}


def test_a_broken_change_keeps_the_last_good_definitions_and_is_recorded_once(
    hub: Hub, tmp_path: Path
) -> None:
    refresher = RegistryRefresher(hub)
    assert names(hub) == ["a"]
    write(tmp_path, "automations/b.yaml", "name: b\nsteps: [{id: s, shel: [echo, b]}]\n")

    assert refresher.check() is False
    assert refresher.check() is False
    assert names(hub) == ["a"]
    (failed,) = events(hub, "registry.reload_failed")
    assert failed["status"] == "failed"
    assert failed["evidence"]["kept"] == ["a"]
    assert "automations/b.yaml" in failed["evidence"]["error"]
    assert any("shel" in problem for problem in failed["evidence"]["problems"])

    write(tmp_path, "automations/b.yaml", "name: b\nsteps: [{id: s, shell: [echo, b]}]\n")
    assert refresher.check() is True
    assert names(hub) == ["a", "b"]
    (reloaded,) = events(hub, "registry.reloaded")
    assert reloaded["evidence"]["added"] == ["b"]


REFERENCING_SOURCES = {
    "autohub.yaml": CONFIG.replace("[echo, a]", '[deploy, "${DEPLOY_TARGET}"]'),
    "automations/deploy.yaml": (
        'name: deploy\nsteps: [{id: s, shell: [deploy, "${DEPLOY_TARGET}"]}]\n'
    ),
}


@pytest.mark.parametrize("source", sorted(REFERENCING_SOURCES))
def test_a_secret_that_reloaded_definitions_reference_is_redacted_from_then_on(
    source: str, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    value = "tgt-9f8e7d6c5b4a3921"
    monkeypatch.setenv("DEPLOY_TARGET", value)  # not a secret by its name
    (tmp_path / "autohub.yaml").write_text(CONFIG)
    hub = open_hub(tmp_path, database_url)
    try:
        refresher = RegistryRefresher(hub)
        assert names(hub) == ["a"]
        hub.events.record("deploy.note", "live", "success", evidence={"target": value})
        write(tmp_path, source, REFERENCING_SOURCES[source])
        assert refresher.check() is True
        hub.events.record("deploy.note", "live", "success", evidence={"target": value})

        targets = [event["evidence"]["target"] for event in events(hub, "deploy.note")]
        assert targets == [value, "[REDACTED]"]
    finally:
        hub.close()


def test_the_scheduler_takes_up_a_cron_trigger_added_while_it_runs(
    hub: Hub, tmp_path: Path
) -> None:
    assert names(hub) == ["a"]
    scheduler = Scheduler(hub, poll_seconds=0.05)
    scheduler.start()
    try:
        cron = "name: nightly\ntriggers: [{type: cron, schedule: '0 3 * * *'}]\n"
        write(tmp_path, "automations/nightly.yaml", cron + "steps: [{id: s, shell: [x]}]\n")
        assert RegistryRefresher(hub).check() is True
        deadline = time.monotonic() + 10
        while not hub.schedules.all() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()

    assert [row.automation for row in hub.schedules.all()] == ["nightly"]


def wait_finished(hub: Hub, run_id: str, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while True:
        state = hub.runs.get(run_id).state
        if state not in ("pending", "running") or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_the_server_executor_follows_reloaded_project_defaults(hub: Hub, tmp_path: Path) -> None:
    from autohub.server.executor import RunExecutor

    assert names(hub) == ["a"]
    slow = (
        CONFIG.replace("[echo, a]", '[sleep, "2"]')
        + "  quick:\n    steps: [{id: s, shell: [echo, quick]}]\n"
    )
    write(tmp_path, "autohub.yaml", slow)
    refresher = RegistryRefresher(hub)
    assert refresher.check() is True
    executor = RunExecutor(hub, max_runs=2, poll_seconds=0.1)
    executor.start()
    try:
        quick, _ = hub.start("quick")  # the executor's runner exists, with the old defaults
        executor.wake()
        assert wait_finished(hub, quick.id) == "succeeded"
        write(tmp_path, "autohub.yaml", "defaults: {timeout: 300ms}\n" + slow)
        assert refresher.check() is True
        run, _ = hub.start("a")
        executor.wake()
        state = wait_finished(hub, run.id)
    finally:
        executor.stop(5)

    assert state == "failed"
    (step,) = hub.runs.steps(run.id)
    assert step.state == "timed_out"


def test_a_python_step_calls_the_reloaded_function(hub: Hub, tmp_path: Path) -> None:
    import uuid

    module = f"jobs_{uuid.uuid4().hex[:8]}"
    body = "from autohub import automation\n\n@automation(name='job')\ndef job(ctx):\n"
    body += "    return {!r}\n"
    assert names(hub) == ["a"]
    write(tmp_path, f"{module}.py", body.format("first"))
    write(tmp_path, "autohub.yaml", f"modules: [{module}]\n" + CONFIG)
    refresher = RegistryRefresher(hub)
    assert refresher.check() is True
    first = hub.run("job")

    write(tmp_path, f"{module}.py", body.format("second, changed"))
    assert refresher.check() is True
    second = hub.run("job")

    outputs = [hub.runs.steps(run.id)[0].output for run in (first, second)]
    assert outputs == ["first", "second, changed"]


def test_a_python_step_module_not_under_modules_is_watched_and_reloaded(
    hub: Hub, tmp_path: Path
) -> None:
    import os
    import uuid

    module = f"steps_{uuid.uuid4().hex[:8]}"
    body = "def step(ctx):\n    return {!r}\n"
    write(tmp_path, f"{module}.py", body.format("first"))
    write(
        tmp_path,
        "automations/job.yaml",
        f'name: job\nsteps: [{{id: s, python: "{module}:step"}}]\n',
    )
    refresher = RegistryRefresher(hub)
    first = hub.run("job")
    assert refresher.check() is False  # nothing changed

    path = tmp_path / f"{module}.py"
    path.write_text(body.format("second, changed"))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert refresher.check() is True  # the step's module is a source too
    second = hub.run("job")

    outputs = [hub.runs.steps(run.id)[0].output for run in (first, second)]
    assert outputs == ["first", "second, changed"]
