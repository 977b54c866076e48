"""Schema migrations on both databases: up, down, up again, and the revision check."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from store_helpers import event_fields

from autohub.errors import MigrationRequired
from autohub.store import migrations
from autohub.store.database import Database
from autohub.store.events import EventStore
from autohub.store.schema import metadata

TABLES = {
    "automation_events",
    "definitions",
    "runs",
    "run_steps",
    "step_attempts",
    "breakers",
    "lock_tokens",
    "lock_leases",
    "lock_waiters",
    "api_tokens",
    "schedules",
    "todos",
    "event_cursors",
}
EVENT_INDEXES = {
    "ix_automation_events_project_type_created",
    "ix_automation_events_project_created",
    "ix_automation_events_type_created",
    "ix_automation_events_status_created",
    "ix_automation_events_created",
    "ix_automation_events_run_created",
    "ix_automation_events_correlation_created",
    "ix_automation_events_parent",
}


def table_names(database: Database) -> set[str]:
    with database.connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def index_names(database: Database, table: str) -> set[str]:
    with database.connect() as connection:
        return {index["name"] or "" for index in sa.inspect(connection).get_indexes(table)}


def unique_constraints(database: Database, table: str) -> set[str]:
    with database.connect() as connection:
        inspector = sa.inspect(connection)
        return {c["name"] or "" for c in inspector.get_unique_constraints(table)}


def set_revision(database: Database, revision: str) -> None:
    with database.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_head_matches_the_migration_scripts() -> None:
    assert migrations.script_heads() == [migrations.HEAD]


def test_an_empty_database_has_no_revision(empty_database: Database) -> None:
    assert migrations.current_revision(empty_database) is None
    assert table_names(empty_database) == set()


def test_upgrade_from_empty_creates_the_tables_and_indexes(empty_database: Database) -> None:
    migrations.upgrade(empty_database)

    assert table_names(empty_database) == {*TABLES, "alembic_version"}
    assert index_names(empty_database, "automation_events") >= EVENT_INDEXES
    assert "uq_automation_events_uid" in unique_constraints(empty_database, "automation_events")
    assert "ix_definitions_name_last_seen" in index_names(empty_database, "definitions")
    assert "uq_api_tokens_secret_sha256" in unique_constraints(empty_database, "api_tokens")
    assert "uq_todos_session_title" in unique_constraints(empty_database, "todos")
    assert migrations.current_revision(empty_database) == migrations.HEAD
    migrations.require_current(empty_database)


def test_the_migrated_schema_matches_schema_py(database: Database) -> None:
    with database.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, metadata)

    # SQLite reflects ``created_at DESC`` index columns without the order, so Alembic
    # proposes dropping and re-adding the same index; those names are checked above.
    removed = {d[1].name for d in differences if isinstance(d, tuple) and d[0] == "remove_index"}
    added = {d[1].name for d in differences if isinstance(d, tuple) and d[0] == "add_index"}
    reordered = removed & added if database.dialect == "sqlite" else set()
    real = [
        d
        for d in differences
        if not (
            isinstance(d, tuple)
            and d[0] in {"remove_index", "add_index"}
            and d[1].name in reordered
        )
    ]
    assert real == []


def test_upgrading_an_up_to_date_database_changes_nothing(database: Database) -> None:
    store = EventStore(database)
    event = store.add(event_fields())

    migrations.upgrade(database)

    assert migrations.current_revision(database) == migrations.HEAD
    assert store.get(event.id or 0) == event


def test_downgrade_to_base_removes_everything_and_upgrade_works_again(
    database: Database,
) -> None:
    EventStore(database).add(event_fields())

    migrations.downgrade(database, "base")

    assert table_names(database) - {"alembic_version"} == set()
    assert migrations.current_revision(database) is None
    with pytest.raises(MigrationRequired):
        migrations.require_current(database)

    migrations.upgrade(database)

    assert table_names(database) >= TABLES
    assert index_names(database, "automation_events") >= EVENT_INDEXES
    assert migrations.current_revision(database) == migrations.HEAD
    store = EventStore(database)
    assert store.last_id() == 0
    assert store.add(event_fields()).id is not None


def test_require_current_on_an_empty_database_asks_for_an_upgrade(
    empty_database: Database,
) -> None:
    with pytest.raises(MigrationRequired) as caught:
        migrations.require_current(empty_database)

    message = str(caught.value)
    assert "not initialised" in message
    assert "autohub db upgrade" in message


def test_require_current_on_an_older_revision_asks_for_an_upgrade(database: Database) -> None:
    migrations.downgrade(database, "0001")

    with pytest.raises(MigrationRequired) as caught:
        migrations.require_current(database)

    message = str(caught.value)
    assert "at revision 0001" in message
    assert f"needs {migrations.HEAD}" in message
    assert "autohub db upgrade" in message


def test_require_current_on_an_unknown_newer_revision_says_so(database: Database) -> None:
    set_revision(database, "9999")

    with pytest.raises(MigrationRequired) as caught:
        migrations.require_current(database)

    message = str(caught.value)
    assert "9999" in message
    assert "newer autohub" in message
    assert "autohub db upgrade" not in message


def test_require_current_messages_hide_the_password(empty_database: Database) -> None:
    with pytest.raises(MigrationRequired) as caught:
        migrations.require_current(empty_database)

    assert empty_database.display_url in str(caught.value)
    password = sa.make_url(empty_database.url).password
    if password:
        assert str(password) not in str(caught.value)


def test_require_current_passes_at_head(database: Database) -> None:
    migrations.require_current(database)
    assert migrations.current_revision(database) == migrations.HEAD


def test_upgrading_from_0001_keeps_the_events_already_recorded(
    empty_database: Database,
) -> None:
    from autohub.store.events import EventStore

    migrations.upgrade(empty_database, "0001")
    store = EventStore(empty_database)
    first = store.record("before_upgrade", "acme", "success", evidence={"kept": True})

    migrations.upgrade(empty_database)

    assert migrations.current_revision(empty_database) == migrations.HEAD
    assert store.get(first.id or 0).evidence == {"kept": True}
    assert {"runs", "run_steps", "step_attempts", "api_tokens"} <= table_names(empty_database)
    migrations.downgrade(empty_database, "0001")
    assert store.get(first.id or 0).evidence == {"kept": True}
    assert "runs" not in table_names(empty_database)


def _index_definition(database: Database, name: str) -> str:
    query = (
        "SELECT sql FROM sqlite_master WHERE name = :name"
        if database.dialect == "sqlite"
        else "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
    )
    with database.connect() as connection:
        return str(connection.execute(sa.text(query), {"name": name}).scalar())


def _plan(database: Database, statement: sa.Select[Any]) -> str:
    compiled = statement.compile(
        dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}
    )
    explain = "EXPLAIN QUERY PLAN " if database.dialect == "sqlite" else "EXPLAIN "
    with database.connect() as connection:
        if database.dialect == "postgresql":  # a small table: make the planner show its index
            connection.execute(sa.text("SET enable_seqscan = off"))
        rows = connection.execute(sa.text(explain + str(compiled))).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_the_correlation_index_holds_only_correlated_events_and_serves_their_queries(
    database: Database,
) -> None:
    from autohub.store.schema import automation_events as events

    name = "ix_automation_events_correlation_created"
    definition = _index_definition(database, name)
    by_correlation = (
        sa.select(events.c.id)
        .where(events.c.correlation_id == "deploy-42")
        .order_by(events.c.created_at.desc(), events.c.id.desc())
        .limit(50)
    )

    assert "correlation_id IS NOT NULL" in definition.replace("(", "").replace(")", "")
    assert name in _plan(database, by_correlation)

    migrations.downgrade(database, "0006")
    assert "NOT NULL" not in _index_definition(database, name)
    migrations.upgrade(database)
    assert "NOT NULL" in _index_definition(database, name)


def test_correlating_by_an_event_id_reads_the_parent_index_not_the_table(
    database: Database,
) -> None:
    from autohub.store.schema import automation_events as events

    name = "ix_automation_events_parent"
    by_event = (
        sa.select(events.c.id)
        .where(sa.or_(events.c.id == 42, events.c.parent_id == 42))
        .order_by(events.c.created_at, events.c.id)
        .limit(50)
    )

    assert "parent_id IS NOT NULL" in _index_definition(database, name).replace("(", "").replace(
        ")", ""
    )
    plan = _plan(database, by_event)
    assert name in plan
    assert "SCAN automation_events" not in plan  # SQLite's whole-table read
    assert "Seq Scan" not in plan  # PostgreSQL's

    migrations.downgrade(database, "0007")
    assert name not in index_names(database, "automation_events")
    migrations.upgrade(database)
    assert name in index_names(database, "automation_events")


def test_0009_adds_event_cursors_and_its_downgrade_removes_them(database: Database) -> None:
    migrations.downgrade(database, "0008")
    assert "event_cursors" not in table_names(database)

    migrations.upgrade(database)

    assert "event_cursors" in table_names(database)
    assert migrations.current_revision(database) == migrations.HEAD
