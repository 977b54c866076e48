"""Durability through the whole engine, with real processes, on both databases.

A runner subprocess is killed with SIGKILL and the run resumed in the test process;
a run is cancelled from another process; timeouts, resource limits, breakers and locks
act on real subprocesses and are shared by runner processes through the store.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from durability_helpers import (
    RunnerProcess,
    make_project,
    open_hub,
    runner_processes,
    trace_lines,
    wait_for,
)
from engine_helpers import process_is_gone

from autohub.engine.runner import RunBusy
from autohub.hub import Hub

StartRunner = Callable[..., RunnerProcess]

CHAIN = """
x:
  steps:
    - {id: a, python: "durajobs:trace"}
    - {id: b, needs: [a], python: "durajobs:trace"}
    - {id: c, needs: [b], python: "durajobs:slow_unless_fast"}
    - {id: d, needs: [c], python: "durajobs:trace"}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "proj"


@pytest.fixture(scope="session")
def pycache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytecode of the runner subprocesses, shared by the xdist workers of one run."""
    path = tmp_path_factory.getbasetemp().parent / "autohub-runner-pycache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def runners(tmp_path: Path, database_url: str, pycache_dir: Path) -> Iterator[StartRunner]:
    with runner_processes(tmp_path, database_url, pycache_dir) as start:
        yield start


def kinds_of(hub: Hub, run_id: str) -> list[str]:
    return [event.event_type for event in hub.events.correlate(run_id=run_id)]


def wait_until_orphaned(hub: Hub, run_id: str) -> None:
    """Until the killed runner's lease has expired (the run is an orphan)."""
    wait_for(
        lambda: run_id in [run.id for run in hub.runs.orphans()],
        "the killed runner's lease to expire",
        within=15,
    )


def snapshot(hub: Hub, run_id: str) -> dict[str, Any]:
    """Everything stored about a run, except the lease times a live runner renews."""

    def without_lease(data: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in data.items() if key != "lease_expires_at"}

    return {
        "run": without_lease(hub.runs.get(run_id).to_dict()),
        "steps": [without_lease(step.to_dict()) for step in hub.runs.steps(run_id)],
        "attempts": [attempt.to_dict() for attempt in hub.runs.attempts(run_id)],
        "events": [(e.id, e.event_type) for e in hub.events.correlate(run_id=run_id)],
    }


# -- kill -9 and resume ---------------------------------------------------------------


def test_a_run_killed_mid_step_resumes_and_reruns_only_the_step_in_flight(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(root, database_url, CHAIN)
    runner = runners(root, "x", lease=2.0)
    wait_for(lambda: trace_lines(root) == ["a", "b", "c"], "step c to start")
    runner.kill()
    run_id = runner.run_id

    with open_hub(root, database_url) as hub:
        states = {step.step_id: step.state for step in hub.runs.steps(run_id)}
        assert states == {"a": "succeeded", "b": "succeeded", "c": "running", "d": "pending"}
        wait_until_orphaned(hub, run_id)
        (root / "fast.flag").touch()  # c is fast from now on
        resumed = hub.resume()
        assert [run.id for run in resumed] == [run_id]
        run = hub.runs.get(run_id)
        steps = {step.step_id: step for step in hub.runs.steps(run_id)}
        attempts = [(a.step_id, a.number, a.outcome) for a in hub.runs.attempts(run_id)]
        (interrupted,) = [a for a in hub.runs.attempts(run_id) if a.outcome == "interrupted"]
        events = hub.events.correlate(run_id=run_id)

    assert run.state == "succeeded"
    assert run.owner is None
    assert trace_lines(root) == ["a", "b", "c", "c", "d"]
    assert attempts == [
        ("a", 1, "succeeded"),
        ("b", 1, "succeeded"),
        ("c", 1, "interrupted"),
        ("c", 2, "succeeded"),
        ("d", 1, "succeeded"),
    ]
    assert interrupted.step_id == "c"
    assert f":{runner.pid}:" in (interrupted.error or "")  # names the runner that died
    assert steps["c"].attempts == 2
    assert steps["c"].output == {"step": "c", "attempt": 2}
    assert all(step.state == "succeeded" for step in steps.values())
    kinds = [event.event_type for event in events]
    assert kinds.count("run.started") == 1
    assert kinds.count("run.finished") == 1
    (resumed_event,) = [event for event in events if event.event_type == "run.resumed"]
    assert resumed_event.evidence["interrupted_steps"] == ["c"]
    assert f":{runner.pid}:" in resumed_event.evidence["previous_owner"]


def test_resume_refuses_a_run_whose_runner_is_alive_and_changes_nothing(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(root, database_url, CHAIN)
    runner = runners(root, "x", lease=30.0)
    wait_for(lambda: trace_lines(root) == ["a", "b", "c"], "step c to start")

    with open_hub(root, database_url) as hub:
        before = snapshot(hub, runner.run_id)
        assert hub.resume() == []  # not an orphan: its lease is alive
        with pytest.raises(RunBusy, match=f"being executed by .*:{runner.pid}:"):
            hub.execute(runner.run_id)
        after = snapshot(hub, runner.run_id)

    assert after == before
    assert before["run"]["state"] == "running"
    assert runner.popen.poll() is None  # the live runner goes on
    assert trace_lines(root) == ["a", "b", "c"]


def test_an_in_flight_step_whose_idempotency_key_got_a_result_is_not_run_again(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    """Two runs share the step's idempotency key. The second run's step is in flight
    when its runner is killed; meanwhile the first run records a result under the key;
    the resumed second run reuses that result instead of running the step again."""
    make_project(
        root,
        database_url,
        """
        pay:
          params:
            order: {type: string, required: true}
          steps:
            - id: charge
              python: {function: "durajobs:charge", kwargs: {order: "{{ params.order }}"}}
              idempotency_key: "order-{{ params.order }}"
            - {id: receipt, needs: [charge], python: "durajobs:trace"}
        """,
    )
    (root / "slow.flag").touch()
    runner = runners(root, "pay", {"order": "42"}, lease=2.0)
    in_flight = f"charge 42 {runner.run_id}"
    wait_for(lambda: in_flight in trace_lines(root), "the charge to start")
    (root / "slow.flag").unlink()  # every charge from now on is fast

    with open_hub(root, database_url) as hub:
        (running,) = [s for s in hub.runs.steps(runner.run_id) if s.state == "running"]
        assert running.step_id == "charge"
        other = hub.run("pay", {"order": "42"})  # the key has no result yet: it charges
        (recorded, _) = hub.runs.steps(other.id)
        runner.kill()
        wait_until_orphaned(hub, runner.run_id)
        (resumed,) = hub.resume()
        charge, receipt = hub.runs.steps(runner.run_id)
        attempts = [(a.step_id, a.number, a.outcome) for a in hub.runs.attempts(runner.run_id)]
        kinds = kinds_of(hub, runner.run_id)

    assert other.state == "succeeded"
    assert recorded.method == "python"
    assert resumed.state == "succeeded"
    assert running.idempotency_key == recorded.idempotency_key == "pay:charge:order-42"
    assert charge.state == "succeeded"
    assert charge.method == "idempotent"
    assert (
        charge.output
        == recorded.output
        == {
            "charged": "42",
            "key": "pay:charge:order-42",
            "run": other.id,
        }
    )
    assert receipt.state == "succeeded"
    assert attempts == [("charge", 1, "interrupted"), ("receipt", 1, "succeeded")]
    assert "step.reused" in kinds
    assert trace_lines(root) == [
        in_flight,  # killed in flight, never run again
        f"charge 42 {other.id}",
        "receipt",
        "receipt",
    ]


def test_the_retry_schedule_survives_a_restart(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(
        root,
        database_url,
        """
        retrying:
          steps:
            - id: call
              python: "durajobs:fail_first"
              retry: {attempts: 2, backoff: {initial: 5s, factor: 1, max: 5s}}
        """,
    )
    runner = runners(root, "retrying", lease=2.0)
    with open_hub(root, database_url) as hub:

        def scheduled() -> Any:
            (step,) = hub.runs.steps(runner.run_id)
            return step if step.next_attempt_at is not None else None

        step = wait_for(scheduled, "the retry to be scheduled")
        runner.kill()
        stored: datetime = step.next_attempt_at
        assert step.state == "pending"
        assert step.attempts == 1
        (failed,) = hub.runs.attempts(runner.run_id)
        assert 4.9 <= (stored - failed.finished_at).total_seconds() <= 5.1

        wait_until_orphaned(hub, runner.run_id)
        resumed_at = datetime.now(UTC)
        assert resumed_at < stored, "the test needs the resume to come before the retry"
        (resumed,) = hub.resume()
        attempts = hub.runs.attempts(runner.run_id)
        (call,) = hub.runs.steps(runner.run_id)

    assert resumed.state == "succeeded"
    assert [(a.number, a.outcome) for a in attempts] == [(1, "failed"), (2, "succeeded")]
    assert attempts[1].started_at >= stored
    traced = [line.split() for line in trace_lines(root)]
    assert [line[1] for line in traced] == ["1", "2"]
    assert float(traced[1][2]) >= stored.timestamp()  # the function itself ran no earlier
    assert call.next_attempt_at is None
    assert call.output == {"attempt": 2}


# -- cancel from another process ------------------------------------------------------


SLEEPERS = """
sleepers:
  steps:
    - id: plain
      shell: {command: "echo $$ > plain.pid; exec sleep 60", shell: true}
    - id: spawner
      shell:
        command: "sleep 60 & echo $! > spawner.pid; echo $$ >> spawner.pid; exec sleep 60"
        shell: true
"""


def pids_in(path: Path, count: int) -> list[int] | None:
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [int(line) for line in lines] if len(lines) == count else None


def test_cancel_from_another_process_stops_the_runner_and_kills_its_processes(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(root, database_url, SLEEPERS)
    runner = runners(root, "sleepers", lease=30.0)
    plain = wait_for(lambda: pids_in(root / "plain.pid", 1), "plain to start")
    spawned = wait_for(lambda: pids_in(root / "spawner.pid", 2), "spawner to start")
    pids = plain + spawned  # sleep, the grandchild sleep, spawner's (exec'd) sleep
    assert not any(process_is_gone(pid, 0) for pid in pids)

    with open_hub(root, database_url) as hub:
        asked = time.monotonic()
        requested = hub.cancel(runner.run_id)
        assert requested.state == "running"  # its live runner stops it
        assert requested.cancel_requested_at is not None
        result = runner.result(within=15)
        took = time.monotonic() - asked
        run = hub.runs.get(runner.run_id)
        steps = {step.step_id: step for step in hub.runs.steps(runner.run_id)}
        attempts = [(a.step_id, a.outcome) for a in hub.runs.attempts(runner.run_id)]
        kinds = kinds_of(hub, runner.run_id)

    assert result == {"state": "cancelled"}
    assert took < 5, f"the runner took {took:.1f} s to stop"
    assert run.state == "cancelled"
    assert {step_id: step.state for step_id, step in steps.items()} == {
        "plain": "cancelled",
        "spawner": "cancelled",
    }
    assert sorted(attempts) == [("plain", "cancelled"), ("spawner", "cancelled")]
    for pid in pids:
        assert process_is_gone(pid), f"process {pid} outlived the cancellation"
    assert "run.cancel_requested" in kinds
    assert kinds[-1] == "run.finished"


def test_cancelling_a_run_nobody_executes_cancels_it_at_once(root: Path, database_url: str) -> None:
    make_project(root, database_url, SLEEPERS)
    with open_hub(root, database_url) as hub:
        run, _ = hub.start("sleepers")
        cancelled = hub.cancel(run.id[:8])  # a prefix is enough
        steps = hub.runs.steps(run.id)
        again = hub.execute(run.id)  # nothing left to execute
        events = hub.events.correlate(run_id=run.id)

    assert cancelled.state == "cancelled"
    assert cancelled.finished_at is not None
    assert [step.state for step in steps] == ["cancelled", "cancelled"]
    assert again.state == "cancelled"
    assert not (root / "plain.pid").exists()
    assert [(e.event_type, e.status) for e in events] == [
        ("run.created", "pending"),
        ("run.cancel_requested", "cancelled"),
    ]


# -- timeouts, limits, breakers, locks through the engine -----------------------------


def test_a_step_timeout_kills_the_grandchild_process(root: Path, database_url: str) -> None:
    make_project(
        root,
        database_url,
        """
        bounded:
          steps:
            - id: wait
              shell: {command: "sleep 60 & echo $! > grandchild.pid; wait", shell: true}
              timeout: 1s
        """,
    )
    with open_hub(root, database_url) as hub:
        started = time.monotonic()
        run = hub.run("bounded")
        took = time.monotonic() - started
        (step,) = hub.runs.steps(run.id)
        (attempt,) = hub.runs.attempts(run.id)

    (grandchild,) = pids_in(root / "grandchild.pid", 1) or []
    assert run.state == "failed"
    assert step.state == "timed_out"
    assert attempt.outcome == "timed_out"
    assert "timed out after 1 s" in (step.error or "")
    assert took < 5
    assert process_is_gone(grandchild)


def test_a_memory_limit_stops_a_memory_hog(root: Path, database_url: str) -> None:
    make_project(
        root,
        database_url,
        f"""
        hog:
          steps:
            - id: allocate
              shell: ["{sys.executable}", -c, "x = bytearray(2 * 1024**3)"]
              limits: {{memory: 256MiB}}
        """,
    )
    with open_hub(root, database_url) as hub:
        run = hub.run("hog")
        (step,) = hub.runs.steps(run.id)
        (attempt,) = hub.runs.attempts(run.id)

    assert run.state == "failed"
    assert step.state == "failed"
    assert attempt.outcome == "failed"
    assert step.error == "exited with code 1: MemoryError"
    assert attempt.error == step.error


def test_a_breaker_opened_by_two_runner_processes_refuses_the_next_run_fast(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(
        root,
        database_url,
        """
        call:
          steps:
            - id: notify
              python: {function: "durajobs:unreliable", kwargs: {seconds: 1}}
              breaker: flaky
              fallback:
                - {name: backup, python: {function: "durajobs:trace", kwargs: {label: backup}}}
        """,
        extra="""
        breakers:
          flaky: {failure_threshold: 2, reset_timeout: 5m}
        """,
    )
    go = root / "go"
    first = runners(root, "call", go_file=go)
    second = runners(root, "call", go_file=go)
    go.touch()
    assert first.result() == {"state": "succeeded"}  # through the fallback
    assert second.result() == {"state": "succeeded"}
    assert sorted(trace_lines(root)) == ["backup", "backup", "primary", "primary"]

    with open_hub(root, database_url) as hub:
        third = hub.run("call")
        (step,) = hub.runs.steps(third.id)
        refused, backup = hub.runs.attempts(third.id)
        opened = [
            event
            for run_id in (first.run_id, second.run_id, third.id)
            for event in hub.events.correlate(run_id=run_id)
            if event.event_type == "breaker.opened"
        ]

    assert third.state == "succeeded"
    assert step.method == "backup"
    assert (refused.tier, refused.outcome) == (0, "failed")
    assert "breaker 'flaky' is open: failing fast" in (refused.error or "")
    assert refused.duration_seconds < 0.5  # the primary takes 1 s when it is called
    assert (backup.tier, backup.method, backup.outcome) == (1, "backup", "succeeded")
    assert trace_lines(root).count("primary") == 2  # not called by the third run
    assert len(opened) == 1


DEPLOY = """
deploy:
  params:
    env: {type: string, required: true}
    hold: {type: number, default: 0.5}
  concurrency: {key: "deploy-{{ params.env }}", limit: 1}
  steps:
    - id: release
      python:
        function: "durajobs:critical_section"
        kwargs: {label: "{{ run.id }}", seconds: "{{ params.hold }}"}
"""


def run_two_deploys(
    root: Path, runners: StartRunner, first_env: str, second_env: str, hold: float = 0.5
) -> tuple[list[str], list[str]]:
    """Two runner processes started together; the trace and their run ids."""
    go = root / "go"
    first = runners(root, "deploy", {"env": first_env, "hold": hold}, go_file=go)
    second = runners(root, "deploy", {"env": second_env, "hold": hold}, go_file=go)
    go.touch()
    assert first.result() == {"state": "succeeded"}
    assert second.result() == {"state": "succeeded"}
    return trace_lines(root), [first.run_id, second.run_id]


def test_runs_holding_the_same_lock_key_never_overlap(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(root, database_url, DEPLOY)
    lines, run_ids = run_two_deploys(root, runners, "prod", "prod")
    one, other = (lines[0].split()[1], lines[2].split()[1])
    assert sorted([one, other]) == sorted(run_ids)
    assert lines == [f"enter {one}", f"exit {one}", f"enter {other}", f"exit {other}"]
    with open_hub(root, database_url) as hub:
        waited = [kind for run_id in run_ids for kind in kinds_of(hub, run_id)]
        unfinished = hub.runs.list_runs(states=["running", "pending"])
    assert waited.count("lock.acquired") == 2
    assert "lock.waited" in waited
    assert unfinished == []


def test_runs_with_different_lock_keys_overlap(
    root: Path, database_url: str, runners: StartRunner
) -> None:
    make_project(root, database_url, DEPLOY)
    # held longer, so that a loaded machine starting one runner late still shows the overlap
    lines, run_ids = run_two_deploys(root, runners, "staging", "prod", hold=1.5)
    assert [line.split()[0] for line in lines] == ["enter", "enter", "exit", "exit"]
    assert {line.split()[1] for line in lines} == set(run_ids)
