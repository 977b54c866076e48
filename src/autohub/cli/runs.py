"""``autohub run | runs | run-show | cancel | resume``: executing automations."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from autohub.cli.context import open_ready_hub
from autohub.cli.output import note, print_json, stdout, when
from autohub.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from autohub.hub import Hub
    from autohub.store.runs import AttemptRecord, RunRecord, StepRecord

EXIT_CODES = {"succeeded": 0, "failed": 1, "timed_out": 3, "cancelled": 4}
"""How ``autohub run`` exits: 0 succeeded, 1 failed, 3 timed out, 4 cancelled (2: bad input)."""

_STATE_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "pending": "blue",
    "skipped": "dim",
    "interrupted": "magenta",
}


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"-p {pair!r}: expected key=value")
        params[key.strip()] = value
    return params


def run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The automation to run.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A param as key=value (repeatable).")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="The same key returns the same run."),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Start in the background and print the run id.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the finished run as JSON.")
    ] = False,
) -> None:
    """Run an automation, showing its steps live; the exit code is the run's outcome
    (0 succeeded, 1 failed, 3 timed out, 4 cancelled)."""
    params = parse_params(param or [])
    with open_ready_hub(ctx) as hub:
        run, created = hub.start(name, params, trigger="cli", idempotency_key=idempotency_key)
        if not created:  # on stderr: stdout stays the run (JSON with --json)
            note(f"idempotency key {idempotency_key or ''} already used: run {run.id}")
        if detach and not run.finished:
            _detach(ctx, run.id, hub.config.state_dir)
            stdout.print(run.id)
            return
        if not run.finished and as_json:  # stdout is the JSON alone: no progress lines
            run = hub.execute(run.id)
        elif not run.finished:
            view = _LiveView(run)
            with view:
                run = hub.execute(run.id, on_progress=view.update)
        if as_json:
            print_json(
                _run_json(hub.runs.get(run.id), hub.runs.steps(run.id), hub.runs.attempts(run.id))
            )
        else:
            _show_run(run, hub.runs.steps(run.id), hub.runs.attempts(run.id))
        raise typer.Exit(EXIT_CODES.get(run.state, 1))


def runs_command(
    ctx: typer.Context,
    automation: Annotated[str | None, typer.Option("--automation", "-a")] = None,
    state: Annotated[list[str] | None, typer.Option("--state", "-s")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List runs, newest first."""
    if not 1 <= limit <= 1000:
        raise InvalidInput(f"--limit: must be between 1 and 1000, got {limit}")
    with open_ready_hub(ctx) as hub:
        runs = hub.runs.list_runs(automation=automation, states=state or (), limit=limit)
        if as_json:
            print_json([run.to_dict() for run in runs])
            return
        if not runs:
            stdout.print("no runs")
            return
        table = Table(title=f"{len(runs)} runs, newest first", title_justify="left")
        for column in ("id", "automation", "state", "trigger", "created", "duration"):
            table.add_column(column, no_wrap=column in ("id", "state"))
        for run in runs:
            table.add_row(
                run.id[:12],
                escape(run.automation),
                _state(run.state),
                escape(run.trigger),
                when(run.created_at),
                _duration(run),
            )
        stdout.print(table)


def run_show_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id (or its first 6+ characters).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a run: its steps as a tree with every attempt."""
    with open_ready_hub(ctx) as hub:
        run = _find(hub, run_id)
        steps, attempts = hub.runs.steps(run.id), hub.runs.attempts(run.id)
        if as_json:
            print_json(_run_json(run, steps, attempts))
            return
        _show_run(run, steps, attempts)


def cancel_command(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(help="A run id (or its first 6+ characters).")],
    wait: Annotated[float, typer.Option("--wait", help="Seconds to wait for the end.")] = 10.0,
) -> None:
    """Cancel a run: its running steps are stopped (subprocesses killed)."""
    with open_ready_hub(ctx) as hub:
        run = hub.cancel(_find(hub, run_id).id)
        deadline = time.monotonic() + wait
        while not run.finished and time.monotonic() < deadline:
            time.sleep(0.2)
            run = hub.runs.get(run.id)
        if run.finished:
            stdout.print(f"run {run.id}: {run.state}")
        else:
            stdout.print(f"run {run.id}: cancellation requested (its runner will stop it)")


def resume_command(
    ctx: typer.Context,
    run_id: Annotated[str | None, typer.Argument(help="One run; default: every orphan.")] = None,
) -> None:
    """Resume unfinished runs whose runner stopped (crash, kill -9): completed steps are
    kept, the step that was in flight runs again."""
    with open_ready_hub(ctx) as hub:
        targets = [_find(hub, run_id)] if run_id else hub.runs.orphans()
        if not targets:
            stdout.print("nothing to resume")
            return
        worst = 0
        for run in targets:
            finished = hub.execute(run.id)
            stdout.print(
                f"run {finished.id} ({escape(finished.automation)}): {_state(finished.state)}"
            )
            worst = max(worst, EXIT_CODES.get(finished.state, 1))
        raise typer.Exit(worst)


def _find(hub: Hub, run_id: str) -> RunRecord:
    """The run of an id given on the command line; an unknown id is bad input (exit 2)."""
    try:
        return hub.runs.find(run_id)
    except NotFound as exc:
        raise InvalidInput(exc.message) from exc


def _detach(ctx: typer.Context, run_id: str, state_dir: Any) -> None:
    log_dir = state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    config = (ctx.obj or {}).get("config")
    command = [sys.executable, "-m", "autohub"]
    if config is not None:
        command += ["--config", str(config)]
    command += ["resume", run_id]
    with open(log_dir / f"{run_id}.log", "ab") as log:
        subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )


class _LiveView:
    """Steps, attempts and timings as they change: a live table on a terminal, lines else."""

    def __init__(self, run: RunRecord) -> None:
        self.run = run
        self.rows: dict[str, dict[str, Any]] = {}
        self.live: Any = None

    def __enter__(self) -> _LiveView:
        if stdout.is_terminal:
            from rich.live import Live

            self.live = Live(self._table(), console=stdout, refresh_per_second=8, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def update(self, kind: str, data: dict[str, Any]) -> None:
        step_id = data.get("step_id")
        now = time.monotonic()
        if step_id is not None:
            row = self.rows.setdefault(step_id, {"state": "pending", "attempt": 0, "since": now})
            if kind == "step_started":
                row.update(state="running", attempt=data.get("attempt", 1), since=now)
            elif kind == "step_finished":
                row.pop("note", None)
                row.update(state=data.get("state"), took=now - row["since"])
            elif kind == "step_retry":
                row.update(state="pending", note=f"retry at {when(data.get('at'))}")
            elif kind == "step_skipped":
                row.update(state="skipped")
        if self.live is not None:
            self.live.update(self._table())
        elif step_id is not None and kind != "step_started":
            row = self.rows[step_id]
            stdout.print(
                f"  {escape(step_id)}: {_state(row['state'])} "
                f"(attempt {row['attempt']}){' ' + row['note'] if 'note' in row else ''}"
            )

    def _table(self) -> Table:
        table = Table(
            title=f"run {self.run.id[:12]} {escape(self.run.automation)}", title_justify="left"
        )
        for column in ("step", "state", "attempt", "time"):
            table.add_column(column)
        now = time.monotonic()
        for step_id, row in self.rows.items():
            took = row.get("took", now - row["since"])
            table.add_row(
                escape(step_id), _state(row["state"]), str(row["attempt"]), f"{took:.2f}s"
            )
        return table


def _show_run(run: RunRecord, steps: list[StepRecord], attempts: list[AttemptRecord]) -> None:
    stdout.print(
        f"run [bold]{run.id}[/] {escape(run.automation)} {_state(run.state)}  "
        f"[dim]version {run.version[:12]} trigger {escape(run.trigger)} "
        f"{when(run.created_at)} {_duration(run)}[/]"
    )
    if run.params:
        stdout.print(f"params: {escape(str(run.params))}")
    if run.error:
        stdout.print(f"[red]{escape(run.error)}[/]")
    tree = Tree("steps")
    by_step: dict[str, list[AttemptRecord]] = {}
    for attempt in attempts:
        by_step.setdefault(attempt.step_id, []).append(attempt)
    for step in steps:
        branch = tree.add(
            f"[bold]{escape(step.step_id)}[/] {_state(step.state)}"
            + (f" [dim]via {escape(step.method)}[/]" if step.method else "")
        )
        for attempt in by_step.get(step.step_id, []):
            error = f" {escape(attempt.error)}" if attempt.error else ""
            tier = f" tier {attempt.tier}" if attempt.tier else ""
            branch.add(
                f"attempt {attempt.number}{tier} {escape(attempt.method)} "
                f"{_state(attempt.outcome)} {attempt.duration_seconds:.3f}s{error}"
            )
    stdout.print(tree)


def _run_json(
    run: RunRecord, steps: list[StepRecord], attempts: list[AttemptRecord]
) -> dict[str, Any]:
    return {
        **run.to_dict(),
        "steps": [step.to_dict() for step in steps],
        "attempts": [attempt.to_dict() for attempt in attempts],
    }


def _state(state: str) -> str:
    return f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]"


def _duration(run: RunRecord) -> str:
    if run.started_at is None:
        return ""
    end = run.finished_at or run.lease_expires_at or run.started_at
    return f"{(end - run.started_at).total_seconds():.2f}s"
