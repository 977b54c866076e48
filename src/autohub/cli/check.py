"""``autohub check``: the production-readiness gate on a tree."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from autohub.cli.context import open_writable_hub
from autohub.cli.output import note, print_json, stderr, stdout
from autohub.errors import AutohubError, ConfigError

if TYPE_CHECKING:
    from autohub.gate.report import CheckResult, GateReport

EXIT_CODES = {"GO": 0, "NO-GO": 1, "WARNING": 3}
"""How ``autohub check`` exits: 0 GO, 1 NO-GO, 3 WARNING (2: bad input or config)."""
EXIT_USAGE = 2
DETECTED_FROM = "autohub check"
SHOWN_FINDINGS = 5
SHOWN_OUTPUT_LINES = 3

_STYLE = {
    "GO": "bold green",
    "WARNING": "bold yellow",
    "NO-GO": "bold red",
    "passed": "green",
    "failed": "red",
    "missing": "yellow",
    "skipped": "dim",
}


def check_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="The tree to check.")] = Path("."),
    only: Annotated[
        list[str] | None,
        typer.Option("--only", help="Run only this check (repeatable); the others are skipped."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the production-readiness gate on PATH: tests, security, documentation,
    performance, integration, rollback. Exit 0 GO, 1 NO-GO, 3 WARNING, 2 bad input."""
    import asyncio

    from autohub.gate.report import record
    from autohub.gate.runner import chosen_checks, run_gate
    from autohub.gate.tree import resolve_tree

    checks = chosen_checks(only, "--only")
    tree = resolve_tree(path, base=Path.cwd(), label="PATH")
    try:
        hub = open_writable_hub(ctx)
    except ConfigError as exc:  # bad input, like a bad PATH: one line per problem
        for problem in exc.problems:
            stderr.print(f"[bold red]error:[/] invalid configuration: {escape(str(problem))}")
        raise typer.Exit(EXIT_USAGE) from exc
    with hub:
        waiting = (
            stderr.status(f"checking {escape(str(tree))}…")
            if stderr.is_terminal
            else contextlib.nullcontext()
        )
        with waiting:
            report = asyncio.run(run_gate(tree, hub.config.file.gate, only=checks))
        if as_json:
            print_json(report.to_dict())
        else:
            _show(report)
        try:
            event = record(hub.events, hub.project, report, detected_from=DETECTED_FROM)
        except AutohubError as exc:  # the decision stands; say what was not kept
            stderr.print(f"[bold red]error:[/] event not recorded: {escape(exc.message)}")
        else:
            if event.spooled:
                note(f"event spooled (database unavailable): uid {event.uid}")
            else:
                note(f"recorded as event {event.id}")
    raise typer.Exit(EXIT_CODES[report.decision])


def _show(report: GateReport) -> None:
    table = Table(title=f"production-readiness gate: {escape(report.path)}", title_justify="left")
    for column in ("check", "status", "details", "time"):
        table.add_column(column, no_wrap=column != "details")
    for check in report.checks:
        table.add_row(
            check.name,
            _styled(check.status),
            _details(check),
            f"{check.duration_seconds:.2f}s" if check.status != "skipped" else "",
        )
    stdout.print(table)
    stdout.print(
        f"{_styled(report.decision)}  confidence {report.confidence}/100  "
        f"[dim]{report.duration_seconds:.2f}s[/]"
    )


def _details(check: CheckResult) -> str:
    lines = [escape(check.reason)]
    evidence: dict[str, Any] = check.evidence
    for finding in evidence.get("findings", [])[:SHOWN_FINDINGS]:
        lines.append(escape(f"{finding['file']}:{finding['line']} {finding['type']}"))
    more = evidence.get("findings_total", 0) - SHOWN_FINDINGS
    if more > 0:
        lines.append(f"… {more} more (--json lists up to 100)")
    if check.status == "failed" and evidence.get("output_tail"):
        said = [line for line in str(evidence["output_tail"]).splitlines() if not _rule(line)]
        lines += [f"[dim]{escape(line)}[/]" for line in said[-SHOWN_OUTPUT_LINES:]]
    return "\n".join(lines)


def _rule(line: str) -> bool:
    """A separator such as pytest's ``==== short test summary info ====``."""
    return line.startswith(("===", "___", "---"))


def _styled(text: str) -> str:
    return f"[{_STYLE.get(text, 'white')}]{text}[/]"
