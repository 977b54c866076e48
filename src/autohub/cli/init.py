"""``autohub init``: create an example project, its store, and show what was done."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from autohub.cli.output import stdout
from autohub.errors import InvalidInput, StoreError


def init_command(
    directory: Annotated[Path, typer.Argument(help="Where to create the project.")] = Path("."),
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", help="Project id (default: the directory name)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the example files.")] = False,
) -> None:
    """Create an example project (backup with verification, deploy with health check and
    rollback, a Python-declared automation), initialise its store and record its versions."""
    from autohub.hub import Hub
    from autohub.scaffold import scaffold
    from autohub.store import migrations

    root = directory.resolve()
    name = project or re.sub(r"[^A-Za-z0-9_.-]+", "-", root.name).strip("-.") or "example"
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
        raise InvalidInput(f"--project: {name!r} is not a valid project id (letters, digits, _.-)")
    result = scaffold(root, name, force=force)
    stdout.print(f"[bold]project {name}[/] in {escape(str(root))}")
    for path in result.created:
        stdout.print(f"  [green]created[/] {path.relative_to(root)}")
    for path in result.kept:
        stdout.print(f"  [yellow]kept[/]    {path.relative_to(root)} (exists)")

    with Hub.from_config(root / "autohub.yaml") as hub:
        try:
            migrations.upgrade(hub.database)
        except StoreError as error:
            raise StoreError(
                f"the project files are written, but its store could not be initialised: "
                f"{error.message}. Fix the database, then run `autohub db upgrade` in {root}"
            ) from error
        stdout.print(
            f"  [green]store[/]   {hub.database.display_url} at revision {migrations.HEAD}"
        )
        registry = hub.registry
        new = hub.record_definitions()
        hub.events.record(
            "project_initialised",
            hub.project,
            "success",
            detected_from="autohub init",
            evidence={
                "root": str(root),
                "files_created": [str(p.relative_to(root)) for p in result.created],
                "automations": [d.name for d in registry],
            },
        )
        stdout.print(f"  [green]loaded[/]  {len(registry)} automations, {len(new)} new versions:")
        for definition in registry:
            automation = definition.automation
            stdout.print(
                f"    {definition.name:<16} {definition.version[:12]}  "
                f"{len(automation.steps)} steps  [dim]{escape(automation.description)}[/]"
            )
    stdout.print(
        "next: [bold]autohub validate[/], [bold]autohub show deploy-service[/], "
        "[bold]autohub events[/]"
    )
