"""``autohub validate``: every problem in every source, each located by file, line and key."""

from __future__ import annotations

import json

import pytest

BROKEN_CONFIG = """\
project: proj
modules:
  - ops.automations
  - ops.broken
defaults:
  timeout: 5 minutes
breakers:
  deploy-target: {failure_threshold: 3}
automations:
  hello:
    steps:
      - id: greet
        shel: [echo, hello]
  dup:
    steps:
      - id: only
        shell: [echo, first]
"""

BROKEN_DEFINITIONS = """\
name: dup
steps:
  - id: only
    shell: [echo, second]
---
name: cyclic
steps:
  - id: a
    needs: [b]
    shell: [echo, a]
  - id: b
    needs: [a]
    shell: [echo, b]
---
name: unknown-need
steps:
  - id: a
    needs: [ghost]
    shell: [echo, a]
---
name: bad-cron
triggers:
  - type: cron
    schedule: "61 * * * *"
params:
  count: {type: integer, default: three}
steps:
  - id: a
    shell:
      argv: [echo, a]
      env:
        password: hunter2
"""


@pytest.fixture
def broken(example):
    """The example project broken in three YAML files and one Python module at once."""
    example.path("autohub.yaml").write_text(BROKEN_CONFIG)
    example.path("automations/x.yaml").write_text(BROKEN_DEFINITIONS)
    deploy = example.path("automations/deploy.yaml")
    deploy.write_text(
        deploy.read_text().replace("tags: [deploy]\n", "tags: [deploy]\nowner: ops\n")
    )
    example.path("ops/broken.py").write_text('raise RuntimeError("boom at import")\n')
    return example


def expected_problems(project, line):
    """(file, line, key, message start) of every problem planted by ``broken``."""
    config = project.path("autohub.yaml")
    x = project.path("automations/x.yaml")
    deploy = project.path("automations/deploy.yaml")
    return [
        ("autohub.yaml", line(config, "- ops.broken"), "modules[1]",
         "cannot import module 'ops.broken': RuntimeError: boom at import"),
        ("autohub.yaml", line(config, "timeout: 5 minutes"), "defaults.timeout",
         "invalid duration '5 minutes'"),
        ("autohub.yaml", line(config, "- id: greet"), "automations.hello.steps[0]",
         "unknown key 'shel': not a field, nor an action kind"),
        ("automations/deploy.yaml", line(deploy, "owner: ops"), "owner", "unknown key"),
        ("automations/x.yaml", line(x, "name: dup"), "name",
         f"duplicate automation name 'dup' (also defined at autohub.yaml:{line(config, 'dup:')})"),
        ("automations/x.yaml", line(x, "needs: [b]"), "steps[0].needs",
         "steps form a cycle: a -> b -> a"),
        ("automations/x.yaml", line(x, "needs: [ghost]"), "steps[0].needs[0]",
         "step 'a' needs unknown step 'ghost'"),
        ("automations/x.yaml", line(x, "schedule:"), "triggers[0].schedule",
         "invalid cron expression '61 * * * *'"),
        ("automations/x.yaml", line(x, "count:"), "params.count",
         "default 'three' is not an integer"),
        ("automations/x.yaml", line(x, "password: hunter2"), "steps[0].shell.env.password",
         "literal secret-looking value; refer to the environment or the secrets file"),
    ]  # fmt: skip


def test_validate_the_example_exits_0(cli, example):
    _code, stdout, stderr = cli("validate", check=0)
    assert f"✓ {example.path('autohub.yaml')}: 4 automations valid" in stdout
    for name, source in [
        ("backup-data", "automations/backup.yaml:1"),
        ("deploy-service", "automations/deploy.yaml:1"),
        ("disk-report", "ops/automations.py:"),
        ("hello", "autohub.yaml:"),
    ]:
        assert any(row.split()[0] == name and source in row for row in stdout.splitlines()[1:]), (
            name
        )
    assert stderr == ""
    assert not (example.root.parent / "untouched.db").exists(), "validate never opens the store"


def test_validate_json_of_the_example(cli, example):
    stdout = cli("validate", "--json", check=0).stdout
    assert json.loads(stdout) == {
        "valid": True,
        "automations": ["backup-data", "deploy-service", "disk-report", "hello"],
    }


def test_validate_lists_every_problem_of_every_file_with_line_and_key(cli, broken, line):
    _code, stdout, stderr = cli("validate", check=1)

    expected = expected_problems(broken, line)
    lines = stderr.splitlines()
    assert lines[0] == f"error: Invalid automation definitions ({len(expected)} problems):"
    for file, number, key, message in expected:
        prefix = f"  {file}:{number}: {key}: " if key else f"  {file}:{number}: "
        assert any(row.startswith(prefix) and message in row for row in lines), (
            f"no line {prefix}{message}...\n{stderr}"
        )
    assert len(lines) == 1 + len(expected), "exactly the planted problems, one line each"
    assert stdout == ""


def test_validate_json_gives_the_problems(cli, broken, line):
    _code, stdout, stderr = cli("validate", "--json", check=1)

    data = json.loads(stdout)
    assert data["valid"] is False
    problems = data["problems"]
    assert all(set(p) == {"file", "line", "key", "message"} for p in problems)
    found = [(p["file"], p["line"], p["key"]) for p in problems]
    expected = expected_problems(broken, line)
    assert found == [(file, number, key) for file, number, key, _ in expected]
    for problem, (*_, message) in zip(problems, expected, strict=True):
        assert message in problem["message"]
    assert stderr == "", "--json: the problems are on stdout only"


def test_validate_outside_a_project_says_how_to_start(cli, tmp_path):
    _code, _stdout, stderr = cli("validate", check=1)
    assert "no autohub.yaml here or in a parent directory" in stderr
    assert "autohub init" in stderr


def test_validate_lists_config_and_definition_problems_together(cli, example, line):
    config = example.path("autohub.yaml")
    config.write_text(config.read_text() + "colour: blue\n")
    backup = example.path("automations/backup.yaml")
    backup.write_text(backup.read_text().replace('"0 3 * * *"', '"0 25 * * *"'))

    _code, _stdout, stderr = cli("validate", check=1)

    assert f"autohub.yaml:{line(config, 'colour:')}: colour: unknown key" in stderr
    assert f"automations/backup.yaml:{line(backup, 'schedule:')}: triggers[1].schedule" in stderr


def test_validate_locates_graph_problems_at_the_needs_key(cli, broken, line):
    stdout = cli("validate", "--json", check=1).stdout
    x = broken.path("automations/x.yaml")
    found = {(p["line"], p["key"]) for p in json.loads(stdout)["problems"]}
    assert (line(x, "needs: [ghost]"), "steps[0].needs[0]") in found
