"""Loading definitions from autohub.yaml, automations/*.yaml and Python modules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from registry_helpers import WriteFile, project_config

from autohub.errors import ConfigError, DefinitionError, InvalidInput
from autohub.registry.loader import Registry, RegistryWatcher, load_registry

Load = Callable[[], Registry]


def problems_of(load: Load) -> list[str]:
    with pytest.raises(DefinitionError) as caught:
        load()
    return [str(problem) for problem in caught.value.problems]


def test_loads_automations_from_all_three_sources(write: WriteFile, load: Load) -> None:
    write(
        "autohub.yaml",
        """
        project: acme
        modules: [ops.jobs]
        automations:
          hello:
            steps:
              - id: greet
                shell: [echo, hi]
        """,
    )
    write(
        "automations/backup.yaml",
        """
        name: backup
        steps:
          - id: dump
            shell: [pg_dump, app]
        """,
    )
    write("ops/__init__.py", "")
    write(
        "ops/jobs.py",
        """
        from autohub import automation

        @automation(timeout="30s")
        def rotate_logs(ctx):
            return {}
        """,
    )
    registry = load()
    assert sorted(d.name for d in registry) == ["backup", "hello", "rotate-logs"]
    assert registry.get("hello").source == "autohub.yaml:4"
    assert registry.get("backup").source == "automations/backup.yaml:1"
    assert registry.get("rotate-logs").source == "ops/jobs.py:3"
    rotate = registry.get("rotate-logs").automation
    assert rotate.steps[0].python is not None
    assert rotate.steps[0].python.function == "ops.jobs:rotate_logs"
    assert rotate.timeout == 30.0
    assert all(d.automation.project == "acme" for d in registry)


def test_every_problem_in_every_file_is_reported_with_file_line_and_key(
    write: WriteFile, load: Load
) -> None:
    write(
        "autohub.yaml",
        """
        project: acme
        automations:
          hello:
            timeout: 5 minutes
            steps:
              - id: greet
                shel: [echo, hi]
        """,
    )
    write(
        "automations/cron.yaml",
        """
        name: nightly
        triggers:
          - type: cron
            schedule: "61 * * * *"
        params:
          count: {type: integer, default: "three"}
        steps:
          - id: a
            shell: [/bin/true]
        """,
    )
    write(
        "automations/cycle.yaml",
        """
        name: cyclic
        steps:
          - id: a
            needs: [b]
            shell: [x]
          - id: b
            needs: [a]
            shell: [y]
          - id: c
            needs: [nowhere]
            shell: [z]
        """,
    )
    problems = problems_of(load)
    text = "\n".join(problems)
    assert "autohub.yaml:4: automations.hello.timeout: invalid duration '5 minutes'" in text
    assert "autohub.yaml:6: automations.hello.steps[0]: unknown key 'shel'" in text
    assert "automations/cron.yaml:4: triggers[0].schedule: invalid cron expression" in text
    assert "automations/cron.yaml:6: params.count: default 'three' is not an integer" in text
    assert (
        "automations/cycle.yaml:10: steps[2].needs[0]: step 'c' needs unknown step 'nowhere'"
        in text
    )
    assert len(problems) == 5


def test_a_cycle_is_described_as_a_path(write: WriteFile, load: Load) -> None:
    write("autohub.yaml", "project: acme\n")
    write(
        "automations/cycle.yaml",
        """
        name: cyclic
        steps:
          - {id: a, needs: [c], shell: [x]}
          - {id: b, needs: [a], shell: [y]}
          - {id: c, needs: [b], shell: [z]}
        """,
    )
    (problem,) = problems_of(load)
    assert (
        problem == "automations/cycle.yaml:3: steps[0].needs: steps form a cycle: a -> c -> b -> a"
    )


def test_duplicate_names_across_sources_are_rejected(write: WriteFile, load: Load) -> None:
    write(
        "autohub.yaml",
        """
        automations:
          backup:
            steps: [{id: a, shell: [x]}]
        """,
    )
    write("automations/backup.yaml", "name: backup\nsteps: [{id: a, shell: [y]}]\n")
    (problem,) = problems_of(load)
    assert problem.startswith("automations/backup.yaml:1: name:")
    assert "duplicate automation name 'backup' (also defined at autohub.yaml:2)" in problem


def test_unknown_breaker_reference_is_rejected(write: WriteFile, load: Load) -> None:
    write(
        "autohub.yaml",
        """
        breakers:
          n8n: {failure_threshold: 3}
        automations:
          call:
            steps:
              - {id: a, shell: [x], breaker: n8m}
        """,
    )
    (problem,) = problems_of(load)
    assert "call.steps[0].breaker: unknown breaker 'n8m'" in problem
    assert "(known: n8n)" in problem


def test_python_module_that_fails_to_import_is_a_located_problem(
    write: WriteFile, load: Load
) -> None:
    write("autohub.yaml", "modules:\n  - ops.broken\n")
    write("ops/__init__.py", "")
    write("ops/broken.py", "import does_not_exist_anywhere\n")
    (problem,) = problems_of(load)
    assert problem.startswith("autohub.yaml:2: modules[0]: cannot import module 'ops.broken'")
    assert "ModuleNotFoundError" in problem


def test_python_step_pointing_at_a_missing_module_is_rejected(write: WriteFile, load: Load) -> None:
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, python: nope.mod:run}]\n")
    (problem,) = problems_of(load)
    assert "a.steps[0].python: module 'nope.mod' not found" in problem


def test_literal_secret_in_a_definition_file_is_rejected(write: WriteFile, load: Load) -> None:
    write("autohub.yaml", "project: acme\n")
    write(
        "automations/notify.yaml",
        """
        name: notify
        steps:
          - id: post
            http:
              url: https://example.com/hook
              headers: {Authorization: "Bearer abcdefghijklmnopqrstuvwxyz"}
        """,
    )
    (problem,) = problems_of(load)
    assert problem.startswith("automations/notify.yaml:6: steps[0].http.headers.Authorization:")
    assert "literal secret-looking value" in problem


def test_secret_reference_is_accepted(write: WriteFile, load: Load) -> None:
    write(
        "autohub.yaml",
        """
        automations:
          notify:
            steps:
              - id: post
                http:
                  url: https://example.com/hook
                  headers: {Authorization: "Bearer ${HOOK_TOKEN}"}
        """,
    )
    step = load().get("notify").automation.steps[0]
    assert step.http is not None
    assert step.http.headers["Authorization"] == "Bearer ${HOOK_TOKEN}"


def test_the_registry_names_every_secret_its_definitions_refer_to(
    write: WriteFile, load: Load
) -> None:
    write(
        "autohub.yaml",
        """
        modules: [referencing.jobs]
        automations:
          notify:
            steps:
              - id: post
                http: {url: "https://${HOOK_HOST}/hook", headers: {X-Key: "${HOOK_KEY}"}}
        """,
    )
    write(
        "automations/sync.yaml",
        """
        name: sync
        steps:
          - id: login
            shell: {argv: [login], env: {LOGIN: "${PARTNER_LOGIN}"}}
        """,
    )
    write("referencing/__init__.py", "")
    write(
        "referencing/jobs.py",
        """
        from autohub import automation

        @automation(steps=[{"id": "s", "shell": ["rotate", "--as", "${ROTATE_USER}"]}])
        def rotate(ctx):
            return {}
        """,
    )
    assert load().referenced_secrets == {"HOOK_HOST", "HOOK_KEY", "PARTNER_LOGIN", "ROTATE_USER"}


def test_unknown_automation_suggests_close_names(write: WriteFile, load: Load) -> None:
    write("autohub.yaml", "automations:\n  deploy-web:\n    steps: [{id: a, shell: [x]}]\n")
    with pytest.raises(InvalidInput, match="did you mean deploy-web"):
        load().get("deploy-wbe")


def test_a_failed_reload_keeps_the_last_good_registry(write: WriteFile, tmp_path: Path) -> None:
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, shell: [x]}]\n")
    watcher = RegistryWatcher(project_config(tmp_path))
    assert [d.name for d in watcher.current()] == ["a"]

    write("automations/broken.yaml", "name: b\nsteps: [{id: s, shel: [x]}]\n")
    registry = watcher.current()
    assert [d.name for d in registry] == ["a"]
    assert watcher.last_error is not None
    assert "automations/broken.yaml" in watcher.last_error.message


def test_new_files_are_discovered_without_restarting(write: WriteFile, tmp_path: Path) -> None:
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, shell: [x]}]\n")
    watcher = RegistryWatcher(project_config(tmp_path))
    first = watcher.current()
    assert watcher.current() is first  # nothing changed: no reload

    write("automations/new.yaml", "name: b\nsteps: [{id: s, shell: [y]}]\n")
    assert sorted(d.name for d in watcher.current()) == ["a", "b"]
    assert watcher.last_error is None


def test_a_watcher_keeps_the_registry_not_the_parsed_autohub_yaml(
    write: WriteFile, tmp_path: Path
) -> None:
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, shell: [x]}]\n")
    config = project_config(tmp_path)
    watcher = RegistryWatcher(config)

    assert config.document is None
    assert config.file.automations == {}
    again = load_registry(config)  # a released config reads the file again
    assert [d.name for d in again] == ["a"]
    assert again.get("a").version == watcher.registry.get("a").version
    write("autohub.yaml", "automations:\n  b:\n    steps: [{id: s, shell: [x]}]\n")
    assert [d.name for d in watcher.current()] == ["b"]
    assert watcher.config.document is None


def test_decorated_module_changes_are_picked_up_on_reload(write: WriteFile, tmp_path: Path) -> None:
    write("autohub.yaml", "modules: [reloadme_jobs]\n")
    body = "from autohub import automation\n\n@automation(name='{name}')\ndef job(ctx):\n    pass\n"
    write("reloadme_jobs.py", body.format(name="first"))
    config = project_config(tmp_path)
    assert [d.name for d in load_registry(config)] == ["first"]
    path = write("reloadme_jobs.py", body.format(name="second-name"))
    import os

    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    assert [d.name for d in load_registry(config)] == ["second-name"]


def test_a_step_module_that_breaks_keeps_the_last_good_registry(
    write: WriteFile, tmp_path: Path
) -> None:
    import os

    from autohub.engine.actions.pychild import import_function

    write("autohub.yaml", 'automations:\n  a:\n    steps: [{id: s, python: "breaks_later:step"}]\n')
    path = write("breaks_later.py", "def step(ctx):\n    return 1\n")
    watcher = RegistryWatcher(project_config(tmp_path))
    first = watcher.current()
    assert import_function("breaks_later:step", tmp_path)(None) == 1  # a run imported it

    path.write_text("def step(ctx:\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))

    assert watcher.current() is first
    assert watcher.last_error is not None
    (problem,) = watcher.last_error.problems
    assert str(problem).startswith("breaks_later.py: cannot import module 'breaks_later': Syntax")


def test_effective_policies_merge_project_automation_and_step(write: WriteFile, load: Load) -> None:
    write(
        "autohub.yaml",
        """
        defaults:
          timeout: 10m
          retry: {attempts: 3}
        automations:
          job:
            timeout: 1m
            steps:
              - {id: a, shell: [x]}
              - {id: b, shell: [y], timeout: 5s, retry: {attempts: 1}}
        """,
    )
    registry = load()
    automation = registry.get("job").automation
    first = registry.policies(automation, automation.step("a"))
    second = registry.policies(automation, automation.step("b"))
    assert first.timeout == 60.0
    assert first.retry is not None
    assert first.retry.attempts == 3
    assert second.timeout == 5.0
    assert second.retry is not None
    assert second.retry.attempts == 1


def test_a_changed_autohub_yaml_is_read_again_on_reload(write: WriteFile, tmp_path: Path) -> None:
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, shell: [x]}]\n")
    watcher = RegistryWatcher(project_config(tmp_path))
    first = watcher.current().get("a").version

    write(
        "autohub.yaml",
        "automations:\n  a:\n    steps: [{id: s, shell: [y]}]\n"
        "  b:\n    steps: [{id: s, shell: [z]}]\n",
    )
    registry = watcher.current()

    assert sorted(d.name for d in registry) == ["a", "b"]
    changed = registry.get("a")
    assert changed.version != first
    assert changed.automation.steps[0].shell is not None
    assert changed.automation.steps[0].shell.argv == ["y"]


def test_an_invalid_autohub_yaml_keeps_the_last_good_registry_until_it_is_fixed(
    write: WriteFile, tmp_path: Path
) -> None:
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, shell: [x]}]\n")
    watcher = RegistryWatcher(project_config(tmp_path))
    good = watcher.current()

    write("autohub.yaml", "automations: [unclosed\n")
    assert watcher.current() is good
    error = watcher.last_error
    assert isinstance(error, ConfigError)
    assert "autohub.yaml" in error.message
    assert watcher.current() is good
    assert watcher.last_error is error  # the same broken sources are not loaded again

    write("autohub.yaml", "automations:\n  b:\n    steps: [{id: s, shell: [x]}]\n")
    assert [d.name for d in watcher.current()] == ["b"]
    assert watcher.last_error is None


def test_a_package_that_breaks_is_a_reload_problem_reported_once(
    write: WriteFile, tmp_path: Path
) -> None:
    import uuid

    package = f"brokenpkg_{uuid.uuid4().hex[:8]}"
    write(f"{package}/__init__.py", "def broken(:\n")
    write(f"{package}/jobs.py", "")
    write("autohub.yaml", "automations:\n  a:\n    steps: [{id: s, shell: [x]}]\n")
    watcher = RegistryWatcher(project_config(tmp_path))
    good = watcher.current()

    write(
        "autohub.yaml",
        f"modules: [{package}.jobs]\nautomations:\n  a:\n    steps: [{{id: s, shell: [x]}}]\n",
    )
    assert watcher.current() is good
    error = watcher.last_error
    assert isinstance(error, DefinitionError)
    assert "SyntaxError" in error.message
    assert watcher.current() is good
    assert watcher.last_error is error  # reported once, not loaded again
