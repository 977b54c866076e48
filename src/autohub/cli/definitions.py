"""``autohub validate | list | show``: the registry, the single source of truth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeGuard

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from autohub.cli.context import open_hub, require_schema
from autohub.cli.output import note, print_json, stdout, when
from autohub.errors import ConfigError, MigrationRequired, Problem, ProblemsError, StoreError

if TYPE_CHECKING:  # imported when a command runs, so `autohub --help` stays light
    from autohub.hub import Hub
    from autohub.registry.loader import Definition, Registry
    from autohub.registry.models import Automation, Step
    from autohub.registry.triggers import CronTrigger

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def validate_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Validate autohub.yaml and every definition; exit 1 listing all problems."""
    try:
        with open_hub(ctx, strict=False) as hub:
            _require_config(hub)
            registry = _registry_with_config_problems(hub)
    except ProblemsError as error:
        if as_json:
            print_json({"valid": False, "problems": [p.__dict__ for p in error.problems]})
            raise typer.Exit(1) from error
        raise
    if as_json:
        print_json({"valid": True, "automations": [d.name for d in registry]})
        return
    count = len(registry)
    stdout.print(f"[green]✓[/] {hub.config.path}: {count} automation{'s' * (count != 1)} valid")
    for definition in registry:
        stdout.print(
            f"  {definition.name}  [dim]{definition.version[:12]}  {escape(definition.source)}[/]"
        )


def _registry_with_config_problems(hub: Hub) -> Registry:
    """The registry, or one error listing autohub.yaml's problems and the definitions'."""
    from autohub.errors import DefinitionError

    problems = list(hub.config.problems)
    try:
        registry = hub.registry
    except DefinitionError as error:
        problems += error.problems
    if not problems:
        return registry
    if not hub.config.problems:
        raise DefinitionError(problems)
    if len(problems) == len(hub.config.problems):
        raise ConfigError(problems)
    raise DefinitionError(problems, summary="Invalid configuration and definitions")


def list_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the automations with their version, triggers and next cron firing."""
    with open_hub(ctx) as hub:
        _require_config(hub)
        registry = hub.registry
        _record_versions(hub)
        now = datetime.now(UTC)
        if as_json:
            print_json(
                [
                    {
                        "name": d.name,
                        "version": d.version,
                        "project": d.automation.project,
                        "description": d.automation.description,
                        "triggers": [t.type for t in d.automation.triggers],
                        "next_fire_at": _iso(next_fire(d.automation, now)),
                        "steps": len(d.automation.steps),
                        "source": d.source,
                    }
                    for d in registry
                ]
            )
            return
        table = Table(title=f"automations of {hub.project}", title_justify="left")
        # Names and versions are never cut (in an 80-column pipe too): the other
        # columns wrap instead.
        longest = max((len(d.name) for d in registry), default=4)
        table.add_column("name", no_wrap=True, min_width=longest)
        table.add_column("version", no_wrap=True, min_width=12)
        table.add_column("steps", justify="right", no_wrap=True)
        table.add_column("triggers", min_width=6)
        table.add_column("next run", min_width=10)
        table.add_column("description", max_width=50)
        for definition in registry:
            automation = definition.automation
            table.add_row(
                definition.name,
                definition.version[:12],
                str(len(automation.steps)),
                escape(", ".join(_trigger_text(t) for t in automation.triggers)),
                when(next_fire(automation, now)),
                escape(automation.description),
            )
        stdout.print(table)


def show_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The automation to show.")],
    as_json: JsonOption = False,
) -> None:
    """Show one automation: params, triggers, the step DAG and effective policies."""
    with open_hub(ctx) as hub:
        _require_config(hub)
        definition = hub.registry.get(name)
        _record_versions(hub)
        history = _history(hub, name)
        automation = definition.automation
        if as_json:
            print_json(
                {
                    "name": definition.name,
                    "version": definition.version,
                    "source": definition.source,
                    "definition": automation.content(),
                    "versions": [
                        {
                            "version": v.version,
                            "first_seen_at": _iso(v.first_seen_at),
                            "last_seen_at": _iso(v.last_seen_at),
                        }
                        for v in history
                    ],
                }
            )
            return
        _show(hub, definition, history)


def _show(hub: Hub, definition: Definition, history: list[Any]) -> None:
    automation = definition.automation
    stdout.print(f"[bold]{automation.name}[/]  [dim]version {definition.version[:12]}[/]")
    if automation.description:
        stdout.print(escape(automation.description))
    stdout.print(f"project: {automation.project}   source: {escape(definition.source)}")
    if automation.params:
        table = Table(
            "param", "type", "default", "required", "choices", title="params", title_justify="left"
        )
        for param_name, param in automation.params.items():
            table.add_row(
                escape(param_name),
                param.type,
                "" if param.default is None else escape(repr(param.default)),
                "yes" if param.required else "",
                escape(", ".join(map(str, param.enum or []))),
            )
        stdout.print(table)
    now = datetime.now(UTC)
    triggers = [
        _trigger_text(t) + (f" (next {when(next_fire(automation, now))})" if _is_cron(t) else "")
        for t in automation.triggers
    ]
    stdout.print("triggers: " + escape(", ".join(triggers)))
    tree = Tree("steps")
    for step in automation.steps:
        branch = tree.add(_step_text(step))
        policies = hub.registry.policies(automation, step)
        for line in _policy_lines(policies.model_dump()):
            branch.add(f"[dim]{escape(line)}[/]")
    stdout.print(tree, soft_wrap=False)
    if history:
        stdout.print(
            "versions: "
            + ", ".join(f"{v.version[:12]} (first seen {when(v.first_seen_at)})" for v in history)
        )


def _step_text(step: Step) -> str:
    action = step.action.model_dump(exclude_defaults=True, by_alias=True)
    needs = f" [dim]needs {', '.join(step.needs)}[/]" if step.needs else ""
    run_if = f" [dim]if {step.run_if}[/]" if step.run_if != "success" else ""
    return f"[bold]{step.id}[/] {step.kind} {escape(str(action))}{needs}{run_if}"


def _policy_lines(policies: dict[str, Any]) -> list[str]:
    from autohub.units import format_duration

    lines = []
    if policies["timeout"] is not None:
        lines.append(f"timeout {format_duration(policies['timeout'])}")
    retry = policies["retry"]
    if retry and retry["attempts"] > 1:
        backoff = retry["backoff"]
        lines.append(
            f"retry {retry['attempts']} attempts, backoff {format_duration(backoff['initial'])}"
            f" x{backoff['factor']:g} up to {format_duration(backoff['max'])}"
        )
    if policies["breaker"]:
        lines.append(f"breaker {policies['breaker']}")
    for tier in policies["fallback"]:
        kind = next(k for k, v in tier.items() if v is not None and k not in ("name", "timeout"))
        timeout = f" within {format_duration(tier['timeout'])}" if tier["timeout"] else ""
        lines.append(f"fallback {tier['name'] or kind} ({kind}){timeout}")
    for lock in policies["concurrency"]:
        lines.append(f"concurrency {lock['key']} limit {lock['limit']}")
    if policies["limits"]:
        limits = {k: v for k, v in policies["limits"].items() if v is not None}
        lines.append(f"limits {limits}")
    return lines


def _trigger_text(trigger: Any) -> str:
    if _is_cron(trigger):
        return f"cron '{trigger.schedule}' {trigger.timezone}"
    if getattr(trigger, "type", None) == "event":
        statuses = f" [{', '.join(trigger.status)}]" if trigger.status else ""
        return f"event {trigger.event_type}{statuses}"
    return str(trigger.type)


def next_fire(automation: Automation, now: datetime) -> datetime | None:
    """The next cron firing of any of the automation's cron triggers, in its timezone."""
    from zoneinfo import ZoneInfo

    times = [
        t.next_after(now).astimezone(ZoneInfo(t.timezone))
        for t in automation.triggers
        if _is_cron(t)
    ]
    return min(times) if times else None


def _is_cron(trigger: Any) -> TypeGuard[CronTrigger]:
    return getattr(trigger, "type", None) == "cron"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _require_config(hub: Hub) -> None:
    if hub.config.path is None:
        problem = Problem(
            str(hub.config.root),
            None,
            None,
            "no autohub.yaml here or in a parent directory; run `autohub init` to create one",
        )
        raise ConfigError([problem], summary="no project found")


def _record_versions(hub: Hub) -> None:
    """Record definition versions when the store is ready; say so when it is not."""
    try:
        require_schema(hub)
        new = hub.record_definitions()
    except MigrationRequired as error:
        note(f"versions not recorded: {error.message}")
        return
    except StoreError as error:
        note(f"versions not recorded: {error.message}")
        return
    if new:
        note(f"new versions recorded: {', '.join(new)}")


def _history(hub: Hub, name: str) -> list[Any]:
    try:
        return hub.definitions.history(name)
    except StoreError:
        return []
