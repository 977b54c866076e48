"""``autohub list`` and ``autohub show``: the registry as a table and as JSON, with versions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import yaml

NAMES = ["backup-data", "deploy-service", "disk-report", "hello"]


def _row(stdout: str, name: str) -> str:
    """The first table line of ``name``."""
    return next(line for line in stdout.splitlines() if line.startswith(f"│ {name} "))


def test_list_json_gives_every_automation_and_its_next_cron_firing(cli, example):
    before = datetime.now(UTC)
    _code, stdout, stderr = cli("list", "--json", check=0)

    rows = {row["name"]: row for row in json.loads(stdout)}
    assert list(rows) == NAMES
    assert set(rows["backup-data"]) == {
        "name", "version", "project", "description", "triggers", "next_fire_at", "steps", "source",
    }  # fmt: skip
    backup = rows["backup-data"]
    assert (backup["project"], backup["steps"], backup["triggers"]) == (
        "proj",
        4,
        ["manual", "cron"],
    )
    assert backup["source"] == "automations/backup.yaml:1"
    assert len(backup["version"]) == 64
    nightly = datetime.fromisoformat(backup["next_fire_at"])  # "0 3 * * *" UTC
    assert (nightly.utcoffset(), nightly.hour, nightly.minute) == (timedelta(0), 3, 0)
    assert before < nightly <= before + timedelta(days=1)
    half_hourly = datetime.fromisoformat(rows["disk-report"]["next_fire_at"])  # "*/30 * * * *"
    assert half_hourly.minute in (0, 30)
    assert before < half_hourly <= before + timedelta(minutes=30)
    assert rows["deploy-service"]["next_fire_at"] is None, "manual only: no firing"
    assert rows["hello"]["triggers"] == ["manual"]
    # The example has no store yet: listing says so and creates nothing.
    assert "versions not recorded" in stderr
    assert "autohub db upgrade" in stderr
    assert not (example.root.parent / "untouched.db").exists()


def test_list_table_shows_whole_names_versions_and_next_run(cli, example):
    stdout = cli("list", check=0).stdout
    data = json.loads(cli("list", "--json", check=0).stdout)

    assert stdout.splitlines()[0].startswith("automations of proj")
    header = next(line for line in stdout.splitlines() if line.startswith("┃ name"))
    for column in ("version", "steps", "triggers", "next run"):
        assert column in header
    for row in data:
        line = _row(stdout, row["name"])  # the whole name, not cut to fit 80 columns
        assert f" {row['version'][:12]} " in line
        assert f" {row['steps']} " in line
    nightly = datetime.fromisoformat(data[0]["next_fire_at"])
    assert nightly.strftime("%Y-%m-%d") in _row(stdout, "backup-data")
    assert max(len(line) for line in stdout.splitlines()) <= 80


def test_show_prints_params_triggers_next_firing_steps_and_policies(cli, example):
    stdout = cli("show", "backup-data", check=0).stdout

    lines = stdout.splitlines()
    assert lines[0].startswith("backup-data  version ")
    assert "project: proj   source: automations/backup.yaml:1" in stdout
    trigger_line = next(line for line in lines if line.startswith("triggers: "))
    assert trigger_line.startswith("triggers: manual, cron '0 3 * * *' UTC (next ")
    assert trigger_line.endswith(" 03:00:00 UTC)")
    for text in (
        "│ source ",  # params table
        "'.autohub/backups'",
        "archive shell",
        "needs prepare",
        "timeout 5m",  # the step's own
        "timeout 10m",  # the project default
        "retry 3 attempts, backoff 500ms x2 up to 5s",
        "concurrency backup-{{ params.source }} limit 1",
    ):
        assert text in stdout, text


def test_show_names_an_event_triggers_type_and_statuses(cli, example):
    example.path("automations/triage.yaml").write_text(
        "name: triage\n"
        "triggers:\n"
        "  - {type: event, event_type: n8n.failure_detected, status: [failed, warning]}\n"
        "  - {type: event, event_type: deploy.finished}\n"
        "steps: [{id: a, shell: [echo, triage]}]\n"
    )

    stdout = cli("show", "triage", check=0).stdout

    trigger_line = next(line for line in stdout.splitlines() if line.startswith("triggers: "))
    assert trigger_line == (
        "triggers: event n8n.failure_detected [failed, warning], event deploy.finished"
    )


def test_show_json_gives_the_definition_and_its_versions(cli, example):
    stdout = cli("show", "deploy-service", "--json", check=0).stdout

    data = json.loads(stdout)
    assert set(data) == {"name", "version", "source", "definition", "versions"}
    assert data["name"] == "deploy-service"
    assert data["source"] == "automations/deploy.yaml:1"
    definition = data["definition"]
    assert [step["id"] for step in definition["steps"]] == ["release", "health-check", "rollback"]
    assert definition["steps"][2]["run_if"] == "failure"
    assert definition["params"]["env"]["enum"] == ["staging", "production"]
    assert data["versions"] == [], "no store: no history"


def test_show_unknown_name_exits_2_with_a_did_you_mean_hint(cli, example):
    _code, stdout, stderr = cli("show", "deploy-servce", check=2)
    assert stderr.strip() == (
        "error: unknown automation 'deploy-servce'; did you mean deploy-service? "
        "(known: backup-data, deploy-service, disk-report, hello)"
    )
    assert stdout == ""


def _reverse_keys(value):
    if isinstance(value, dict):
        return {key: _reverse_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(item) for item in value]
    return value


def test_versions_a_change_adds_one_a_reload_or_key_reorder_does_not(cli, project):
    deploy = project.path("automations/deploy.yaml")
    text = deploy.read_text()
    deploy.write_text(text.replace("    timeout: 2m\n", "    timeout: 3m\n", 1))

    edited = cli("show", "deploy-service", "--json", check=0)
    data = json.loads(edited.stdout)
    versions = [v["version"] for v in data["versions"]]
    assert len(versions) == 2, "the version from init and the edited one"
    assert versions[0] == data["version"], "the most recently seen first"
    assert data["definition"]["steps"][0]["timeout"] == 180
    assert "new versions recorded: deploy-service" in edited.stderr

    reloaded = cli("show", "deploy-service", "--json", check=0)
    assert [v["version"] for v in json.loads(reloaded.stdout)["versions"]] == versions
    assert "new versions recorded" not in reloaded.stderr

    content = yaml.safe_load(deploy.read_text())
    deploy.write_text(yaml.safe_dump(_reverse_keys(content), sort_keys=False))
    assert deploy.read_text() != text
    reordered = cli("show", "deploy-service", "--json", check=0)
    data = json.loads(reordered.stdout)
    assert data["version"] == versions[0], "key order is not content"
    assert [v["version"] for v in data["versions"]] == versions
    assert "new versions recorded" not in reordered.stderr


def test_user_text_that_looks_like_markup_is_printed_as_is(cli, sqlite_project):
    deploy = sqlite_project.path("automations/deploy.yaml")
    description = "Deploy to [/prod] or [bold]staging[/bold]"
    lines = deploy.read_text().splitlines()
    lines[1] = f'description: "{description}"'
    deploy.write_text("\n".join(lines) + "\n")
    cli(
        "events",
        "record",
        "--type",
        "note",
        "--status",
        "success",
        "--from",
        "[/oops]",
        "--evidence",
        '{"log": "[red]x[/] [/y]"}',
        check=0,
    )

    assert description in cli("show", "deploy-service", check=0).stdout
    assert "[/prod]" in cli("list", check=0).stdout
    table = cli("events", "--type", "note", check=0).stdout
    assert "[/oops]" in table
    assert "[/y]" in cli("events", "timeline", check=0).stdout
