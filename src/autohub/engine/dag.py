"""The step DAG of a run: which steps are ready, which can never run, in O(edges)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from autohub.registry.models import Step

DONE_OK = frozenset({"succeeded"})
DONE_BAD = frozenset({"failed", "timed_out", "cancelled", "skipped"})


@dataclass
class Dag:
    """Tracks step states and hands out steps whose needs are done, in definition order."""

    steps: dict[str, Step]
    order: dict[str, int]
    states: dict[str, str]
    dependents: dict[str, list[str]] = field(default_factory=dict)
    waiting_on: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, steps: Iterable[Step], states: dict[str, str]) -> Dag:
        ordered = list(steps)
        dag = cls({s.id: s for s in ordered}, {s.id: i for i, s in enumerate(ordered)}, states)
        for step in ordered:
            dag.dependents.setdefault(step.id, [])
            for need in step.needs:
                dag.dependents.setdefault(need, []).append(step.id)
            dag.waiting_on[step.id] = sum(1 for need in step.needs if not dag.is_done(need))
        return dag

    def is_done(self, step_id: str) -> bool:
        state = self.states[step_id]
        return state in DONE_OK or state in DONE_BAD

    def initially_ready(self) -> list[str]:
        """Pending steps whose needs are all done (after a resume, some may be)."""
        return sorted(
            (sid for sid, n in self.waiting_on.items() if n == 0 and self.states[sid] == "pending"),
            key=self.order.__getitem__,
        )

    def should_run(self, step_id: str) -> bool:
        """Given that every need is done, whether ``run_if`` lets the step run."""
        step = self.steps[step_id]
        needs = [self.states[need] for need in step.needs]
        if step.run_if == "always":
            return True
        failed = any(state in ("failed", "timed_out") for state in needs)
        if step.run_if == "failure":
            return failed
        return all(state in DONE_OK for state in needs)

    def finish(self, step_id: str, state: str) -> list[str]:
        """Record a final state; returns the dependents that became ready to decide."""
        self.states[step_id] = state
        released = []
        for dependent in self.dependents.get(step_id, []):
            self.waiting_on[dependent] -= 1
            if self.waiting_on[dependent] == 0 and self.states[dependent] == "pending":
                released.append(dependent)
        return sorted(released, key=self.order.__getitem__)
