"""``autohub db``: the schema revision of the store, upgraded only when asked."""

from __future__ import annotations

from typing import Annotated

import typer

from autohub.cli.context import missing_sqlite_file, open_hub
from autohub.cli.output import stdout

app = typer.Typer(help="Manage the database schema (explicit upgrades only).", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the database schema (creates it when the database is empty)."""
    from autohub.store import migrations

    with open_hub(ctx) as hub:
        before = migrations.current_revision(hub.database)
        migrations.upgrade(hub.database, revision)
        after = migrations.current_revision(hub.database)
        if before == after:
            stdout.print(f"{hub.database.display_url}: already at revision {after}")
        else:
            stdout.print(f"{hub.database.display_url}: upgraded {before or 'empty'} -> {after}")


@app.command("downgrade")
def downgrade_command(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. 0001, -1 or base.")],
) -> None:
    """Downgrade the database schema to REVISION ('base' drops every table)."""
    from autohub.store import migrations

    with open_hub(ctx) as hub:
        before = migrations.current_revision(hub.database)
        migrations.downgrade(hub.database, revision)
        after = migrations.current_revision(hub.database)
        stdout.print(f"{hub.database.display_url}: downgraded {before} -> {after or 'base'}")


@app.command("current")
def current_command(ctx: typer.Context) -> None:
    """Show the database's revision and whether it is current."""
    from autohub.store import migrations

    with open_hub(ctx) as hub:
        missing = missing_sqlite_file(hub.config.database_url)
        if missing is not None:  # reading the revision would create the file
            stdout.print(f"{missing}: does not exist (run `autohub db upgrade` to create it)")
            raise typer.Exit(1)
        revision = migrations.current_revision(hub.database)
        state = "current" if revision == migrations.HEAD else f"needs upgrade to {migrations.HEAD}"
        stdout.print(f"{hub.database.display_url}: revision {revision or 'none'} ({state})")
        if revision != migrations.HEAD:
            raise typer.Exit(1)
