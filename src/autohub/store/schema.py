"""The tables, as SQLAlchemy Core metadata (migrations create them; this mirrors the head)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

metadata = sa.MetaData()


class JSONDocument(sa.TypeDecorator[Any]):
    """JSON; JSONB on PostgreSQL, whose SQLAlchemy dialect is imported only there."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


JSONValue = JSONDocument()
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utc_time(moment: datetime) -> datetime:
    """A datetime read from either database as an aware UTC one (SQLite's are naive UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on both databases (SQLite keeps naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: give a timezone-aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return utc_time(value)
        raise TypeError(f"unexpected datetime value {value!r}")


automation_events = sa.Table(
    "automation_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uid", sa.String(32), nullable=False),
    sa.Column("event_type", sa.String(128), nullable=False),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("evidence", JSONValue, nullable=False),
    sa.Column("detected_from", sa.String(256)),
    sa.Column("metadata", JSONValue, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime()),
    sa.Column("run_id", sa.String(64)),
    sa.Column("correlation_id", sa.String(64)),
    sa.Column("parent_id", sa.BigInteger),
    sa.UniqueConstraint("uid", name="uq_automation_events_uid"),
    sa.Index(
        "ix_automation_events_project_type_created",
        "project_id",
        "event_type",
        sa.text("created_at DESC"),
    ),
    sa.Index(
        "ix_automation_events_project_created",
        "project_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
    ),
    sa.Index("ix_automation_events_type_created", "event_type", sa.text("created_at DESC")),
    sa.Index("ix_automation_events_status_created", "status", sa.text("created_at DESC")),
    sa.Index("ix_automation_events_created", sa.text("created_at DESC"), sa.text("id DESC")),
    sa.Index(
        "ix_automation_events_run_created",
        "run_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
    ),
    sa.Index(  # most events have no correlation id: they are left out
        "ix_automation_events_correlation_created",
        "correlation_id",
        sa.text("created_at DESC"),
        sa.text("id DESC"),
        # The same predicate on PostgreSQL (migration 0007 creates both). It is not
        # spelled ``postgresql_where`` here: naming that option makes SQLAlchemy import
        # its whole PostgreSQL dialect (19 modules, 2.7 MB of memory) into every process,
        # SQLite ones included, to check the option's name.
        sqlite_where=sa.text("correlation_id IS NOT NULL"),
    ),
    sa.Index(  # correlating by an event id finds its children; few events have a parent
        "ix_automation_events_parent",
        "parent_id",
        sqlite_where=sa.text("parent_id IS NOT NULL"),  # and on PostgreSQL: see above
    ),
)

definitions = sa.Table(
    "definitions",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("source", sa.String(1024), nullable=False),
    sa.Column("content", JSONValue, nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Index("ix_definitions_name_last_seen", "name", sa.text("last_seen_at DESC")),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("automation", sa.String(200), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("params", JSONValue, nullable=False),
    sa.Column("trigger", sa.String(64), nullable=False),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("max_parallel", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Column("deadline_at", UTCDateTime()),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime()),
    sa.Column("cancel_requested_at", UTCDateTime()),
    sa.UniqueConstraint("automation", "idempotency_key", name="uq_runs_idempotency"),
    sa.Index("ix_runs_state", "state"),
    sa.Index("ix_runs_automation_created", "automation", sa.text("created_at DESC")),
    sa.Index("ix_runs_project_created", "project_id", sa.text("created_at DESC")),
)

run_steps = sa.Table(
    "run_steps",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("step_id", sa.String(100), primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime()),
    sa.Column("output", JSONValue),
    sa.Column("error", sa.Text),
    sa.Column("method", sa.String(100)),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("owner", sa.String(64)),
    sa.Column("lease_expires_at", UTCDateTime()),
    sa.Column("started_at", UTCDateTime()),
    sa.Column("finished_at", UTCDateTime()),
    sa.Index("ix_run_steps_idempotency", "idempotency_key"),
)

step_attempts = sa.Table(
    "step_attempts",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("step_id", sa.String(100), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("method", sa.String(100), nullable=False),
    sa.Column("tier", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("finished_at", UTCDateTime(), nullable=False),
    sa.Column("duration_seconds", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("output_snippet", sa.Text),
    sa.Index("ix_step_attempts_run_step", "run_id", "step_id", "number"),
)

breakers = sa.Table(
    "breakers",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("probes_in_flight", sa.Integer, nullable=False),
    sa.Column("opened_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

lock_tokens = sa.Table(
    "lock_tokens",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("last_token", sa.BigInteger, nullable=False),
)

lock_leases = sa.Table(
    "lock_leases",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("holder", sa.String(200), primary_key=True),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

lock_waiters = sa.Table(
    "lock_waiters",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("enqueued_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("key", "holder", name="uq_lock_waiters_key_holder"),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200)),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("projects", JSONValue, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime()),
    sa.Column("revoked_at", UTCDateTime()),
    sa.UniqueConstraint("secret_sha256", name="uq_api_tokens_secret_sha256"),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("automation", sa.String(200), primary_key=True),
    sa.Column("trigger_key", sa.String(64), primary_key=True),
    sa.Column("project_id", sa.String(200), nullable=False),
    sa.Column("schedule", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("next_fire_at", UTCDateTime(), nullable=False),
    sa.Column("last_fire_at", UTCDateTime()),
    sa.Column("last_run_id", sa.String(32)),
    sa.Column("leased_by", sa.String(200)),
    sa.Column("lease_expires_at", UTCDateTime()),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

event_cursors = sa.Table(
    "event_cursors",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

todos = sa.Table(
    "todos",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("project_id", sa.String(128), nullable=False),
    sa.Column("title", sa.String(500), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("session_id", sa.String(128)),
    sa.Column("detection", JSONValue),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("completed_at", UTCDateTime()),
    sa.UniqueConstraint("project_id", "session_id", "title", name="uq_todos_session_title"),
    sa.Index("ix_todos_project_status", "project_id", "status"),
)
