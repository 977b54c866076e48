"""Schedules: the next firing of each cron trigger, claimed with a lease.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Moment = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("automation", sa.String(200), primary_key=True),
        sa.Column("trigger_key", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(200), nullable=False),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("next_fire_at", Moment, nullable=False),
        sa.Column("last_fire_at", Moment),
        sa.Column("last_run_id", sa.String(32)),
        sa.Column("leased_by", sa.String(200)),
        sa.Column("lease_expires_at", Moment),
        sa.Column("updated_at", Moment, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("schedules")
