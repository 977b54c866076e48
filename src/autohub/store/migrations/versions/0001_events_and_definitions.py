"""The event store (automation_events) and the definitions history.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONValue = sa.JSON().with_variant(JSONB(), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "automation_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(128), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("evidence", JSONValue, nullable=False),
        sa.Column("detected_from", sa.String(256)),
        sa.Column("metadata", JSONValue, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("run_id", sa.String(64)),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("parent_id", sa.BigInteger),
        sa.UniqueConstraint("uid", name="uq_automation_events_uid"),
    )
    op.create_index(
        "ix_automation_events_project_type_created",
        "automation_events",
        ["project_id", "event_type", sa.text("created_at DESC")],
    )
    op.create_index(
        "ix_automation_events_project_created",
        "automation_events",
        ["project_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "ix_automation_events_type_created",
        "automation_events",
        ["event_type", sa.text("created_at DESC")],
    )
    op.create_index(
        "ix_automation_events_status_created",
        "automation_events",
        ["status", sa.text("created_at DESC")],
    )
    op.create_index(
        "ix_automation_events_created",
        "automation_events",
        [sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index("ix_automation_events_run", "automation_events", ["run_id"])
    op.create_index("ix_automation_events_correlation", "automation_events", ["correlation_id"])

    op.create_table(
        "definitions",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("content", JSONValue, nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_definitions_name_last_seen", "definitions", ["name", sa.text("last_seen_at DESC")]
    )


def downgrade() -> None:
    op.drop_index("ix_definitions_name_last_seen", table_name="definitions")
    op.drop_table("definitions")
    for name in (
        "ix_automation_events_correlation",
        "ix_automation_events_run",
        "ix_automation_events_created",
        "ix_automation_events_status_created",
        "ix_automation_events_type_created",
        "ix_automation_events_project_created",
        "ix_automation_events_project_type_created",
    ):
        op.drop_index(name, table_name="automation_events")
    op.drop_table("automation_events")
