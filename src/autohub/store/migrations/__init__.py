"""Schema migrations: one Alembic history for SQLite and PostgreSQL.

A database is never upgraded silently: commands that use the store check the
revision and ask for ``autohub db upgrade`` when it is behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from autohub.errors import InvalidInput, MigrationRequired
from autohub.store.schema_head import SCHEMA_HEAD

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

    from autohub.store.database import Database

HEAD = SCHEMA_HEAD
"""The newest revision; a test checks it matches the scripts."""

_SCRIPTS = Path(__file__).parent


def current_revision(database: Database) -> str | None:
    """The database's revision, or None for an empty database."""
    try:
        with database.connect() as connection:
            if not sa.inspect(connection).has_table("alembic_version"):
                return None
            return connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        raise database.translate(exc, "read the schema revision") from exc


def require_current(database: Database) -> None:
    """Raise MigrationRequired unless the database is at HEAD."""
    revision = current_revision(database)
    if revision == HEAD:
        return
    if revision is None:
        raise MigrationRequired(
            f"database {database.display_url} is not initialised: run `autohub db upgrade`"
        )
    if revision in _known_revisions():
        raise MigrationRequired(
            f"database {database.display_url} is at revision {revision}, this autohub needs "
            f"{HEAD}: run `autohub db upgrade` (back it up first)"
        )
    raise MigrationRequired(
        f"database {database.display_url} is at revision {revision}, which this autohub does "
        f"not know (it needs {HEAD}); it was written by a newer autohub"
    )


def upgrade(database: Database, revision: str = "head") -> None:
    """Upgrade to ``revision`` (default: the newest)."""
    _migrate(database, "upgrade", revision)


def downgrade(database: Database, revision: str) -> None:
    """Downgrade to ``revision`` (``base`` drops every table)."""
    _migrate(database, "downgrade", revision)


def _migrate(database: Database, direction: str, revision: str) -> None:
    from alembic import command
    from alembic.util import CommandError

    step = command.upgrade if direction == "upgrade" else command.downgrade
    try:
        with database.begin() as connection:
            step(_alembic_config(connection), revision)
    except CommandError as exc:
        raise InvalidInput(f"cannot {direction} to {revision!r}: {exc}") from exc
    except SQLAlchemyError as exc:
        raise database.translate(exc, f"{direction} the schema") from exc


def script_heads() -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(_alembic_config(None)).get_heads())


def _known_revisions() -> set[str]:
    return {path.stem.split("_", 1)[0] for path in (_SCRIPTS / "versions").glob("[0-9]*.py")}


def _alembic_config(connection: sa.Connection | None) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    return config
