"""``autohub db``: the store's schema is created and changed only when asked."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url

from autohub.scaffold import scaffold
from autohub.store.migrations import HEAD

EVENT_TABLES = {"automation_events", "definitions"}


@pytest.fixture
def fresh(cli, tmp_path, database_url):
    """A project that was never initialised: autohub.yaml, and an empty database."""
    root = tmp_path / "fresh"
    root.mkdir()
    scaffold(root, "fresh")
    cli.cwd = root
    cli.env["AUTOHUB_DATABASE_URL"] = database_url
    return database_url


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, f"one line expected:\n{stderr}"
    assert lines[0].startswith("error: ")
    return lines[0]


def test_events_on_a_never_upgraded_store_asks_for_db_upgrade(cli, fresh, tables, tmp_path):
    _code, stdout, stderr = cli("events", check=2)

    assert "run `autohub db upgrade`" in _one_line_error(stderr)
    assert stdout == ""
    assert tables(fresh) == set(), "nothing created silently"
    if fresh.startswith("sqlite"):
        assert not (tmp_path / "autohub.db").exists(), "not even an empty SQLite file"

    stdout = cli("db", "current", check=1).stdout
    assert "does not exist" in stdout if fresh.startswith("sqlite") else "revision none" in stdout
    assert tables(fresh) == set()


def test_db_upgrade_current_downgrade_base_and_upgrade_again(cli, fresh, tables):
    stdout = cli("db", "upgrade", check=0).stdout
    assert stdout.strip().endswith(f": upgraded empty -> {HEAD}")
    assert tables(fresh) >= EVENT_TABLES | {"alembic_version"}
    if fresh.startswith("postgresql"):  # the URL is shown with its password hidden
        password = make_url(fresh).password
        assert ":***@" in stdout
        assert password not in stdout
        assert fresh.split("@")[0].split(":")[-1] not in stdout, "nor its percent-encoding"

    stdout = cli("db", "current", check=0).stdout
    assert stdout.strip().endswith(f": revision {HEAD} (current)")

    stdout = cli("db", "downgrade", "base", check=0).stdout
    assert stdout.strip().endswith(f": downgraded {HEAD} -> base")
    assert not tables(fresh) & EVENT_TABLES

    _code, stdout, stderr = cli("events", check=2)
    assert "is not initialised: run `autohub db upgrade`" in _one_line_error(stderr)

    stdout = cli("db", "upgrade", check=0).stdout
    assert stdout.strip().endswith(f": upgraded empty -> {HEAD}")
    assert json.loads(cli("events", "--json", check=0).stdout) == {
        "events": [],
        "next_cursor": None,
    }

    _code, stdout, stderr = cli("db", "downgrade", "0099", check=2)
    assert _one_line_error(stderr).startswith("error: cannot downgrade to '0099'")
