"""The definition models: an Automation is params, triggers, a DAG of steps and policies."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, model_validator

from autohub.registry.actions import ActionChoice
from autohub.registry.params import Param
from autohub.registry.policies import BreakerPolicy, Policies, merge_policies
from autohub.registry.templates import check_template
from autohub.registry.triggers import (
    CronTrigger,
    EventTrigger,
    ManualTrigger,
    Trigger,
    WebhookTrigger,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
GRAPH_CHECKED_BY_CALLER = "graph_checked_by_caller"


def _manual_only() -> list[Trigger]:
    return [ManualTrigger()]


class Step(ActionChoice, Policies):
    """One action inside an automation; ``needs`` orders steps into a DAG.

    ``run_if`` says when a step runs once its needs are done: ``success`` (all of them
    succeeded, the default), ``failure`` (one of them failed: a rollback or alert) or
    ``always`` (a cleanup).
    """

    id: str = Field(pattern=NAME_PATTERN, max_length=100)
    description: str = ""
    needs: list[str] = Field(default_factory=list)
    run_if: Literal["success", "failure", "always"] = "success"
    idempotency_key: str | None = None

    @model_validator(mode="after")
    def _templates(self) -> Step:
        if self.idempotency_key is not None:
            check_template(self.idempotency_key)
        return self


class Automation(Policies):
    """A named, versioned definition owned by a project."""

    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    description: str = ""
    project: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    tags: list[str] = Field(default_factory=list)
    params: dict[str, Param] = Field(default_factory=dict)
    triggers: list[Trigger] = Field(default_factory=_manual_only)
    max_parallel: int = Field(default=4, ge=1, le=1000)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _graph(self, info: ValidationInfo) -> Automation:
        if isinstance(info.context, dict) and info.context.get(GRAPH_CHECKED_BY_CALLER):
            return self  # the loader checks the graph itself, to locate each problem
        problems = step_graph_problems(self.steps)
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        return self

    @model_validator(mode="after")
    def _trigger_params(self) -> Automation:
        """A cron trigger's params must validate (it fires unattended); a webhook's or an
        event trigger's mapping may only fill declared params."""
        from autohub.errors import InvalidInput
        from autohub.registry.params import validate_params

        problems = []
        for index, trigger in enumerate(self.triggers):
            if isinstance(trigger, CronTrigger):
                try:
                    validate_params(self.params, trigger.params)
                except InvalidInput as exc:
                    problems.append(f"triggers[{index}].params: {exc.message}")
            elif isinstance(trigger, WebhookTrigger | EventTrigger):
                unknown = sorted(set(trigger.params) - set(self.params))
                if unknown:
                    known = ", ".join(self.params) or "none"
                    problems.append(
                        f"triggers[{index}].params: unknown param {', '.join(unknown)} "
                        f"(known: {known})"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def step(self, step_id: str) -> Step:
        return next(step for step in self.steps if step.id == step_id)

    def content(self) -> dict[str, Any]:
        """The normalised content: every default applied, in a stable JSON form."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data

    def canonical_text(self) -> str:
        """``canonical_json(self.content())``, the very same text, with the steps dumped
        a hundred at a time: the content of a large automation is never held whole (a
        1,000-step one's is 3.4 MB of dicts for 325 kB of text)."""
        head = self.model_dump(mode="json", by_alias=True, exclude={"steps"})
        head["steps"] = None
        members = []
        for key in sorted(head):
            if key == "steps":
                chunks = (
                    canonical_json(_dump_steps(self.steps[start : start + STEPS_PER_DUMP]))
                    for start in range(0, len(self.steps), STEPS_PER_DUMP)
                )  # each "[...]": their insides joined make the list's
                value = "[" + ",".join(chunk[1:-1] for chunk in chunks) + "]"
            else:
                value = canonical_json(head[key])
            members.append(f"{json.dumps(key)}:{value}")
        return "{" + ",".join(members) + "}"

    @property
    def version(self) -> str:
        """A hash of the normalised content: equal definitions have equal versions."""
        return text_version(self.canonical_text())


STEPS_PER_DUMP = 100


def _dump_steps(steps: list[Step]) -> list[Any]:
    """``steps`` as ``Automation.content`` dumps them (one adapter call for many: a call
    per step costs two thirds more)."""
    dumped: list[Any] = _STEP_LIST.dump_python(steps, mode="json", by_alias=True)
    return dumped


_STEP_LIST: TypeAdapter[list[Step]] = TypeAdapter(list[Step])


def canonical_json(content: Any) -> str:
    """An automation's normalised content as the text its version hashes: keys sorted,
    no spaces, ASCII."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def text_version(canonical: str) -> str:
    """The version of a content's ``canonical_json``."""
    return hashlib.sha256(canonical.encode()).hexdigest()


GraphProblem = tuple[tuple[str | int, ...], str]
"""A key path inside the automation (e.g. ``("steps", 2, "needs", 0)``) and a message."""


def step_graph_problems(steps: list[Step]) -> list[GraphProblem]:
    """Duplicate ids, unknown ``needs`` and cycles, each located and described."""
    problems: list[GraphProblem] = []
    seen: set[str] = set()
    for index, step in enumerate(steps):
        if step.id in seen:
            problems.append((("steps", index, "id"), f"duplicate step id {step.id!r}"))
        seen.add(step.id)
    for index, step in enumerate(steps):
        for position, need in enumerate(step.needs):
            where = ("steps", index, "needs", position)
            if need not in seen:
                problems.append((where, f"step {step.id!r} needs unknown step {need!r}"))
            elif need == step.id:
                problems.append((where, f"step {step.id!r} needs itself"))
    if not problems:
        cycle = find_cycle({step.id: step.needs for step in steps})
        if cycle:
            index = next(i for i, step in enumerate(steps) if step.id == cycle[0])
            problems.append(
                (("steps", index, "needs"), "steps form a cycle: " + " -> ".join(cycle))
            )
    return problems


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """One cycle in ``graph`` (node -> needs) as a path that ends where it starts."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for need in graph.get(node, []):
            cycle = visit(need)
            if cycle:
                return cycle
        visiting.pop()
        done.add(node)
        return None

    for node in graph:
        cycle = visit(node)
        if cycle:
            return cycle
    return None


class ProjectDefaults(Policies):
    """The ``defaults:`` section: project-wide policy defaults."""


def effective_policies(defaults: Policies, automation: Automation, step: Step) -> Policies:
    """The policies a step runs under: its own, else its automation's, else the project's."""
    return merge_policies(defaults, automation, step)


BreakerTable = dict[str, BreakerPolicy]
