"""The runner: executes a run's DAG durably.

The store is the source of truth. The runner claims the run with a lease, then
loops: it records what finished and claims what became ready in ONE transaction,
starts the claimed steps (up to ``max_parallel``), and waits for the next to
finish. A step's result, its attempts and its events are written together, so
after a crash (kill -9) a new runner resumes from the last completed step: the
step that was in flight runs again (at least once), unless it declared an
idempotency key whose result was already recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from autohub.clock import utcnow
from autohub.engine.dag import Dag
from autohub.engine.heartbeat import Heartbeat
from autohub.engine.locking import LockRequest, acquire_all
from autohub.engine.steps import (
    CACHED_DEFINITION_PARTS,
    StepOutcome,
    StepPlan,
    StepRunner,
    lock_requests,
)
from autohub.engine.templates import RenderError, render_text
from autohub.errors import AutohubError
from autohub.registry.models import Automation, Step
from autohub.registry.policies import POLICY_FIELDS, BreakerPolicy, Policies, merge_policies
from autohub.store.locks import LockStore
from autohub.store.runs import (
    LeaseLost,
    NewAttempt,
    RunChanges,
    RunRecord,
    RunStore,
    StepRecord,
)

HEARTBEAT_SECONDS = 0.5
YIELD_SECONDS = 0.02
"""A runner awaiting its steps itself (``_run_inline``) lets its event loop run at least
this often: the heartbeat's reports (a cancel request, a lost lease) are delivered there."""


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunBusy(AutohubError):
    """The run is being executed by another runner."""


ProgressCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class _Running:
    step: Step
    attempt: int
    task: asyncio.Task[StepOutcome]


class Runner:
    """Executes runs of one project's automations."""

    def __init__(
        self,
        *,
        store: RunStore,
        steps: StepRunner,
        defaults: Policies,
        locks: LockStore | None = None,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        on_progress: ProgressCallback | None = None,
        alone: bool = False,
    ) -> None:
        """``alone``: this runner executes one run at a time on its event loop (``Hub.run``,
        the CLI), so a sync python step may run on the loop's thread when nothing else
        of the run can run meanwhile (``ActionRequest.inline``). A runner sharing its loop
        with other runs (the server's executor) keeps every sync step on a pool thread."""
        self.alone = alone
        self.store = store
        self.steps = steps
        self.defaults = defaults
        self.locks = locks
        self.owner = owner or new_owner_id()
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.on_progress = on_progress
        self._policies: dict[tuple[int, str | None], tuple[Automation, Policies]] = {}

    async def execute(
        self, run_id: str, automation: Automation, *, seen: RunRecord | None = None
    ) -> RunRecord:
        """Execute (or resume) a run to its end; returns the finished run. ``seen``: the
        run as the caller has just read it (it is not read again)."""
        previous_owner = (seen or self.store.get(run_id)).owner  # the claim replaces it
        run = self.store.claim(run_id, self.owner, self.lease_seconds)
        if run is None:
            current = self.store.get(run_id)
            if current.finished:
                return current
            raise RunBusy(f"run {run_id} is being executed by {current.owner}")
        execution = _Execution(self, run, automation, previous_owner)
        try:
            return await execution.run()
        finally:
            if self.locks is not None:
                for holder in execution.lock_holders():
                    self.locks.release_all(holder)

    def lock_holder(self, run_id: str) -> str:
        """This runner's lock holder name for a run: a runner that takes the run over
        after our lease expired holds (and releases) its own locks, not ours."""
        return f"{run_id}:{self.owner}"

    def use_definitions(self, defaults: Policies, breakers: Mapping[str, BreakerPolicy]) -> None:
        """Take reloaded project ``defaults`` and ``breakers`` for the steps started from
        now on (a long-running runner, when the definitions were reloaded)."""
        self.defaults = defaults
        self.steps.breaker_policies = dict(breakers)
        self._policies.clear()

    def policies(self, automation: Automation, step: Step) -> Policies:
        """The step's policies: the project's defaults, the automation's, the step's
        (merged once per definition and step: definitions are not changed in place). A step
        that sets no policy of its own shares its automation's."""
        key = (id(automation), step.id)
        cached = self._policies.get(key)
        if cached is not None and cached[0] is automation:
            return cached[1]
        if step.model_fields_set.isdisjoint(POLICY_FIELDS):
            shared = self._policies.get((id(automation), None))
            if shared is None or shared[0] is not automation:
                shared = (automation, merge_policies(self.defaults, automation))
            policies = shared[1]
        else:
            shared, policies = None, merge_policies(self.defaults, automation, step)
        if len(self._policies) >= CACHED_DEFINITION_PARTS:  # definitions reloaded
            self._policies.clear()
        if shared is not None:
            self._policies[(id(automation), None)] = shared
        self._policies[key] = (automation, policies)
        return policies

    def progress(self, kind: str, **data: Any) -> None:
        if self.on_progress is not None:
            self.on_progress(kind, data)


class _Execution:
    """The state of one run while a runner executes it."""

    def __init__(
        self,
        runner: Runner,
        run: RunRecord,
        automation: Automation,
        previous_owner: str | None = None,
    ) -> None:
        self.runner = runner
        self.previous_owner = previous_owner
        self.store = runner.store
        self.run_record = run
        self.automation = automation
        self.clock = runner.clock
        self.changes = RunChanges()
        self.running: dict[str, _Running] = {}
        self.task_steps: dict[asyncio.Task[StepOutcome], str] = {}
        self.finished: list[asyncio.Task[StepOutcome]] = []
        """Step tasks done since the loop last collected (their done-callbacks add them)."""
        self.wakeup: asyncio.Future[None] | None = None
        self.ready: list[str] = []
        self.delayed: dict[str, datetime] = {}
        self.attempts: dict[str, int] = {}
        self.outputs: dict[str, Any] = {}
        self.has_run_locks = False
        self.locking_steps = {
            step.id for step in automation.steps if "concurrency" in step.model_fields_set
        }
        self.cancelled = False
        self.lease_lost = False
        self.main_task: asyncio.Task[Any] | None = None
        self.inline: _Running | None = None
        """The step the runner awaits itself (``_run_inline``), while it runs."""
        self.inline_cancelled = False
        self.yielded_at = 0.0
        self.timed_out = False
        self.deadline: datetime | None = None

    # -- the loop ------------------------------------------------------------------------

    async def run(self) -> RunRecord:
        run, automation = self.run_record, self.automation
        if run.state == "pending":
            # Never started (a run leaves "pending" in the commit before its first step):
            # its steps are as ``create`` wrote them, pending and never attempted. A new
            # 1,000-step run is not read back.
            records: dict[str, StepRecord] = {}
            states = dict.fromkeys((step.id for step in automation.steps), "pending")
        else:
            records = {record.step_id: record for record in self.store.steps(run.id)}
            states = {step.id: records[step.id].state for step in automation.steps}
        self.dag = Dag.build(automation.steps, states)
        for step_id, record in records.items():
            self.attempts[step_id] = record.attempts
            if record.state == "succeeded":
                self.outputs[step_id] = record.output
            if record.next_attempt_at is not None and record.state == "pending":
                self.delayed[step_id] = record.next_attempt_at
        self._start_or_resume(records)
        self.store.apply(run.id, self.runner.owner, self.changes)
        self.changes = RunChanges()
        self.runner.progress("run_started", run_id=run.id, automation=automation.name)

        run_locks = self._run_locks()
        self.has_run_locks = bool(run_locks)
        self.main_task = asyncio.current_task()
        heartbeat = Heartbeat(
            store=self.store,
            run_id=run.id,
            owner=self.runner.owner,
            lease_seconds=self.runner.lease_seconds,
            interval=HEARTBEAT_SECONDS,
            loop=asyncio.get_running_loop(),
            on_cancel_requested=self._cancel_requested,
            on_lease_lost=self._lease_lost,
            locks=self.runner.locks,
            lock_holders=lambda: self.lock_holders(self._running_step_ids()),
        )
        heartbeat.start()
        try:
            if run_locks and self.runner.locks is not None:
                await acquire_all(
                    self.runner.locks,
                    run_locks,
                    self.runner.lock_holder(run.id),
                    project_id=run.project_id,
                    run_id=run.id,
                )
            self._decide(self.dag.initially_ready())
            await self._loop()
        except asyncio.CancelledError:
            if self.lease_lost:
                await self._stop_running()
                raise LeaseLost(f"run {run.id}: lease lost to another runner") from None
            self.cancelled = True
            await self._stop_running()
        finally:
            heartbeat.stop()
        return self._finish()

    def _running_step_ids(self) -> list[str]:
        """The steps running now: in tasks, and the one the runner awaits itself."""
        inline = self.inline
        return [*self.running, *([inline.step.id] if inline is not None else [])]

    def lock_holders(self, step_ids: Iterable[str] | None = None) -> list[str]:
        """The holders that may hold locks: the run's when it has run-level concurrency,
        and those of (the given) steps that declare concurrency themselves."""
        base = self.runner.lock_holder(self.run_record.id)
        holders = [base] if self.has_run_locks else []
        steps = self.locking_steps if step_ids is None else self.locking_steps & set(step_ids)
        return holders + [f"{base}/{step_id}" for step_id in sorted(steps)]

    async def _loop(self) -> None:
        max_parallel = self.run_record.max_parallel
        while True:
            now = self.clock()
            if self.cancelled:
                await self._stop_running()
                return
            if self.deadline is not None and now >= self.deadline:
                await self._stop_running(state="timed_out")
                return
            for step_id, at in list(self.delayed.items()):
                if at <= now:
                    del self.delayed[step_id]
                    self.ready.append(step_id)
            self.ready.sort(key=self.dag.order.__getitem__)
            launch: list[str] = []
            while self.ready and len(self.running) + len(launch) < max_parallel:
                launch.append(self.ready.pop(0))
            for step_id in list(launch):
                if self._reuse_recorded_result(step_id, now):
                    launch.remove(step_id)
                else:
                    self._claim(step_id, now)
            self.store.apply(self.run_record.id, self.runner.owner, self.changes)
            self.changes = RunChanges()
            alone = (
                self.runner.alone
                and self.deadline is None
                and len(launch) == 1
                and not self.running
                and not self.ready
                and not self.delayed
            )
            if alone:
                await self._run_inline(launch[0])
                if asyncio.get_running_loop().time() - self.yielded_at >= YIELD_SECONDS:
                    await self._let_loop_run()
                continue
            for step_id in launch:
                self._launch(step_id)
            if not self.running and not self.ready and not self.delayed:
                return
            timeout = HEARTBEAT_SECONDS
            if self.delayed:
                soonest = min(self.delayed.values())
                timeout = min(timeout, max((soonest - self.clock()).total_seconds(), 0.0))
            if self.deadline is not None:
                timeout = min(timeout, max((self.deadline - self.clock()).total_seconds(), 0.0))
            if not self.finished:
                await self._wait_for_a_step(timeout)
            self.yielded_at = asyncio.get_running_loop().time()
            finished, self.finished = self.finished, []
            for task in finished:
                self._collect(task)

    async def _wait_for_a_step(self, timeout: float) -> None:
        """Until a step task finishes (its done-callback wakes us) or ``timeout`` passes.

        Cheaper than ``asyncio.wait`` over every running task on each turn of the loop:
        a fan-out of n steps would add and remove n callbacks per finished step.
        """
        loop = asyncio.get_running_loop()
        self.wakeup = wakeup = loop.create_future()
        timer = loop.call_later(timeout, _wake, wakeup)
        try:
            await wakeup
        finally:
            timer.cancel()
            self.wakeup = None

    async def _let_loop_run(self) -> None:
        """One turn of the event loop: what other tasks and threads (the heartbeat)
        scheduled on it runs now."""
        await asyncio.sleep(0)
        self.yielded_at = asyncio.get_running_loop().time()

    def _step_done(self, task: asyncio.Task[StepOutcome]) -> None:
        if task in self.task_steps:
            self.finished.append(task)
            if self.wakeup is not None:
                _wake(self.wakeup)

    # -- deciding ------------------------------------------------------------------------

    def _decide(self, step_ids: list[str]) -> None:
        """Steps whose needs are all done: ready to run, or skipped (cascading)."""
        for step_id in step_ids:
            if self.dag.should_run(step_id):
                if step_id not in self.ready and step_id not in self.delayed:
                    self.ready.append(step_id)
                continue
            now = self.clock()
            self.changes.step(step_id, state="skipped", finished_at=now)
            self.changes.events.append(
                self._event("step.skipped", "skipped", {"step": step_id, "reason": "run_if"})
            )
            self.runner.progress("step_skipped", step_id=step_id)
            self._decide(self.dag.finish(step_id, "skipped"))

    def _reuse_recorded_result(self, step_id: str, now: datetime) -> bool:
        """A step whose idempotency key already has a recorded result does not run again."""
        step = self.dag.steps[step_id]
        if step.idempotency_key is None:
            return False
        key = self._idempotency_key(step)
        if key is None:
            return False
        found, output = self.store.completed_output(step_id, key)
        if not found:
            return False
        self.changes.step(
            step_id,
            state="succeeded",
            output=output,
            method="idempotent",
            idempotency_key=key,
            started_at=now,
            finished_at=now,
        )
        self.changes.events.append(
            self._event("step.reused", "success", {"step": step_id, "idempotency_key": key})
        )
        self.outputs[step_id] = output
        self.runner.progress("step_finished", step_id=step_id, state="succeeded")
        self._decide(self.dag.finish(step_id, "succeeded"))
        return True

    def _claim(self, step_id: str, now: datetime) -> None:
        lease = now + timedelta(seconds=self.runner.lease_seconds)
        self.attempts[step_id] = self.attempts.get(step_id, 0) + 1
        values: dict[str, Any] = {
            "state": "running",
            "attempts": self.attempts[step_id],
            "owner": self.runner.owner,
            "lease_expires_at": lease,
            "next_attempt_at": None,
        }
        if self.attempts[step_id] == 1:
            values["started_at"] = now
        step = self.dag.steps[step_id]
        if step.idempotency_key is not None:
            values["idempotency_key"] = self._idempotency_key(step)
        self.changes.step(step_id, **values)

    def _plan(self, step_id: str, *, inline: bool = False) -> StepPlan:
        step = self.dag.steps[step_id]
        key = self.changes.steps.get(step_id, {}).get("idempotency_key")
        return StepPlan(
            run_id=self.run_record.id,
            automation=self.automation.name,
            project_id=self.run_record.project_id,
            step=step,
            policies=self.runner.policies(self.automation, step),
            attempt=self.attempts[step_id],
            params=self.run_record.params,
            outputs=MappingProxyType(self.outputs),
            idempotency_key=key or (self._idempotency_key(step) if step.idempotency_key else None),
            lock_holder=f"{self.runner.lock_holder(self.run_record.id)}/{step_id}",
            inline=inline,
        )

    def _launch(self, step_id: str) -> None:
        """Start a step in a task of its own (the loop collects it when it is done)."""
        plan = self._plan(step_id)
        task = asyncio.create_task(self.runner.steps.run(plan), name=f"step:{step_id}")
        self.running[step_id] = _Running(plan.step, plan.attempt, task)
        self.task_steps[task] = step_id
        task.add_done_callback(self._step_done)
        self.runner.progress("step_started", step_id=step_id, attempt=plan.attempt)

    async def _run_inline(self, step_id: str) -> None:
        """Run the only step that can run now by awaiting it here, not in a task: nothing
        else of the run can happen meanwhile, and a task, its callback and the loop's turns
        would cost more than a short step (``ActionRequest.inline``).

        A cancel request cancels the runner's own task while it awaits the step: the step
        sees the ``CancelledError`` as it would in a task of its own, and the step is
        recorded cancelled. A lost lease or a cancellation from outside (the process is
        stopping) goes on up, as from ``_wait_for_a_step``.
        """
        plan = self._plan(step_id, inline=True)
        assert self.main_task is not None
        self.inline = _Running(plan.step, plan.attempt, self.main_task)
        self.runner.progress("step_started", step_id=step_id, attempt=plan.attempt)
        cancelling = self.main_task.cancelling()
        try:
            outcome = await self.runner.steps.run(plan)
        except asyncio.CancelledError as exc:
            if not self.inline_cancelled or self.lease_lost:
                self._record_interrupted(step_id, plan.step, plan.attempt, "cancelled")
                raise
            outcome = _outcome_of_exception(plan.step, exc)
        except Exception as exc:
            outcome = _outcome_of_exception(plan.step, exc)
        finally:
            self.inline = None
            if self.inline_cancelled:  # our own cancellation was delivered: forget it
                self.inline_cancelled = False
                self.main_task.uncancel()
        self._settle(step_id, plan.step, plan.attempt, outcome)
        if self.main_task.cancelling() > cancelling:
            # A cancellation from outside (the process is stopping) that the step caught
            # and returned from: it still stops the run, as it would stop a wait for a task.
            raise asyncio.CancelledError

    def _collect(self, task: asyncio.Task[StepOutcome]) -> None:
        step_id = self.task_steps.pop(task)
        item = self.running.pop(step_id)
        try:
            outcome = task.result()
        except (asyncio.CancelledError, Exception) as exc:
            outcome = _outcome_of_exception(item.step, exc)
        self._settle(step_id, item.step, item.attempt, outcome)

    def _settle(self, step_id: str, step: Step, attempt: int, outcome: StepOutcome) -> None:
        """Record how a step's attempt ended (an attempt row even when the step's policies
        recorded none: it was cancelled, or a policy failed)."""
        now = self.clock()
        if not outcome.attempts:
            outcome.attempts.append(
                NewAttempt(
                    step_id, attempt, step.kind, 0, outcome.state, now, now, error=outcome.error
                )
            )
        self._record(step_id, outcome, now)

    def _record(self, step_id: str, outcome: StepOutcome, now: datetime) -> None:
        self.changes.attempts.extend(outcome.attempts)
        self.changes.events.extend(outcome.events)
        if outcome.state == "pending":
            assert outcome.next_attempt_at is not None
            self.changes.step(
                step_id,
                state="pending",
                next_attempt_at=outcome.next_attempt_at,
                error=outcome.error,
                owner=None,
                lease_expires_at=None,
            )
            self.delayed[step_id] = outcome.next_attempt_at
            self.runner.progress("step_retry", step_id=step_id, at=outcome.next_attempt_at)
            return
        values: dict[str, Any] = {
            "state": outcome.state,
            "method": outcome.method,
            "error": outcome.error,
            "finished_at": now,
            "owner": None,
            "lease_expires_at": None,
        }
        if outcome.state == "succeeded":
            values["output"] = outcome.output
            self.outputs[step_id] = outcome.output
        self.changes.step(step_id, **values)
        self.runner.progress("step_finished", step_id=step_id, state=outcome.state)
        released = self.dag.finish(step_id, outcome.state)
        if not self.cancelled:  # else the steps after it are cancelled with the run
            self._decide(released)

    async def _stop_running(self, state: str = "cancelled") -> None:
        """Cancel running steps (killing their processes) and settle every unfinished one."""
        for item in self.running.values():
            item.task.cancel()
        for step_id, item in list(self.running.items()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await item.task
            self.running.pop(step_id)
            self.task_steps.pop(item.task, None)
            if item.task in self.finished:
                self.finished.remove(item.task)
            self._record_interrupted(step_id, item.step, item.attempt, state)
        self.timed_out = state == "timed_out"

    def _record_interrupted(self, step_id: str, step: Step, attempt: int, state: str) -> None:
        """A running step stopped by the run's end (cancelled, timed out): its attempt and
        state, nothing decided after it."""
        now = self.clock()
        error = state.replace("_", " ")
        self.changes.attempts.append(
            NewAttempt(step_id, attempt, step.kind, 0, state, now, now, error=error)
        )
        self.changes.step(
            step_id, state=state, finished_at=now, owner=None, lease_expires_at=None, error=error
        )
        self.dag.states[step_id] = state

    # -- start, heartbeat, finish --------------------------------------------------------

    def _start_or_resume(self, records: dict[str, StepRecord]) -> None:
        run, now = self.run_record, self.clock()
        if run.state == "pending":
            deadline = (
                now + timedelta(seconds=self.automation.timeout)
                if (self.automation.timeout)
                else None
            )
            self.deadline = deadline
            self.changes.run.update(state="running", started_at=now, deadline_at=deadline)
            self.changes.events.append(
                self._event(
                    "run.started", "running", {"version": run.version, "owner": self.runner.owner}
                )
            )
            return
        self.deadline = run.deadline_at
        interrupted = [sid for sid, record in records.items() if record.state == "running"]
        for step_id in interrupted:
            record = records[step_id]
            step = self.dag.steps[step_id]
            self.changes.attempts.append(
                NewAttempt(
                    step_id,
                    record.attempts,
                    step.kind,
                    0,
                    "interrupted",
                    record.started_at or now,
                    now,
                    error=f"the runner holding it stopped ({record.owner})",
                )
            )
            # It runs again (at least once), unless its idempotency key has a recorded
            # result by then: _launch checks that for every step.
            self.changes.step(step_id, state="pending", owner=None, lease_expires_at=None)
            self.dag.states[step_id] = "pending"
        self.dag = Dag.build(self.automation.steps, self.dag.states)
        self.changes.run.update(state="running")
        self.changes.events.append(
            self._event(
                "run.resumed",
                "running",
                {
                    "owner": self.runner.owner,
                    "previous_owner": self.previous_owner,
                    "interrupted_steps": interrupted,
                },
            )
        )

    def _lease_lost(self) -> None:
        """The heartbeat found another runner owns the run: stop our steps, record
        nothing more."""
        self.lease_lost = True
        for item in self.running.values():
            item.task.cancel()
        if self.main_task is not None:
            self.main_task.cancel()

    def _cancel_requested(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            for item in self.running.values():
                item.task.cancel()
            if self.inline is not None:  # the runner's task is awaiting the step itself
                self.inline_cancelled = True
                self.inline.task.cancel()
            if self.wakeup is not None:
                _wake(self.wakeup)

    def _finish(self) -> RunRecord:
        run, now = self.run_record, self.clock()
        states = self.dag.states
        if self.timed_out:
            state, error = (
                "timed_out",
                f"the run exceeded its timeout of {self.automation.timeout}s",
            )
        elif self.cancelled:
            state, error = "cancelled", "cancelled"
            for step_id, step_state in states.items():
                if step_state == "pending":
                    self.changes.step(step_id, state="cancelled", finished_at=now)
        elif any(s in ("failed", "timed_out", "cancelled") for s in states.values()):
            failed = [sid for sid, s in states.items() if s in ("failed", "timed_out")]
            state, error = "failed", f"failed steps: {', '.join(failed)}"
        else:
            state, error = "succeeded", None
        self.changes.run.update(
            state=state, finished_at=now, error=error, owner=None, lease_expires_at=None
        )
        status = {
            "succeeded": "success",
            "failed": "failed",
            "cancelled": "cancelled",
            "timed_out": "failed",
        }[state]
        counts: dict[str, int] = {}
        for step_state in states.values():
            counts[step_state] = counts.get(step_state, 0) + 1
        duration = (now - (run.started_at or run.created_at)).total_seconds()
        self.changes.events.append(
            self._event(
                "run.finished",
                status,
                {
                    "state": state,
                    "error": error,
                    "steps": counts,
                    "duration_seconds": round(duration, 6),
                },
            )
        )
        self.store.apply(run.id, self.runner.owner, self.changes)
        self.changes = RunChanges()
        self.runner.progress("run_finished", run_id=run.id, state=state)
        return self.store.get(run.id)

    # -- helpers -------------------------------------------------------------------------

    def _run_locks(self) -> list[LockRequest]:
        policies = merge_policies(self.runner.defaults, self.automation)
        if not policies.concurrency:
            return []
        variables = {
            "params": self.run_record.params,
            "steps": {},
            "run": {"id": self.run_record.id, "automation": self.automation.name},
        }
        return lock_requests(policies, variables)

    def _idempotency_key(self, step: Step) -> str | None:
        if step.idempotency_key is None:
            return None
        variables = {
            "params": self.run_record.params,
            "steps": {k: {"output": v} for k, v in self.outputs.items()},
            "run": {"automation": self.automation.name},
        }
        try:
            key = render_text(step.idempotency_key, variables)
        except RenderError:
            return None
        return f"{self.automation.name}:{step.id}:{key}"[:200]

    def _event(self, event_type: str, status: str, evidence: dict[str, Any]) -> dict[str, Any]:
        return {
            "event_type": event_type,
            "project_id": self.run_record.project_id,
            "status": status,
            "run_id": self.run_record.id,
            "detected_from": "engine",
            "evidence": {"automation": self.automation.name, **evidence},
        }


def _outcome_of_exception(step: Step, exc: BaseException) -> StepOutcome:
    """How a step ended that raised instead of returning its outcome: cancelled (its
    attempt is recorded, as by ``_stop_running``), or failed by a bug in a policy (the
    step fails with the reason)."""
    if isinstance(exc, asyncio.CancelledError):
        return StepOutcome(state="cancelled", method=step.kind, error="cancelled")
    return StepOutcome(state="failed", method=step.kind, error=f"{type(exc).__name__}: {exc}")


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
