"""The definition models: actions, policies, params, triggers and versions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from autohub.config import load_config
from autohub.errors import InvalidInput
from autohub.registry.loader import load_registry
from autohub.registry.models import Automation, canonical_json
from autohub.registry.params import validate_params


def automation(**fields: Any) -> Automation:
    data: dict[str, Any] = {"name": "job", "steps": [{"id": "a", "shell": ["true"]}]}
    data.update(fields)
    return Automation.model_validate(data)


def error_messages(**fields: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        automation(**fields)
    return "\n".join(f"{e['loc']}: {e['msg']}" for e in caught.value.errors())


def test_shell_step_takes_an_argv_list_and_refuses_a_bare_string() -> None:
    step = automation(steps=[{"id": "a", "shell": ["tar", "-czf", "x.tgz", "data"]}]).steps[0]
    assert step.kind == "shell"
    assert step.shell is not None
    assert step.shell.argv == ["tar", "-czf", "x.tgz", "data"]
    assert "runs through /bin/sh only when asked" in error_messages(
        steps=[{"id": "a", "shell": "tar -czf x.tgz data"}]
    )


def test_shell_string_needs_shell_true() -> None:
    step = automation(steps=[{"id": "a", "shell": {"command": "ls | wc -l", "shell": True}}])
    assert step.steps[0].shell is not None
    assert step.steps[0].shell.command == "ls | wc -l"
    assert "runs only with shell: true" in error_messages(
        steps=[{"id": "a", "shell": {"command": "ls | wc -l"}}]
    )


def test_a_step_needs_exactly_one_action_kind() -> None:
    assert "found none" in error_messages(steps=[{"id": "a"}])
    assert "found shell, http" in error_messages(
        steps=[{"id": "a", "shell": ["x"], "http": "https://example.com"}]
    )
    message = error_messages(steps=[{"id": "a", "ftp": "x"}])
    assert "unknown key 'ftp'" in message
    assert "python, shell, http, n8n, celery, browser" in message


def test_every_action_kind_parses_its_short_form() -> None:
    steps = [
        {"id": "p", "python": "ops.mod:run"},
        {"id": "s", "shell": ["echo"]},
        {"id": "h", "http": "https://example.com/health"},
        {"id": "n", "n8n": "webhook/deploy"},
        {"id": "c", "celery": "tasks.deploy"},
        {"id": "b", "browser": "https://example.com"},
    ]
    parsed = automation(steps=steps)
    assert [step.kind for step in parsed.steps] == [
        "python",
        "shell",
        "http",
        "n8n",
        "celery",
        "browser",
    ]


def test_durations_accept_units_and_reject_nonsense() -> None:
    parsed = automation(
        timeout="1h",
        steps=[
            {
                "id": "a",
                "shell": ["x"],
                "timeout": "500ms",
                "retry": {
                    "attempts": 3,
                    "backoff": {"initial": "2s", "max": "5m"},
                    "jitter": "100ms",
                },
            }
        ],
    )
    assert parsed.timeout == 3600.0
    step = parsed.steps[0]
    assert step.timeout == 0.5
    assert step.retry is not None
    assert (step.retry.backoff.initial, step.retry.backoff.max, step.retry.jitter) == (
        2.0,
        300.0,
        0.1,
    )
    assert "invalid duration 'soon'" in error_messages(timeout="soon")
    assert "invalid duration" in error_messages(timeout="-5s")


def test_backoff_max_below_initial_is_rejected() -> None:
    message = error_messages(retry={"backoff": {"initial": "10s", "max": "1s"}})
    assert "max must not be smaller than initial" in message


def test_retry_on_checks_statuses_and_exit_codes() -> None:
    assert "not HTTP statuses" in error_messages(retry={"retry_on": {"http_statuses": [700]}})
    assert "not exit codes" in error_messages(retry={"retry_on": {"exit_codes": [300]}})


def test_concurrency_key_must_be_a_valid_template() -> None:
    parsed = automation(concurrency={"key": "deploy-{{ params.env }}", "limit": 1})
    assert parsed.concurrency[0].key == "deploy-{{ params.env }}"
    assert "invalid template" in error_messages(concurrency={"key": "deploy-{{ params.env"})


def test_limits_accept_sizes() -> None:
    parsed = automation(limits={"memory": "512MiB", "cpu_time": "2m", "output": "64KB"})
    assert parsed.limits is not None
    assert parsed.limits.memory == 512 * 1024**2
    assert parsed.limits.cpu_time == 120.0
    assert parsed.limits.output == 64_000


def test_fallback_tiers_each_have_an_action_and_a_timeout() -> None:
    parsed = automation(
        steps=[
            {
                "id": "call",
                "n8n": "webhook/x",
                "fallback": [
                    {"celery": "tasks.x", "timeout": "1s"},
                    {"http": "https://api.example.com/x", "timeout": "5s"},
                    {"name": "script", "shell": ["./x.sh"], "timeout": "30s"},
                ],
            }
        ]
    )
    tiers = parsed.steps[0].fallback
    assert [(t.kind, t.timeout) for t in tiers] == [("celery", 1.0), ("http", 5.0), ("shell", 30.0)]


def test_params_defaults_and_enums_must_match_their_type() -> None:
    assert "default 'three' is not an integer" in error_messages(
        params={"n": {"type": "integer", "default": "three"}}
    )
    assert "default 'prod' is not one of the enum" in error_messages(
        params={"env": {"enum": ["staging", "production"], "default": "prod"}}
    )
    assert "a required param has no default" in error_messages(
        params={"env": {"required": True, "default": "x"}}
    )
    assert "default 1 is not a boolean" in error_messages(
        params={"flag": {"type": "boolean", "default": 1}}
    )


def test_params_are_coerced_from_command_line_strings() -> None:
    parsed = automation(
        params={
            "count": {"type": "integer", "default": 1},
            "ratio": {"type": "number", "default": 0.5},
            "dry_run": {"type": "boolean", "default": False},
            "hosts": {"type": "list", "default": []},
            "env": {"enum": ["staging", "production"], "required": True},
        }
    )
    given = {"count": "3", "ratio": "2", "dry_run": "true", "hosts": '["a", "b"]', "env": "staging"}
    assert validate_params(parsed.params, given) == {
        "count": 3,
        "ratio": 2.0,
        "dry_run": True,
        "hosts": ["a", "b"],
        "env": "staging",
    }


def test_param_problems_are_listed_together() -> None:
    parsed = automation(
        params={
            "count": {"type": "integer", "default": 1},
            "env": {"enum": ["staging", "production"], "required": True},
        }
    )
    with pytest.raises(InvalidInput) as caught:
        validate_params(parsed.params, {"count": "many", "colour": "red"})
    message = caught.value.message
    assert "param colour: unknown" in message
    assert "param count: 'many' is not an integer" in message
    assert "param env: required" in message


def test_triggers_validate_cron_and_timezone() -> None:
    parsed = automation(
        triggers=[
            {
                "type": "cron",
                "schedule": "*/5 * * * *",
                "timezone": "Europe/Paris",
                "misfire": "run_once",
            }
        ]
    )
    assert parsed.triggers[0].type == "cron"
    assert "invalid cron expression" in error_messages(
        triggers=[{"type": "cron", "schedule": "every day"}]
    )
    assert "unknown timezone 'Mars/Olympus'" in error_messages(
        triggers=[{"type": "cron", "schedule": "0 * * * *", "timezone": "Mars/Olympus"}]
    )
    assert "misfire" in error_messages(
        triggers=[{"type": "cron", "schedule": "0 * * * *", "misfire": "sometimes"}]
    )


def test_trigger_params_must_fit_the_params_schema() -> None:
    params = {"n": {"type": "integer", "required": True}}
    cron = {"type": "cron", "schedule": "0 * * * *"}
    assert "triggers[0].params: invalid params: param n: required" in error_messages(
        params=params, triggers=[cron]
    )
    assert "param n: 'x' is not an integer" in error_messages(
        params=params, triggers=[{**cron, "params": {"n": "x"}}]
    )
    assert "triggers[1].params: unknown param m (known: n)" in error_messages(
        params=params,
        triggers=[{**cron, "params": {"n": 1}}, {"type": "webhook", "params": {"m": "a"}}],
    )
    assert "'a..b' is not a dotted path" in error_messages(
        params=params, triggers=[{"type": "webhook", "params": {"n": "a..b"}}]
    )


def test_a_webhook_maps_payload_paths_to_params() -> None:
    from autohub.registry.triggers import WebhookTrigger

    hook = WebhookTrigger(
        secret="${HOOK_SECRET}",
        params={"repo": "repository.name", "sha": "commits.1.id", "gone": "missing.path"},
    )
    payload = {"repository": {"name": "api"}, "commits": [{"id": "a1"}, {"id": "b2"}]}

    assert hook.params_from(payload) == {"repo": "api", "sha": "b2"}
    assert hook.params_from(["not", "a", "mapping"]) == {}
    assert hook.secret_name == "HOOK_SECRET"


def test_version_ignores_key_order_and_explicit_defaults() -> None:
    base = automation(steps=[{"id": "a", "shell": ["x"], "timeout": "30s"}])
    reordered = Automation.model_validate(
        {"steps": [{"timeout": "30s", "shell": {"argv": ["x"]}, "id": "a"}], "name": "job"}
    )
    with_defaults = automation(
        steps=[{"id": "a", "shell": ["x"], "timeout": 30, "needs": []}], description=""
    )
    assert base.version == reordered.version == with_defaults.version
    assert len(base.version) == 64


def test_the_canonical_text_made_step_by_step_is_the_canonical_json_of_the_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autohub.scaffold import scaffold

    for name in [name for name in sys.modules if name.split(".")[0] == "ops"]:
        monkeypatch.delitem(sys.modules, name)  # another test's project's "ops" package
    scaffold(tmp_path, "proj")
    examples = [
        d.automation for d in load_registry(load_config(tmp_path / "autohub.yaml", cwd=tmp_path))
    ]
    rich = automation(
        description="Sauvegarde nocturne \u2013 v\u00e9rifi\u00e9e",
        tags=["ops", "backup"],
        params={"env": {"type": "string", "enum": ["prod", "dev"], "default": "dev"}},
        triggers=[{"type": "cron", "schedule": "0 2 * * *", "params": {"env": "prod"}}],
        timeout="5m",
        retry={"attempts": 3, "backoff": {"initial": "2s", "factor": 2, "max": "20s"}},
        steps=[
            {"id": "call", "http": {"url": "https://x.example/a", "json": {"b": 1, "a": [2]}}},
            {"id": "b", "needs": ["call"], "shell": ["true"], "run_if": "always"},
        ],
    )
    assert len(examples) >= 3
    for example in [*examples, rich]:
        assert example.canonical_text() == canonical_json(example.content()), example.name
    assert '"json":{"a":[2],"b":1}' in rich.canonical_text()
    assert "\\u2013" in rich.canonical_text()  # ASCII, as json.dumps writes it


def test_version_changes_with_the_content() -> None:
    base = automation(steps=[{"id": "a", "shell": ["x"], "timeout": "30s"}])
    changed = automation(steps=[{"id": "a", "shell": ["x"], "timeout": "31s"}])
    assert base.version != changed.version
