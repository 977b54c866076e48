"""A project on disk for component tests: autohub.yaml, an optional secrets file, a Hub;
and the stored events of some types."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from autohub.hub import Hub
from autohub.store.events import Event, EventFilter, EventStore


def open_project(
    root: Path,
    database_url: str,
    project: str,
    config: str = "",
    *,
    secrets: Mapping[str, str] | None = None,
) -> Hub:
    """A Hub on ``project`` in ``root`` (autohub.yaml: ``config`` added; ``secrets`` in a
    0600 secrets file), on ``database_url`` (already migrated)."""
    head = f"project: {project}\nmodules: []\n"
    if secrets is not None:
        path = root / "secrets.env"
        path.write_text("".join(f"{name}={value}\n" for name, value in secrets.items()))
        path.chmod(0o600)
        head += "secrets_file: secrets.env\n"
    body = textwrap.dedent(config).strip()
    (root / "autohub.yaml").write_text(f"{head}{body}\n")
    hub = Hub.from_config(root / "autohub.yaml")
    hub.config.settings.database_url = database_url
    return hub


def events_of(events: EventStore, *event_types: str) -> list[Event]:
    """The stored events of these types, oldest first."""
    page = events.query(EventFilter(event_types=event_types), limit=1000)
    return list(reversed(page.events))
