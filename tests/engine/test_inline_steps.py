"""Sync python steps on the runner's own thread: only when nothing else of the run can run
meanwhile and no timeout applies; the lease and cancellation still work (both databases)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from runner_helpers import (
    project_hub,
    start_and_cancel_after,
    step_outputs,
    step_states,
    trace_lines,
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACE_FILE", str(tmp_path / "trace.log"))
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_chain_of_sync_steps_without_timeouts_runs_on_the_runners_thread(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          steps:
            - {id: first, python: "jobs:where"}
            - {id: second, needs: [first], python: "jobs:where"}
        """,
    )
    with hub:
        run = hub.run("chain")
        seen = step_outputs(hub, run.id)
    assert run.state == "succeeded"
    me = threading.current_thread().name
    assert seen["first"]["thread"] == me
    assert seen["second"]["thread"] == me


def test_a_step_with_a_timeout_or_a_run_deadline_runs_on_a_pool_thread(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        timed_step:
          steps:
            - {id: only, timeout: 5s, python: "jobs:where"}
        timed_run:
          timeout: 30s
          steps:
            - {id: only, python: "jobs:where"}
        """,
    )
    with hub:
        step_run = hub.run("timed_step")
        run_run = hub.run("timed_run")
        threads = [step_outputs(hub, run.id)["only"]["thread"] for run in (step_run, run_run)]
    assert [step_run.state, run_run.state] == ["succeeded", "succeeded"]
    assert all(name.startswith("autohub-step") for name in threads), threads


def test_parallel_sync_steps_still_run_together_on_pool_threads(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        fan:
          steps:
            - {id: a, python: {function: "jobs:where", kwargs: {seconds: 0.4}}}
            - {id: b, python: {function: "jobs:where", kwargs: {seconds: 0.4}}}
        """,
    )
    with hub:
        run = hub.run("fan")
        seen = step_outputs(hub, run.id)
    assert run.state == "succeeded"
    assert all(seen[s]["thread"].startswith("autohub-step") for s in "ab"), seen
    # they overlapped: each started before the other finished
    assert seen["a"]["started"] < seen["b"]["finished"]
    assert seen["b"]["started"] < seen["a"]["finished"]


def test_a_runner_that_shares_its_loop_keeps_sync_steps_on_pool_threads(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          steps:
            - {id: only, python: "jobs:where"}
        """,
    )
    with hub:
        run, _ = hub.start("chain")
        runner = hub.runner()  # as the server's executor makes it
        try:
            finished = asyncio.run(runner.execute(run.id, hub.automation_of(run)))
        finally:
            runner.steps.executor.close()
        seen = step_outputs(hub, run.id)
    assert finished.state == "succeeded"
    assert seen["only"]["thread"].startswith("autohub-step")


def test_a_step_on_the_runners_thread_may_start_its_own_event_loop(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        nested:
          steps:
            - {id: only, python: "jobs:nested_loop"}
            - {id: after, needs: [only], python: "jobs:where"}
        """,
    )
    with hub:
        run = hub.run("nested")
        seen = step_outputs(hub, run.id)
    assert run.state == "succeeded", run.error
    assert seen["only"] == {"answer": 42, "thread": threading.current_thread().name}


def test_the_lease_is_kept_while_a_step_blocks_the_runners_thread(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        long:
          steps:
            - {id: only, python: {function: "jobs:where", kwargs: {seconds: 2.5}}}
        """,
    )
    with hub:
        hub.lease_seconds = 1.0
        run, _ = hub.start("long")
        taken: list[object] = []

        def other_runner() -> None:
            time.sleep(1.8)  # past the lease of the claim, had nobody renewed it
            taken.append(hub.runs.claim(run.id, "another-runner", 1.0))

        thief = threading.Thread(target=other_runner)
        thief.start()
        finished = hub.execute(run.id)
        thief.join()
        seen = step_outputs(hub, run.id)
        attempts = hub.runs.attempts(run.id)
    assert seen["only"]["thread"] == threading.current_thread().name
    assert taken == [None]  # the heartbeat's thread renewed the lease meanwhile
    assert finished.state == "succeeded"
    assert len(attempts) == 1


def test_a_cancel_during_a_step_on_the_runners_thread_stops_the_run_after_it(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          steps:
            - {id: first, python: {function: "jobs:where", kwargs: {seconds: 1.2}}}
            - {id: second, needs: [first], python: "jobs:where"}
        """,
    )
    with hub:
        run_id, finished = start_and_cancel_after(hub, "chain", 0.3)
        steps = step_states(hub, run_id)
        first = step_outputs(hub, run_id)["first"]
    assert first["thread"] == threading.current_thread().name
    assert finished.state == "cancelled"
    assert steps == {"first": "succeeded", "second": "cancelled"}


# -- the runner awaits a step alone itself, not in a task: cancellation, isolation -----------


def test_a_cancel_during_an_awaited_step_cancels_the_step_itself(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          steps:
            - {id: first, python: "jobs:cancellable"}
            - {id: second, needs: [first], python: "jobs:where"}
        """,
    )
    with hub:
        started = time.monotonic()
        run_id, finished = start_and_cancel_after(hub, "chain", 0.3)
        took = time.monotonic() - started
        steps = step_states(hub, run_id)
        attempts = [(a.step_id, a.outcome) for a in hub.runs.attempts(run_id)]
    assert finished.state == "cancelled"
    assert took < 10  # not the step's 30 s
    assert steps == {"first": "cancelled", "second": "cancelled"}
    assert attempts == [("first", "cancelled")]
    assert trace_lines(project) == ["first:started", "first:cancelled"]


def test_an_async_step_alone_still_has_a_task_and_context_of_its_own(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          steps:
            - {id: first, python: "jobs:set_mark"}
            - {id: second, needs: [first], python: "jobs:set_mark"}
            - {id: third, needs: [second], python: "jobs:read_mark"}
        """,
    )
    with hub:
        run = hub.run("chain")
        seen = step_outputs(hub, run.id)
    assert run.state == "succeeded", run.error
    assert seen["first"] == {"before": None, "task_runs": "set_mark"}
    assert seen["second"] == {"before": None, "task_runs": "set_mark"}  # nothing leaked
    assert seen["third"] == {"mark": None}


def test_a_long_chain_of_quick_steps_still_hears_a_cancel(project: Path, database_url: str) -> None:
    steps = "\n".join(
        f"            - {{id: s{n}, needs: [{f's{n - 1}' if n else ''}], "
        f'python: {{function: "jobs:where", kwargs: {{seconds: 0.01}}}}}}'
        for n in range(400)
    )
    hub = project_hub(project, database_url, f"chain:\n          steps:\n{steps}\n")
    with hub:
        run_id, finished = start_and_cancel_after(hub, "chain", 0.5)
        states = [step.state for step in hub.runs.steps(run_id)]
    # 400 steps of 10 ms take 4 s or more; the cancel is heard within a heartbeat or two
    assert finished.state == "cancelled"
    assert 0 < states.count("succeeded") < 300
    assert states.count("cancelled") == 400 - states.count("succeeded")


def test_a_run_leaves_older_objects_out_of_the_collectors_passes_and_hands_them_back(
    project: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import autohub.hub

    monkeypatch.setitem(autohub.hub._freezing, "foreign", False)  # restored after the test
    hub = project_hub(
        project, database_url, 'once:\n          steps: [{id: only, python: "jobs:frozen"}]\n'
    )
    with hub:
        assert gc.get_freeze_count() == 0
        run = hub.run("once")
        during = step_outputs(hub, run.id)["only"]
        after = gc.get_freeze_count()
        gc.freeze()  # a program that froze its own objects keeps them frozen
        try:
            again = hub.run("once")
            kept = gc.get_freeze_count()
        finally:
            gc.unfreeze()
        left_alone = step_outputs(hub, again.id)["only"]
        hub.run("once")
        after_that = gc.get_freeze_count()
    assert during == {"frozen": True}
    assert after == 0
    assert kept > 0
    assert left_alone == {"frozen": True}  # the program's own freeze
    assert after_that == 0  # autohub no longer freezes anything in this process


def test_the_lock_of_a_step_on_the_runners_thread_is_kept_while_it_runs(
    project: Path, database_url: str
) -> None:
    from autohub.store.locks import Granted, LockStore

    hub = project_hub(
        project,
        database_url,
        """
        deploy:
          steps:
            - id: only
              concurrency: {key: deploy, limit: 1, lease: 1s}
              python: {function: "jobs:where", kwargs: {seconds: 2.5}}
        """,
    )
    with hub:
        locks = LockStore(hub.database, hub.events)
        taken: list[object] = []

        def intruder() -> None:
            time.sleep(1.8)  # past the step's 1 s lease, had nobody renewed it
            taken.append(locks.try_acquire("deploy", "intruder", 1, 5, project_id="test"))

        other = threading.Thread(target=intruder)
        other.start()
        run = hub.run("deploy")
        other.join()
        seen = step_outputs(hub, run.id)
    assert run.state == "succeeded", run.error
    assert seen["only"]["thread"] == threading.current_thread().name  # run on the runner's thread
    assert not isinstance(taken[0], Granted)  # the heartbeat renewed the step's lease


def test_a_cancellation_from_outside_stops_the_run_even_if_the_step_swallows_it(
    project: Path, database_url: str
) -> None:
    hub = project_hub(
        project,
        database_url,
        """
        chain:
          steps:
            - {id: first, python: "jobs:swallow_cancel"}
            - {id: second, needs: [first], python: "jobs:where"}
        """,
    )
    with hub:
        run, _ = hub.start("chain")
        runner = hub.runner(alone=True)

        async def stop_the_process_meanwhile() -> str:
            task = asyncio.create_task(runner.execute(run.id, hub.automation_of(run)))
            await asyncio.sleep(0.5)
            task.cancel()  # as asyncio.run does on Ctrl-C
            return (await task).state

        try:
            state = asyncio.run(stop_the_process_meanwhile())
        finally:
            runner.steps.executor.close()
        steps = step_states(hub, run.id)
        first = step_outputs(hub, run.id)["first"]
    assert state == "cancelled"
    assert first == {"swallowed": True}  # what the step returned is recorded
    assert steps == {"first": "succeeded", "second": "cancelled"}
