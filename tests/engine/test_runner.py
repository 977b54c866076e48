"""The runner: DAG order, outputs, retries, run_if, fallbacks, idempotency (both databases)."""

from __future__ import annotations

from pathlib import Path

import pytest
from runner_helpers import open_hub, project_hub, trace_lines

from autohub.errors import InvalidInput
from autohub.hub import Hub


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACE_FILE", str(tmp_path / "trace.log"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def events_of(hub: Hub, run_id: str) -> list[tuple[str, str]]:
    return [(e.event_type, e.status) for e in hub.events.correlate(run_id=run_id)]


def test_steps_run_in_needs_order_and_see_earlier_outputs(project: Path, database_url: str) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          params:
            a: {type: integer, default: 2}
          steps:
            - {id: first, python: {function: "jobs:add", kwargs: {a: "{{ params.a }}", b: 3}}}
            - id: second
              needs: [first]
              python:
                function: "jobs:add"
                kwargs: {a: "{{ steps.first.output.sum }}", b: 10}
            - {id: third, needs: [second], python: "jobs:upstream"}
        """,
    )
    with hub:
        run = hub.run("chain", {"a": "4"})
        steps = {s.step_id: s for s in hub.runs.steps(run.id)}
        assert run.state == "succeeded"
        assert run.params == {"a": 4}
        assert steps["first"].output == {"sum": 7}
        assert steps["second"].output == {"sum": 17}
        assert steps["third"].output == {"seen": {"first": {"sum": 7}, "second": {"sum": 17}}}
        assert [a.step_id for a in hub.runs.attempts(run.id)] == ["first", "second", "third"]
        kinds = [kind for kind, _ in events_of(hub, run.id)]
        assert kinds[:2] == ["run.created", "run.started"]
        assert kinds.count("step.attempt") == 3
        assert kinds[-1] == "run.finished"


def test_a_param_that_spells_a_secret_reference_stays_text(
    project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A param comes from whoever starts the run (a webhook, an event): only the
    # definition may refer to a secret. Rendered first, "${VAULT_KEY}" must not resolve.
    monkeypatch.setenv("VAULT_KEY", "vk-7c1d2e3f4a5b")
    monkeypatch.setenv("DEPLOY_USER", "deployer-9f8e")
    hub = project_hub(
        project,
        database_url,
        """
        deploy:
          params:
            version: {type: string, required: true}
          steps:
            - id: show
              shell: [echo, "v={{ params.version }}", "as ${DEPLOY_USER}", "{{ '$' }}{HOME}"]
        """,
    )
    with hub:
        run = hub.run("deploy", {"version": "${VAULT_KEY}"})
        (step,) = hub.runs.steps(run.id)

    assert run.state == "succeeded", run.error
    assert step.output["stdout"] == "v=${VAULT_KEY} as [REDACTED] ${HOME}\n"


def test_a_failing_step_skips_its_dependents_and_fails_the_run(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        deploy:
          steps:
            - {id: release, python: "jobs:trace"}
            - {id: check, needs: [release], python: "jobs:boom"}
            - {id: announce, needs: [check], python: "jobs:trace"}
            - {id: rollback, needs: [check], run_if: failure, python: "jobs:trace"}
            - {id: cleanup, needs: [announce, rollback], run_if: always, python: "jobs:trace"}
        """,
    )
    with hub:
        run = hub.run("deploy")
        states = {s.step_id: s.state for s in hub.runs.steps(run.id)}
    assert run.state == "failed"
    assert "check" in (run.error or "")
    assert states == {
        "release": "succeeded",
        "check": "failed",
        "announce": "skipped",
        "rollback": "succeeded",
        "cleanup": "succeeded",
    }
    assert trace_lines(project) == ["release", "rollback", "cleanup"]


def test_retries_follow_the_stored_schedule(project: Path, database_url: str) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        flaky:
          steps:
            - id: call
              python: {function: "jobs:flaky", kwargs: {failures: 2}}
              retry:
                attempts: 3
                backoff: {initial: 50ms, factor: 2, max: 1s}
                retry_on: {exceptions: [ConnectionError]}
        """,
    )
    with hub:
        run = hub.run("flaky")
        attempts = hub.runs.attempts(run.id)
        (step,) = hub.runs.steps(run.id)
        kinds = [kind for kind, _ in events_of(hub, run.id)]
    assert run.state == "succeeded"
    assert [(a.number, a.outcome) for a in attempts] == [
        (1, "failed"),
        (2, "failed"),
        (3, "succeeded"),
    ]
    assert "ConnectionError: attempt 1 failed" in (attempts[0].error or "")
    assert attempts[1].started_at >= attempts[0].finished_at
    gap = (attempts[2].started_at - attempts[1].finished_at).total_seconds()
    assert gap >= 0.09  # the second delay is 50ms * 2
    assert step.attempts == 3
    assert step.output == {"attempt": 3}
    assert kinds.count("step.retry_scheduled") == 2


def test_an_error_not_in_retry_on_is_not_retried(project: Path, database_url: str) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        strict:
          steps:
            - id: call
              python: "jobs:boom"
              retry: {attempts: 5, retry_on: {exceptions: [ConnectionError]}}
        """,
    )
    with hub:
        run = hub.run("strict")
        assert run.state == "failed"
        assert len(hub.runs.attempts(run.id)) == 1


def test_the_fallback_chain_runs_in_order_until_one_succeeds(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        call:
          steps:
            - id: notify
              python: "jobs:boom"
              fallback:
                - {name: celery-tier, python: "jobs:boom", timeout: 1s}
                - {name: api-tier, shell: [sh, -c, "exit 7"], timeout: 5s}
                - {name: command-tier, python: {function: "jobs:trace", kwargs: {label: tier3}},
                   timeout: 30s}
        """,
    )
    with hub:
        run = hub.run("call")
        (step,) = hub.runs.steps(run.id)
        attempts = hub.runs.attempts(run.id)
        (fallback,) = [
            e for e in hub.events.correlate(run_id=run.id) if e.event_type == "fallback.used"
        ]
    assert run.state == "succeeded"
    assert step.method == "command-tier"
    assert [(a.tier, a.method, a.outcome) for a in attempts] == [
        (0, "python", "failed"),
        (1, "celery-tier", "failed"),
        (2, "api-tier", "failed"),
        (3, "command-tier", "succeeded"),
    ]
    tried = fallback.evidence["attempts"]
    assert [(t["method"], t["success"]) for t in tried] == [
        ("python", False),
        ("celery-tier", False),
        ("api-tier", False),
        ("command-tier", True),
    ]
    assert all(set(t) == {"method", "success", "duration_seconds", "error"} for t in tried)


def test_the_same_idempotency_key_returns_the_same_run(project: Path, database_url: str) -> None:
    hub = project_hub(project, database_url, 'once:\n  steps: [{id: a, python: "jobs:trace"}]\n')
    with hub:
        first = hub.run("once", idempotency_key="deploy-42")
        second = hub.run("once", idempotency_key="deploy-42")
    assert second.id == first.id
    assert trace_lines(project) == ["a"]


def test_bad_params_are_listed_before_anything_runs(project: Path, database_url: str) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        typed:
          params:
            env: {enum: [staging, production], required: true}
            count: {type: integer, default: 1}
          steps: [{id: a, python: "jobs:trace"}]
        """,
    )
    with hub, pytest.raises(InvalidInput) as caught:
        hub.run("typed", {"count": "many"})
    assert "param count: 'many' is not an integer" in caught.value.message
    assert "param env: required" in caught.value.message
    with open_hub(project, database_url) as again:
        assert again.runs.list_runs() == []


def test_independent_steps_run_in_parallel_up_to_max_parallel(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        fan:
          max_parallel: 3
          steps:
            - {id: a, python: {function: "jobs:slow", kwargs: {seconds: 0.3}}}
            - {id: b, python: {function: "jobs:slow", kwargs: {seconds: 0.3}}}
            - {id: c, python: {function: "jobs:slow", kwargs: {seconds: 0.3}}}
            - {id: d, python: {function: "jobs:slow", kwargs: {seconds: 0.3}}}
            - {id: gather, needs: [a, b, c, d], python: "jobs:upstream"}
        """,
    )
    with hub:
        run = hub.run("fan")
        steps = {s.step_id: s for s in hub.runs.steps(run.id)}
    assert run.state == "succeeded"
    starts = sorted(steps[s].started_at for s in "abcd")  # type: ignore[type-var]
    # three start together; the fourth waits for a free slot
    assert (starts[2] - starts[0]).total_seconds() < 0.25
    assert (starts[3] - starts[0]).total_seconds() >= 0.25
    assert set(steps["gather"].output["seen"]) == {"a", "b", "c", "d"}


def test_a_run_timeout_stops_the_run(project: Path, database_url: str) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        bounded:
          timeout: 500ms
          steps:
            - {id: wait, shell: [sleep, "30"]}
        """,
    )
    with hub:
        run = hub.run("bounded")
        (step,) = hub.runs.steps(run.id)
    assert run.state == "timed_out"
    assert step.state == "timed_out"
    assert run.finished_at is not None
    assert run.started_at is not None
    assert (run.finished_at - run.started_at).total_seconds() < 5


def test_a_step_whose_idempotency_key_has_a_result_is_not_run_again(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        release:
          params:
            version: {required: true}
          steps:
            - id: publish
              idempotency_key: "publish-{{ params.version }}"
              python: {function: "jobs:trace", kwargs: {label: "publish {{ params.version }}"}}
            - {id: after, needs: [publish], python: "jobs:upstream"}
        """,
    )
    with hub:
        first = hub.run("release", {"version": "1.0"})
        second = hub.run("release", {"version": "1.0"})
        third = hub.run("release", {"version": "2.0"})
        reused = {s.step_id: s for s in hub.runs.steps(second.id)}
        kinds = [kind for kind, _ in events_of(hub, second.id)]
    assert first.id != second.id
    assert (first.state, second.state, third.state) == ("succeeded",) * 3
    assert trace_lines(project) == ["publish 1.0", "publish 2.0"]
    assert reused["publish"].method == "idempotent"
    assert reused["publish"].output == {"step": "publish", "attempt": 1}
    assert reused["after"].output == {"seen": {"publish": {"step": "publish", "attempt": 1}}}
    assert "step.reused" in kinds
