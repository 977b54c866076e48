"""The Hub: one project's configuration, store and registry, opened together.

The library face of autohub (the CLI is a thin layer over it)::

    with Hub.from_config("autohub.yaml") as hub:
        hub.events.record("deploy_finished", hub.project, "success", evidence={...})
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from autohub.config import Config, load_config

if TYPE_CHECKING:
    from autohub.registry.loader import Registry
    from autohub.store.database import Database
    from autohub.store.definitions import DefinitionStore
    from autohub.store.events import EventStore


class Hub:
    """Configuration, database, events, definitions and registry of one project."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @classmethod
    def from_config(
        cls, path: str | Path | None = None, *, cwd: Path | None = None, strict: bool = True
    ) -> Hub:
        """Open the project of ``path`` (default: autohub.yaml found from ``cwd`` upwards)."""
        return cls(load_config(Path(path) if path is not None else None, cwd=cwd, strict=strict))

    @property
    def project(self) -> str:
        return self.config.project

    @cached_property
    def database(self) -> Database:
        from autohub.store.database import Database

        return Database.create(self.config.database_url)

    def require_schema(self) -> None:
        """Raise MigrationRequired unless the database schema is current."""
        from autohub.store import migrations

        migrations.require_current(self.database)

    @cached_property
    def events(self) -> EventStore:
        from autohub.store.events import EventLimits, EventStore
        from autohub.store.spool import EventSpool

        settings = self.config.file.events
        return EventStore(
            self.database,
            self.config.redactor(),
            spool=EventSpool(self.config.spool_dir),
            limits=EventLimits(settings.evidence_max_bytes, settings.string_max_chars),
        )

    @cached_property
    def definitions(self) -> DefinitionStore:
        from autohub.store.definitions import DefinitionStore

        return DefinitionStore(self.database)

    @cached_property
    def registry(self) -> Registry:
        from autohub.registry.loader import load_registry

        return load_registry(self.config)

    def record_definitions(self) -> list[str]:
        """Record the version of every loaded definition; returns the names whose version is new."""
        from autohub.store.definitions import SeenDefinition

        redactor = self.config.redactor()
        seen = [
            SeenDefinition(
                name=definition.name,
                version=definition.version,
                project_id=definition.automation.project or self.project,
                source=definition.source,
                content=redactor.value(definition.automation.content()),
            )
            for definition in self.registry
        ]
        return self.definitions.record(seen)

    def close(self) -> None:
        if "database" in self.__dict__:
            self.database.dispose()

    def __enter__(self) -> Hub:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
