"""Every version of every definition is kept with first-seen and last-seen (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from registry_helpers import WriteFile

from autohub.errors import NotFound
from autohub.hub import Hub
from autohub.store.database import Database
from autohub.store.definitions import DefinitionStore, SeenDefinition


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def seen(name: str, version: str) -> SeenDefinition:
    return SeenDefinition(name, version, "acme", f"{name}.yaml:1", {"name": name, "v": version})


def test_versions_keep_first_and_last_seen(database: Database) -> None:
    clock = Clock()
    store = DefinitionStore(database, clock)
    assert store.record([seen("backup", "v1"), seen("deploy", "d1")]) == ["backup", "deploy"]

    clock.now += timedelta(hours=1)
    assert store.record([seen("backup", "v1"), seen("deploy", "d1")]) == []
    clock.now += timedelta(hours=1)
    assert store.record([seen("backup", "v2")]) == ["backup"]

    history = store.history("backup")
    assert [v.version for v in history] == ["v2", "v1"]
    v2, v1 = history
    assert v1.first_seen_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert v1.last_seen_at == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert v2.first_seen_at == v2.last_seen_at == datetime(2026, 1, 1, 2, tzinfo=UTC)
    assert store.get("backup", "v1").content == {"name": "backup", "v": "v1"}
    with pytest.raises(NotFound):
        store.get("backup", "v9")


def test_hub_records_loaded_definitions_redacted(
    database_url: str, tmp_path: Path, write: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(
        "autohub.yaml",
        """
        project: acme
        automations:
          notify:
            description: posts to the hook
            steps:
              - id: post
                http: {url: "https://example.com/${HOOK_PATH}"}
        """,
    )
    monkeypatch.setenv("AUTOHUB_DATABASE_URL", database_url)
    with Hub.from_config(tmp_path / "autohub.yaml") as hub:
        from autohub.store import migrations

        migrations.upgrade(hub.database)
        assert hub.record_definitions() == ["notify"]
        assert hub.record_definitions() == []
        (version,) = hub.definitions.history("notify")
        assert version.version == hub.registry.get("notify").version
        assert version.project_id == "acme"
        assert version.source == "autohub.yaml:3"
        assert version.content["steps"][0]["http"]["url"] == "https://example.com/${HOOK_PATH}"
        with hub.database.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM definitions")).scalar()
        assert count == 1


def write_notify(write: WriteFile, word: str) -> None:
    """autohub.yaml with one automation, ``notify``, that echoes ``word``."""
    write(
        "autohub.yaml",
        f"""
        project: acme
        automations:
          notify:
            steps:
              - {{id: post, shell: [echo, {word}]}}
        """,
    )


def test_a_version_already_stored_is_not_encoded_again(
    database_url: str, tmp_path: Path, write: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_notify(write, "hi")
    monkeypatch.setenv("AUTOHUB_DATABASE_URL", database_url)
    with Hub.from_config(tmp_path / "autohub.yaml") as first:
        from autohub.store import migrations

        migrations.upgrade(first.database)
        assert first.record_definitions() == ["notify"]
        (stored,) = first.definitions.history("notify")

    encoded: list[str] = []
    original = Hub._stored_content

    def counting(self: Hub, name: str, canonical: Any) -> object:
        encoded.append(name)
        return original(self, name, canonical)

    monkeypatch.setattr(Hub, "_stored_content", counting)
    with Hub.from_config(tmp_path / "autohub.yaml") as later:  # another process, same version
        assert later.record_definitions() == []
        (again,) = later.definitions.history("notify")
    assert encoded == []  # the stored version was only seen again
    assert again.last_seen_at > stored.last_seen_at
    assert again.content == stored.content

    write_notify(write, "changed")
    with Hub.from_config(tmp_path / "autohub.yaml") as changed:
        assert changed.record_definitions() == ["notify"]
    assert encoded == ["notify"]  # only the new version's content was encoded
