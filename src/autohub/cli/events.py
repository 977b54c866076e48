"""``autohub events``: query, follow, record and resolve the audit trail."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from autohub.cli.context import open_ready_hub, open_writable_hub
from autohub.cli.output import note, print_json, short_json, stdout, when
from autohub.errors import InvalidInput

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported when a command runs, not for --help
    from autohub.store.events import Event, EventFilter, EventStore

app = typer.Typer(help="Query and record events: the one audit trail.")

_RELATIVE = re.compile(r"^\d+(\.\d+)?(ms|s|m|h|d)$")


def parse_time(text: str, option: str) -> datetime:
    """``2h`` (that long ago), or an ISO 8601 time (UTC unless it says otherwise)."""
    from autohub.units import parse_duration

    if _RELATIVE.match(text.strip()):
        return datetime.now(UTC) - timedelta(seconds=parse_duration(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(
            f"{option}: {text!r} is neither a duration (30m, 2h, 7d) nor an ISO time"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_statuses(statuses: list[str] | None, option: str) -> tuple[str, ...]:
    """The statuses given with ``option``; an unknown one is an error naming the option."""
    from autohub.store.events import EVENT_STATUSES

    for status in statuses or ():
        if status not in EVENT_STATUSES:
            raise InvalidInput(f"{option}: {status!r} is not one of {', '.join(EVENT_STATUSES)}")
    return tuple(statuses or ())


@app.callback(invoke_without_command=True)
def events_command(
    ctx: typer.Context,
    event_type: Annotated[
        list[str] | None, typer.Option("--type", "-t", help="Event type (repeatable).")
    ] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="Status (repeatable).")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", "-p", help="Project id.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Run id.")] = None,
    correlation: Annotated[
        str | None, typer.Option("--correlation", help="Correlation id.")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="2h, 7d or an ISO time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="2h, 7d or an ISO time.")] = None,
    unresolved: Annotated[
        bool, typer.Option("--unresolved", help="Only unresolved events.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Events per page (1-1000).")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue after a page.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events.")
    ] = False,
    interval: Annotated[
        str, typer.Option("--interval", help="Polling interval with --follow.")
    ] = "1s",
) -> None:
    """List events, newest first (with --follow, oldest first as they arrive)."""
    if ctx.invoked_subcommand is not None:
        return
    from autohub.store.events import EventFilter

    seconds = parse_duration_option(interval, "--interval") if follow else 1.0
    where = EventFilter(
        event_types=tuple(event_type or ()),
        statuses=check_statuses(status, "--status"),
        project_id=project,
        run_id=run,
        correlation_id=correlation,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
        unresolved=unresolved,
    )
    with open_ready_hub(ctx) as hub:
        store = hub.events
        # The newest id before the backlog is read: an event recorded in between is
        # printed by the first poll instead of being lost.
        last_id = store.last_id() if follow else 0
        page = store.query(where, limit=limit, cursor=cursor)
        if follow:
            _follow(store, where, list(reversed(page.events)), as_json, seconds, last_id)
            return
        if as_json:
            print_json(
                {"events": [e.to_dict() for e in page.events], "next_cursor": page.next_cursor}
            )
            return
        _table(page.events)
        if page.next_cursor:
            stdout.print(f"[dim]more: --cursor {page.next_cursor}[/]")


def parse_duration_option(text: str, option: str) -> float:
    from autohub.units import parse_duration

    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise InvalidInput(f"{option}: {exc}") from exc
    if seconds <= 0:
        raise InvalidInput(f"{option}: must be positive, got {text!r}")
    return seconds


def _follow(
    store: EventStore,
    where: EventFilter,
    backlog: list[Event],
    as_json: bool,
    interval: float,
    last_id: int,
) -> None:
    last_id = max([last_id, *(e.id or 0 for e in backlog)])
    for event in backlog:
        _print_line(event, as_json)
    try:
        while True:
            for event in store.since_id(where, last_id):
                _print_line(event, as_json)
                last_id = max(last_id, event.id or 0)
            time.sleep(interval)
    except KeyboardInterrupt:
        return


def _print_line(event: Event, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(event.to_dict(), ensure_ascii=False, default=str))
        return
    stdout.print(
        f"{event.id:>8}  {when(event.created_at)}  {_status(event.status)}  "
        f"{event.event_type}  [dim]{escape(event.project_id)}[/]  "
        f"{escape(short_json(event.evidence, 80))}"
    )


_STATUS_STYLE = {
    "success": "green",
    "failed": "red",
    "warning": "yellow",
    "pending_review": "magenta",
    "running": "cyan",
    "pending": "blue",
    "cancelled": "dim",
    "skipped": "dim",
}


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"


def _table(events: list[Event]) -> None:
    """Aligned columns, one event a line; long values are cut, never wrapped."""
    if not events:
        stdout.print("no events match")
        return
    noun = "event" if len(events) == 1 else "events"
    stdout.print(f"{len(events)} {noun}, newest first")
    rows = [
        [
            str(event.id),
            event.created_at.astimezone().strftime("%m-%d %H:%M:%S"),
            event.status + (" ✓" if event.resolved_at else ""),
            event.event_type,
            event.project_id,
            (event.run_id or "-")[:12],
            event.detected_from or "-",
        ]
        for event in events
    ]
    headers = ["id", "time", "status", "type", "project", "run", "from"]
    caps = [12, 14, 16, 28, 16, 12, 12]
    widths = [
        min(cap, max(len(header), *(len(row[i]) for row in rows)))
        for i, (header, cap) in enumerate(zip(headers, caps, strict=True))
    ]
    used = sum(widths) + 2 * len(widths)
    evidence_width = max(20, stdout.width - used)

    def line(cells: list[str]) -> str:
        parts = []
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            text = cell if len(cell) <= width else cell[: width - 1] + "…"
            parts.append(text.rjust(width) if index == 0 else text.ljust(width))
        return "  ".join(parts)

    stdout.print(escape(line(headers) + "  evidence"), style="bold")
    for event, row in zip(events, rows, strict=True):
        text = escape(line(row))
        status = escape(row[2].ljust(widths[2]))
        styled = text.replace(status, _status(status), 1)
        stdout.print(f"{styled}  {escape(short_json(event.evidence, evidence_width))}")


def _json_option(text: str | None, option: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{option}: not JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(value, dict):
        raise InvalidInput(f"{option}: expected a JSON object, got {type(value).__name__}")
    return value


@app.command("record")
def record_command(
    ctx: typer.Context,
    event_type: Annotated[
        str, typer.Option("--type", "-t", help="Event type, e.g. deploy_finished.")
    ],
    status: Annotated[str, typer.Option("--status", "-s", help="Event status.")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Default: the config's.")
    ] = None,
    evidence: Annotated[str | None, typer.Option("--evidence", help="A JSON object.")] = None,
    metadata: Annotated[str | None, typer.Option("--metadata", help="A JSON object.")] = None,
    detected_from: Annotated[str | None, typer.Option("--from", help="What detected it.")] = "cli",
    run: Annotated[str | None, typer.Option("--run", help="Run id.")] = None,
    correlation: Annotated[
        str | None, typer.Option("--correlation", help="Correlation id.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Record an event (from a script, a hook or by hand)."""
    check_statuses([status], "--status")
    evidence_value = _json_option(evidence, "--evidence")
    metadata_value = _json_option(metadata, "--metadata")
    with open_writable_hub(ctx) as hub:
        event = hub.events.record(
            event_type,
            project or hub.project,
            status,
            evidence=evidence_value,
            metadata=metadata_value,
            detected_from=detected_from,
            run_id=run,
            correlation_id=correlation,
        )
        if as_json:
            print_json(event.to_dict())
        elif event.spooled:
            stdout.print(f"event spooled (database unavailable): uid {event.uid}")
        else:
            stdout.print(f"event {event.id} recorded")


@app.command("resolve")
def resolve_command(
    ctx: typer.Context,
    event_id: Annotated[int, typer.Argument(help="The event to mark resolved.")],
) -> None:
    """Mark an event resolved."""
    with open_ready_hub(ctx) as hub:
        event = hub.events.resolve(event_id)
        stdout.print(f"event {event.id} resolved at {when(event.resolved_at)}")


@app.command("timeline")
def timeline_command(
    ctx: typer.Context,
    project: Annotated[str | None, typer.Argument(help="Default: the config's project.")] = None,
    hours: Annotated[float, typer.Option("--hours", help="How far back.")] = 24,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A project's events over the last N hours, oldest first."""
    with open_ready_hub(ctx) as hub:
        events = hub.events.timeline(project or hub.project, hours, limit=limit + 1)
        _print_series(events, limit, as_json, "narrow it with --hours")


@app.command("correlate")
def correlate_command(
    ctx: typer.Context,
    event_id: Annotated[int | None, typer.Option("--event", help="An event id.")] = None,
    run: Annotated[str | None, typer.Option("--run", help="A run id.")] = None,
    correlation: Annotated[
        str | None, typer.Option("--correlation", help="A correlation id.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 10_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everything sharing a run or correlation id (or an event's), in order."""
    with open_ready_hub(ctx) as hub:
        events = hub.events.correlate(
            event_id=event_id, run_id=run, correlation_id=correlation, limit=limit + 1
        )
        _print_series(events, limit, as_json, "page through them with `autohub events --run`")


def _print_series(events: list[Event], limit: int, as_json: bool, how: str) -> None:
    """Events oldest first; when there are more than ``limit``, the first ``limit`` and a
    note on stderr saying so (never a silent cut)."""
    more = len(events) > limit
    events = events[:limit]
    if as_json:
        print_json([e.to_dict() for e in events])
    else:
        for event in events:
            _print_line(event, False)
    if more:
        note(f"only the first {limit:,} events are shown; there are more ({how})")
